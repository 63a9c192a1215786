//! Where a policy problem is: the error type every policy stage reports, and the line index
//! that turns byte offsets into lines and columns. Shared by loading and compiling, which
//! otherwise do not know each other's internals.

use std::fmt;
use std::path::{Path, PathBuf};

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
    /// An error at byte `offset` of the text `lines` indexes, the contents of `path`.
    pub(crate) fn at(
        path: &Path,
        lines: &LineIndex<'_>,
        offset: usize,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = lines.locate(offset);
        PolicyError {
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error about the file as a whole (reported at 1:1).
    pub(crate) fn whole(path: &Path, message: impl Into<String>) -> Self {
        PolicyError {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: message.into(),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, line, column) = (self.path.display(), self.line, self.column);
        write!(f, "{path}:{line}:{column}: {}", self.message)
    }
}

impl std::error::Error for PolicyError {}

/// Where each line of a text starts, so that byte offsets become line and column without
/// rescanning the text: built once per file in one pass, then each lookup is a binary search
/// plus a scan of one line (a file with many rules or many errors stays linear to load).
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the start of every line after the first.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let starts = text
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        LineIndex { text, starts }
    }

    /// 1-based line and character column of byte `offset` (clamped to the text).
    pub fn locate(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        // Lines that start at or before `offset`, after the first.
        let later_lines = self.starts.partition_point(|&s| s <= offset);
        let line_start = later_lines.checked_sub(1).map_or(0, |i| self.starts[i]);
        let column = self.text[line_start..offset].chars().count() + 1;
        (later_lines + 1, column)
    }
}

/// Parses `text` (the contents of `path`) as TOML into `T`; a syntax or type error is located
/// through `lines`.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    lines: &LineIndex<'_>,
    text: &str,
) -> Result<T, PolicyError> {
    toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        PolicyError::at(path, lines, offset, e.message().trim_end())
    })
}
