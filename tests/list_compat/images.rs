//! Image files built with `sfdisk`, `sgdisk`, `parted` and by hand, with their recipe.

use std::ffi::OsString;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::{Tools, show_args};

/// An image file and how it was made.
pub struct Img<'a> {
    pub tools: &'a Tools,
    pub path: PathBuf,
    pub recipe: Vec<String>,
}

/// One comparison of the catalogue.
pub struct Case {
    pub name: String,
    pub recipe: Vec<String>,
    pub args: Vec<OsString>,
    /// Why the outputs may differ (a documented, deliberate difference).
    pub known: Option<&'static str>,
}

pub fn tool(cmd: &Path, args: &[OsString], stdin: Option<&str>) {
    let mut child = Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cmd.display()));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes()).expect("write tool stdin");
    }
    let out = child.wait_with_output().expect("wait for tool");
    assert!(
        out.status.success(),
        "{} {} failed: {}\n{}",
        cmd.display(),
        show_args(args),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

impl<'a> Img<'a> {
    pub fn new(tools: &'a Tools, dir: &Path, name: &str, size: u64) -> Img<'a> {
        let path = dir.join(name);
        File::create(&path)
            .and_then(|f| f.set_len(size))
            .expect("create image");
        Img {
            tools,
            path,
            recipe: vec![format!("truncate -s {size} IMG")],
        }
    }

    pub fn args(&self, args: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = args.iter().map(OsString::from).collect();
        v.push(self.path.clone().into());
        v
    }

    pub fn sfdisk(&mut self, script: &str) -> &mut Self {
        tool(&self.tools.sfdisk, &self.args(&["-q"]), Some(script));
        self.recipe
            .push(format!("sfdisk -q IMG <<'EOF'\n{}EOF", script));
        self
    }

    pub fn sgdisk(&mut self, args: &[&str]) -> &mut Self {
        tool(&self.tools.sgdisk, &self.args(args), None);
        self.recipe.push(format!("sgdisk {} IMG", args.join(" ")));
        self
    }

    pub fn parted(&mut self, args: &[&str]) -> &mut Self {
        let mut full = vec![OsString::from("-s"), self.path.clone().into()];
        full.extend(args.iter().map(OsString::from));
        tool(&self.tools.parted, &full, None);
        self.recipe
            .push(format!("parted -s IMG {}", args.join(" ")));
        self
    }

    pub fn write(&mut self, offset: u64, bytes: &[u8], what: &str) -> &mut Self {
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .expect("open image");
        f.write_all_at(bytes, offset).expect("write image");
        self.recipe
            .push(format!("write {} bytes at {offset}: {what}", bytes.len()));
        self
    }

    pub fn resize(&mut self, size: u64) -> &mut Self {
        fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .and_then(|f| f.set_len(size))
            .expect("resize image");
        self.recipe.push(format!("truncate -s {size} IMG"));
        self
    }

    pub fn size(&self) -> u64 {
        fs::metadata(&self.path).expect("stat image").len()
    }

    pub fn case(&self, name: &str, opts: &[&str]) -> Case {
        let mut args: Vec<OsString> = opts.iter().map(OsString::from).collect();
        args.push(self.path.clone().into());
        Case {
            name: name.into(),
            recipe: self.recipe.clone(),
            args,
            known: None,
        }
    }
}
