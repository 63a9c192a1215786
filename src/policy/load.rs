//! Reading policy files: listing, ownership, mode and size checks, parsing, error positions.
//!
//! Loading is linear in the size of the files: error and rule positions come from a
//! [`LineIndex`] built once per file, and the limits ([`MAX_FILE_BYTES`], [`MAX_TOTAL_BYTES`],
//! [`MAX_RULES`]) bound the memory and time the udev helper spends on every event.

use std::ffi::OsString;
use std::fs;
use std::io::{ErrorKind, Read as _};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::compile::compile;
use super::error::{LineIndex, PolicyError, parse_toml};
use super::model::FileModel;
use super::{DROP_IN_DIR, MAIN_FILE, MAX_FILE_BYTES, MAX_RULES, MAX_TOTAL_BYTES, Policy};

/// Parses `text` (the contents of `path`) and layers it onto `policy`. A file that would take
/// the policy past [`MAX_RULES`] rules from files is reported at its first rule over the limit
/// and adds nothing.
pub(crate) fn add_text(
    policy: &mut Policy,
    path: &Path,
    text: &str,
    errors: &mut Vec<PolicyError>,
) {
    let lines = LineIndex::new(text);
    let model = match parse_toml::<FileModel>(path, &lines, text) {
        Ok(model) => model,
        Err(e) => {
            errors.push(e);
            return;
        }
    };
    let room = MAX_RULES.saturating_sub(policy.file_rules);
    if let Some(first_over) = model.device.get(room) {
        let msg =
            format!("too many [[device]] rules: policy files may hold at most {MAX_RULES} in all");
        errors.push(PolicyError::at(path, &lines, first_over.span().start, msg));
        return;
    }
    let (defaults, rules) = compile(model, path, &lines, errors);
    policy.file_rules += rules.len();
    policy.defaults.extend(defaults);
    policy.rules.extend(rules);
    policy.files.push(path.to_path_buf());
}

/// [`Policy::from_text`].
pub(crate) fn from_text(path: &Path, text: &str) -> Result<Policy, Vec<PolicyError>> {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(vec![too_large(path, Some(text.len() as u64))]);
    }
    let mut policy = Policy::builtin();
    let mut errors = Vec::new();
    add_text(&mut policy, path, text, &mut errors);
    if errors.is_empty() {
        Ok(policy)
    } else {
        Err(errors)
    }
}

/// Reads policy files, trusting only files and directories owned by `trusted_uid`.
pub(crate) struct Loader {
    pub trusted_uid: u32,
}

impl Loader {
    /// The real loader: only root may own policy.
    pub const ROOT: Loader = Loader { trusted_uid: 0 };

    /// Built-in policy plus `paths`; `missing_ok` skips files that do not exist.
    pub fn load<P: AsRef<Path>>(
        &self,
        paths: &[P],
        missing_ok: bool,
    ) -> Result<Policy, Vec<PolicyError>> {
        let mut policy = Policy::builtin();
        let errors = self.read_all(paths, missing_ok, "policy files", |path, text, errors| {
            add_text(&mut policy, path, text, errors)
        });
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(errors)
        }
    }

    /// Reads each of `paths` ([`Loader::read`]'s checks, and at most [`MAX_TOTAL_BYTES`] for
    /// all of them: `what` names them in that message) and hands its text to `add`; returns
    /// every error, of reading and of `add`. `missing_ok` skips files that do not exist.
    pub fn read_all<P: AsRef<Path>>(
        &self,
        paths: &[P],
        missing_ok: bool,
        what: &str,
        mut add: impl FnMut(&Path, &str, &mut Vec<PolicyError>),
    ) -> Vec<PolicyError> {
        let mut errors = Vec::new();
        let mut total: u64 = 0;
        for path in paths.iter().map(AsRef::as_ref) {
            let text = match self.read(path) {
                Ok(Some(text)) => text,
                Ok(None) if missing_ok => continue,
                Ok(None) => {
                    errors.push(PolicyError::whole(path, "no such file"));
                    continue;
                }
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            total = total.saturating_add(text.len() as u64);
            if total > MAX_TOTAL_BYTES {
                let msg = format!(
                    "{what} may hold at most {MAX_TOTAL_BYTES} bytes in all \
                     (each at most {MAX_FILE_BYTES}); this one takes them to {total}"
                );
                errors.push(PolicyError::whole(path, msg));
                continue;
            }
            add(path, &text, &mut errors);
        }
        errors
    }

    /// Built-in policy plus the files of `dir`.
    pub fn load_dir(&self, dir: &Path) -> Result<Policy, Vec<PolicyError>> {
        self.load(&self.files_in_dir(dir)?, true)
    }

    /// [`Loader::load_dir`], or the built-in policy and the reasons.
    pub fn load_dir_or_builtin(&self, dir: &Path) -> (Policy, Vec<PolicyError>) {
        match self.load_dir(dir) {
            Ok(policy) => (policy, Vec::new()),
            Err(errors) => (Policy::builtin(), errors),
        }
    }

    /// `DIR/kpartx.toml` (if present) then `DIR/kpartx.d/*.toml` in lexical order; both
    /// directories, where they exist, must pass the ownership check.
    pub fn files_in_dir(&self, dir: &Path) -> Result<Vec<PathBuf>, Vec<PolicyError>> {
        self.files_in(dir, MAIN_FILE, DROP_IN_DIR)
    }

    /// `DIR/MAIN` (if present) then `DIR/DROP_IN/*.toml` in lexical order; both directories,
    /// where they exist, must pass the ownership check.
    pub fn files_in(
        &self,
        dir: &Path,
        main: &str,
        drop_in: &str,
    ) -> Result<Vec<PathBuf>, Vec<PolicyError>> {
        let drop_in = dir.join(drop_in);
        let mut errors: Vec<PolicyError> = [dir, &drop_in]
            .into_iter()
            .filter_map(|d| self.check_dir(d).err())
            .collect();
        let mut files: Vec<PathBuf> = vec![dir.join(main)];
        // A dangling symbolic link is kept, so that reading it reports it.
        files.retain(|f| f.symlink_metadata().is_ok());
        match fs::read_dir(&drop_in) {
            Ok(entries) => {
                let mut names: Vec<OsString> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name())
                    .filter(|n| {
                        let n = n.as_encoded_bytes();
                        n.ends_with(b".toml") && !n.starts_with(b".")
                    })
                    .collect();
                names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
                files.extend(names.into_iter().map(|n| drop_in.join(n)));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => errors.push(PolicyError::whole(&drop_in, format!("cannot list: {e}"))),
        }
        if errors.is_empty() {
            Ok(files)
        } else {
            Err(errors)
        }
    }

    fn check_dir(&self, dir: &Path) -> Result<(), PolicyError> {
        match fs::metadata(dir) {
            Ok(meta) => self.check_owner(dir, &meta),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PolicyError::whole(dir, format!("cannot examine: {e}"))),
        }
    }

    /// The file's text after the type, ownership and size checks; `None` when it does not
    /// exist. A dangling symbolic link is an error, not a missing file. The file is checked by
    /// name before it is opened (so that a device or FIFO is never opened) and again once open
    /// (in case it was replaced in between), and at most [`MAX_FILE_BYTES`] + 1 bytes are read
    /// (in case it grew).
    pub fn read(&self, path: &Path) -> Result<Option<String>, PolicyError> {
        let io_err = |e: std::io::Error| PolicyError::whole(path, format!("cannot read: {e}"));
        match fs::metadata(path) {
            Ok(meta) => self.check_file(path, &meta)?,
            Err(e) if e.kind() == ErrorKind::NotFound => return dangling_link(path).map(|()| None),
            Err(e) => return Err(io_err(e)),
        }
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(io_err)?;
        self.check_file(path, &file.metadata().map_err(io_err)?)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(path, None));
        }
        String::from_utf8(bytes).map(Some).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let text = std::str::from_utf8(valid).unwrap_or_default();
            PolicyError::at(
                path,
                &LineIndex::new(text),
                text.len(),
                "file is not valid UTF-8",
            )
        })
    }

    /// A policy file must be a regular file of at most [`MAX_FILE_BYTES`] that only the
    /// trusted owner can change.
    fn check_file(&self, path: &Path, meta: &fs::Metadata) -> Result<(), PolicyError> {
        if !meta.is_file() {
            return Err(PolicyError::whole(path, "not a regular file"));
        }
        self.check_owner(path, meta)?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(too_large(path, Some(meta.len())));
        }
        Ok(())
    }

    /// Policy decides what untrusted guests' partition tables may do, so only the trusted
    /// owner may be able to change it.
    fn check_owner(&self, path: &Path, meta: &fs::Metadata) -> Result<(), PolicyError> {
        if meta.uid() != self.trusted_uid {
            let msg = format!(
                "not owned by uid {} (owner is uid {})",
                self.trusted_uid,
                meta.uid()
            );
            return Err(PolicyError::whole(path, msg));
        }
        if meta.mode() & 0o022 != 0 {
            let msg = format!(
                "writable by group or others (mode {:04o})",
                meta.mode() & 0o7777
            );
            return Err(PolicyError::whole(path, msg));
        }
        Ok(())
    }
}

/// `Ok` when nothing is at `path` (a missing file); an error naming the target when `path` is
/// a symbolic link to nothing, which would otherwise make a drop-in vanish without a word.
fn dangling_link(path: &Path) -> Result<(), PolicyError> {
    match fs::read_link(path) {
        Ok(target) => Err(PolicyError::whole(
            path,
            format!(
                "dangling symbolic link: its target {} does not exist",
                target.display()
            ),
        )),
        Err(_) => Ok(()),
    }
}

/// The error for a file over [`MAX_FILE_BYTES`], with its size when known.
fn too_large(path: &Path, size: Option<u64>) -> PolicyError {
    let size = size.map_or_else(|| "more".to_string(), |s| s.to_string());
    let msg = format!(
        "file too large: {size} bytes; a policy file may hold at most {MAX_FILE_BYTES} bytes"
    );
    PolicyError::whole(path, msg)
}
