//! A small shell-style glob matcher for policy `match` criteria.
//!
//! `*` matches any run of characters (including `/` and the empty run), `?` exactly one
//! character, `[abc]`, `[a-z]` and `[!a-z]` (or `[^a-z]`) one character of (or not of) a set; a
//! `]` right after the opening `[` (or `[!`) and a `-` first or last in the set are literal.
//! `\` makes the next character literal. Matching is case-sensitive and whole-string.
//!
//! Matching keeps one resume point (the last `*`), so it takes at most
//! O(pattern length × text length) steps and no memory beyond the text's characters;
//! compiling is one pass over the pattern.
//!
//! Why not the `globset` crate: it cannot be told to use this syntax, which `kpartx.toml(5)`
//! documents. It always treats `{a,b}` as alternation, where the policy syntax has `{` and `}`
//! as ordinary characters, and gives `**` in `a/**/b` the recursive-directory meaning (matching
//! `a/b`), where here `**` is just two `*`. Using it would mean parsing every pattern here anyway
//! and re-escaping it into globset syntax, and would compile each pattern into a regular
//! expression (globset's `GlobMatcher`), heavier per rule than this token list.

use std::fmt;

/// A parsed glob pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyOne,
    AnyRun,
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Why a pattern is not a valid glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobError {
    /// The pattern ends with `\` and nothing to escape.
    LoneBackslash(String),
    /// A `[` set is not closed, empty, or has a backwards range.
    BadSet(String),
}

impl std::fmt::Display for GlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GlobError::LoneBackslash(p) => write!(f, "pattern {p:?} ends with a lone backslash"),
            GlobError::BadSet(p) => write!(f, "pattern {p:?} has an unclosed or bad `[`"),
        }
    }
}

impl std::error::Error for GlobError {}

impl Glob {
    /// Parses `pattern`; the error says what is wrong with it.
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::AnyRun,
                '?' => Token::AnyOne,
                '\\' => Token::Literal(
                    chars
                        .next()
                        .ok_or_else(|| GlobError::LoneBackslash(pattern.to_string()))?,
                ),
                '[' => {
                    parse_set(&mut chars).ok_or_else(|| GlobError::BadSet(pattern.to_string()))?
                }
                c => Token::Literal(c),
            });
        }
        Ok(Glob {
            text: pattern.to_string(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut t, mut p) = (0, 0);
        // Where to resume after the last `*`: (pattern index after it, text index it absorbed to).
        let mut resume: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::AnyRun) => {
                    p += 1;
                    resume = Some((p, t));
                    continue;
                }
                Some(token) if token.matches_one(text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
            match resume {
                Some((rp, rt)) => {
                    p = rp;
                    t = rt + 1;
                    resume = Some((rp, rt + 1));
                }
                None => return false,
            }
        }
        self.tokens[p..].iter().all(|tok| *tok == Token::AnyRun)
    }
}

impl Token {
    fn matches_one(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::AnyOne => true,
            Token::AnyRun => false,
            Token::Set { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// Parses a set after its `[`; `None` when it is unclosed, empty or has a reversed range.
fn parse_set(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Token> {
    let negated = matches!(chars.peek(), Some('!' | '^'));
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = match chars.next()? {
            ']' if !first => break,
            '\\' => chars.next()?,
            c => c,
        };
        first = false;
        let mut lookahead = chars.clone();
        if lookahead.next() == Some('-') && !matches!(lookahead.peek(), Some(']') | None) {
            chars.next();
            let hi = match chars.next()? {
                '\\' => chars.next()?,
                hi => hi,
            };
            if hi < c {
                return None;
            }
            ranges.push((c, hi));
        } else {
            ranges.push((c, c));
        }
    }
    Some(Token::Set { negated, ranges })
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.text)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn m(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).unwrap().matches(text)
    }

    #[test]
    fn literals_are_whole_string() {
        assert!(m("sda", "sda"));
        assert!(!m("sda", "sda1"));
        assert!(!m("sda", "sd"));
        assert!(m("", ""));
        assert!(!m("", "x"));
        assert!(!m("Sda", "sda"), "case-sensitive");
    }

    #[test]
    fn star_matches_any_run_including_slash_and_empty() {
        assert!(m("mpath-*", "mpath-"));
        assert!(m("mpath-*", "mpath-3600a0b8"));
        assert!(!m("mpath-*", "part1-mpath-3600"));
        assert!(m("/var/lib/images/*", "/var/lib/images/a/b.img"));
        assert!(m("*-guest*", "vg0-guest01"));
        assert!(m("*a*b*c", "xxaxxbxxbxc"));
        assert!(!m("*a*b*c", "xxaxxbxxbx"));
        assert!(m("**", ""));
        assert!(m("a*", "a"));
    }

    #[test]
    fn question_mark_is_exactly_one() {
        assert!(m("loop?", "loop0"));
        assert!(!m("loop?", "loop"));
        assert!(!m("loop?", "loop10"));
        assert!(m("loop??", "loop10"));
        assert!(m("é?", "éü"), "characters, not bytes");
    }

    #[test]
    fn sets_ranges_and_negation() {
        assert!(m("sd[a-c]", "sdb"));
        assert!(!m("sd[a-c]", "sdd"));
        assert!(m("sd[!a-c]", "sdd"));
        assert!(m("sd[^a-c]", "sdd"));
        assert!(!m("sd[!a-c]", "sda"));
        assert!(m("dm-[0-9]*", "dm-12"));
        assert!(m("x[ab-]", "x-"), "trailing dash is literal");
        assert!(m("x[-a]", "x-"), "leading dash is literal");
        assert!(m("x[]]", "x]"), "leading ] is literal");
        assert!(m("x[!]]", "xa"));
        assert!(!m("x[!]]", "x]"));
        assert!(m("x[a-cx-z]", "xy"));
    }

    #[test]
    fn backslash_escapes() {
        assert!(m(r"a\*", "a*"));
        assert!(!m(r"a\*", "ab"));
        assert!(m(r"a\?", "a?"));
        assert!(m(r"\[x]", "[x]"));
        assert!(m(r"[\]]", "]"));
    }

    #[test]
    fn braces_are_literal_and_double_star_is_two_stars() {
        assert!(m("a{b,c}", "a{b,c}"));
        assert!(!m("a{b,c}", "ab"));
        assert!(m("a/**/b", "a/x/y/b"));
        assert!(!m("a/**/b", "a/b"));
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert!(Glob::new("sd[a-").is_err());
        assert!(Glob::new("sd[").is_err());
        assert!(Glob::new("sd[]").is_err());
        assert!(Glob::new("sd[z-a]").is_err());
        assert!(Glob::new("sd\\").is_err());
        assert_eq!(Glob::new("a*").unwrap().as_str(), "a*");
    }
}
