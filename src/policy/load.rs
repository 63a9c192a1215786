//! Reading policy files: listing, ownership and mode checks, parsing, error positions.

use std::ffi::OsString;
use std::fmt;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::compile::compile;
use super::model::FileModel;
use super::{DROP_IN_DIR, MAIN_FILE, Policy};

/// A problem in a policy file, located GNU style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file (or directory) at fault.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl PolicyError {
    /// An error at byte `offset` of `text`, the contents of `path`.
    pub(crate) fn at(path: &Path, text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = line_column(text, offset);
        PolicyError {
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error about the file as a whole (reported at 1:1).
    pub(crate) fn whole(path: &Path, message: impl Into<String>) -> Self {
        PolicyError::at(path, "", 0, message)
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, line, column) = (self.path.display(), self.line, self.column);
        write!(f, "{path}:{line}:{column}: {}", self.message)
    }
}

impl std::error::Error for PolicyError {}

/// 1-based line and character column of byte `offset` (clamped to the text).
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Parses `text` (the contents of `path`) and layers it onto `policy`.
pub(crate) fn add_text(
    policy: &mut Policy,
    path: &Path,
    text: &str,
    errors: &mut Vec<PolicyError>,
) {
    match toml::from_str::<FileModel>(text) {
        Ok(model) => {
            let (defaults, rules) = compile(model, path, text, errors);
            policy.defaults.extend(defaults);
            policy.rules.extend(rules);
            policy.files.push(path.to_path_buf());
        }
        Err(e) => {
            let offset = e.span().map_or(0, |s| s.start);
            errors.push(PolicyError::at(path, text, offset, e.message().trim_end()));
        }
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
        let mut errors = Vec::new();
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
            add_text(&mut policy, path, &text, &mut errors);
        }
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(errors)
        }
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
        let drop_in = dir.join(DROP_IN_DIR);
        let mut errors: Vec<PolicyError> = [dir, &drop_in]
            .into_iter()
            .filter_map(|d| self.check_dir(d).err())
            .collect();
        let mut files: Vec<PathBuf> = vec![dir.join(MAIN_FILE)];
        files.retain(|f| f.exists());
        match std::fs::read_dir(&drop_in) {
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
        match std::fs::metadata(dir) {
            Ok(meta) => self.check_owner(dir, &meta),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PolicyError::whole(dir, format!("cannot examine: {e}"))),
        }
    }

    /// The file's text after the ownership check; `None` when it does not exist.
    fn read(&self, path: &Path) -> Result<Option<String>, PolicyError> {
        let io_err = |e: std::io::Error| PolicyError::whole(path, format!("cannot read: {e}"));
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        if !meta.is_file() {
            return Err(PolicyError::whole(path, "not a regular file"));
        }
        self.check_owner(path, &meta)?;
        let bytes = std::fs::read(path).map_err(io_err)?;
        String::from_utf8(bytes).map(Some).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let text = std::str::from_utf8(valid).unwrap_or_default();
            PolicyError::at(path, text, text.len(), "file is not valid UTF-8")
        })
    }

    /// Policy decides what untrusted guests' partition tables may do, so only the trusted
    /// owner may be able to change it.
    fn check_owner(&self, path: &Path, meta: &std::fs::Metadata) -> Result<(), PolicyError> {
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
