//! What goes wrong reading a feed definition or a subscribers file, said the
//! way a person fixes it: `feeds/x.toml:7:12: timezone: unknown time zone
//! "Europe/Amsterdm"`. The TOML crate and serde know where a value went wrong
//! (a span) but speak in Rust terms (`invalid type: string "5", expected
//! usize`); this module finds the key the span belongs to and rewrites serde's
//! fixed phrases into sentences, so every config error reads alike.

use std::ops::Range;
use std::path::PathBuf;

use thiserror::Error;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::text::line_col;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Any problem with the content: TOML syntax, an unknown key, a value of
    /// the wrong type or out of range. Always with the place it was found.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// A TOML or value error located in `text`: 1-based line and column, and a
/// message that starts with the key it is about (`email.transport: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Located {
    pub fn into_error(self, path: PathBuf) -> ConfigError {
        ConfigError::Invalid {
            path,
            line: self.line,
            column: self.column,
            message: self.message,
        }
    }
}

/// Places and words an error from `toml::from_str(text)`.
pub(crate) fn locate(text: &str, err: &toml::de::Error) -> Located {
    let span = err.span();
    let (line, column) = span
        .as_ref()
        .map(|s| line_col(text, s.start))
        .unwrap_or((1, 1));
    let mut message = humanize(err.message());
    if let Some(span) = span {
        match DeTable::parse(text) {
            // The document parsed, so the error is about a value: say whose.
            Ok(root) => {
                if let Some(key) = key_at(root.get_ref(), &span, &mut Vec::new()) {
                    message = format!("{key}: {message}");
                }
            }
            Err(_) if message == "duplicate key" => {
                let key = text.get(span).unwrap_or_default();
                message = format!("the key {key} is set twice");
            }
            Err(_) => {}
        }
    }
    Located {
        line,
        column,
        message,
    }
}

/// The dotted key a span belongs to: the key whose value holds it, or the
/// table holding the key when the span is a key itself (an unknown key names
/// itself in its message). Array elements take their array's key.
fn key_at(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<String>) -> Option<String> {
    for (key, value) in table {
        if key.span() == *span {
            return (!path.is_empty()).then(|| path.join("."));
        }
        path.push(key.get_ref().to_string());
        let found = key_in_value(value, span, path);
        path.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

fn key_in_value(
    value: &Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<String>,
) -> Option<String> {
    // Nested first: a table's own span is only its header.
    let nested = match value.get_ref() {
        DeValue::Table(t) => key_at(t, span, path),
        DeValue::Array(items) => items.iter().find_map(|item| key_in_value(item, span, path)),
        _ => None,
    };
    let holds = value.span().start <= span.start && span.end <= value.span().end;
    nested.or_else(|| holds.then(|| path.join(".")))
}

/// serde's fixed phrases as sentences; anything else unchanged.
fn humanize(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known = quoted_names(expected);
        return match closest(name, known.iter().copied()) {
            Some(near) => format!("unknown key \"{name}\" (did you mean \"{near}\"?)"),
            None if known.is_empty() => {
                format!("unknown key \"{name}\" (no keys are allowed here)")
            }
            None => format!("unknown key \"{name}\" (expected {})", one_of(&known)),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        return format!("missing key \"{name}\"");
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known = quoted_names(expected);
        return format!("unknown value \"{name}\" (expected {})", one_of(&known));
    }
    let mismatch = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "));
    if let Some((found, expected)) = mismatch.and_then(|m| m.split_once(", expected ")) {
        return format!(
            "expected {}, found {}",
            expected_text(expected),
            found_text(found)
        );
    }
    message.to_string()
}

/// The names in serde's "expected one of `a`, `b`" / "expected `a` or `b`".
fn quoted_names(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".to_string(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

fn expected_text(expected: &str) -> String {
    match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a whole number (0 or more)".into(),
        "isize" | "i64" | "i32" | "i16" | "i8" => "a whole number".into(),
        "f64" | "f32" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a sequence" => "a list".into(),
        "a map" => "a table".into(),
        "a string" | "a borrowed string" | "path string" => "a string in quotes".into(),
        other if other.starts_with("struct ") => "a table".into(),
        other => other.to_string(),
    }
}

fn found_text(found: &str) -> String {
    match found {
        "map" => return "a table".into(),
        "sequence" => return "a list".into(),
        _ => {}
    }
    if let Some(string) = found.strip_prefix("string ") {
        return string.to_string();
    }
    // `integer `5``, `boolean `true``, `floating point `1.5``: the value says it.
    match found.split_once('`') {
        Some((_, value)) => value.trim_end_matches('`').to_string(),
        None => found.to_string(),
    }
}

/// The candidate nearest to `word` when it is near enough to be a typo:
/// same letters ignoring case, or a few edits away.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edits (insert, delete, replace, swap two neighbours) from `a` to `b`, in
/// characters: the optimal-string-alignment distance, so `emial` is one
/// edit from `email` as a person would count it.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_phrases_become_sentences() {
        let cases = [
            (
                "unknown field `limt`, expected one of `title`, `limit`",
                "unknown key \"limt\" (did you mean \"limit\"?)",
            ),
            (
                "unknown field `colour`, expected `title` or `limit`",
                "unknown key \"colour\" (expected title or limit)",
            ),
            ("missing field `from`", "missing key \"from\""),
            (
                "unknown variant `atm`, expected one of `atom`, `rss`, `json`",
                "unknown value \"atm\" (expected atom, rss or json)",
            ),
            (
                "invalid type: string \"5\", expected usize",
                "expected a whole number (0 or more), found \"5\"",
            ),
            (
                "invalid value: integer `-1`, expected usize",
                "expected a whole number (0 or more), found -1",
            ),
            (
                "invalid type: string \"atom\", expected a sequence",
                "expected a list, found \"atom\"",
            ),
            (
                "invalid type: map, expected a boolean",
                "expected true or false, found a table",
            ),
            ("some other message", "some other message"),
        ];
        for (serde, ours) in cases {
            assert_eq!(humanize(serde), ours, "for {serde:?}");
        }
    }

    #[test]
    fn a_typo_is_near_its_key_and_a_different_word_is_not() {
        let keys = ["title", "limit", "timezone"];
        assert_eq!(closest("limt", keys.into_iter()), Some("limit"));
        assert_eq!(closest("TimeZone", keys.into_iter()), Some("timezone"));
        assert_eq!(closest("colour", keys.into_iter()), None);
        assert_eq!(closest("emial", ["id", "email"].into_iter()), Some("email"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("emial", "email"), 1);
    }

    #[test]
    fn an_error_names_the_nested_key_its_span_belongs_to() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            a: u32,
            t: Table,
            list: Vec<Table>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Table {
            n: u32,
        }
        let cases = [
            (
                "a = 1\nt = { n = \"x\" }\nlist = []\n",
                2,
                11,
                "t.n: expected a whole number (0 or more), found \"x\"",
            ),
            (
                "a = 1\nlist = []\n[t]\nn = 1\nm = 2\n",
                5,
                1,
                "t: unknown key \"m\" (did you mean \"n\"?)",
            ),
            (
                "a = 1\nt = { n = 1 }\n[[list]]\nn = 1\n[[list]]\nn = -2\n",
                6,
                5,
                "list.n: expected a whole number (0 or more), found -2",
            ),
            (
                "a = 1\nt = { n = 1 }\n[[list]]\n",
                3,
                1,
                "list: missing key \"n\"",
            ),
            ("a = 1\na = 2\n", 2, 1, "the key a is set twice"),
        ];
        for (text, line, column, message) in cases {
            let err = toml::from_str::<Doc>(text).unwrap_err();
            let got = locate(text, &err);
            assert_eq!(
                got,
                Located {
                    line,
                    column,
                    message: message.to_string()
                },
                "for {text:?}"
            );
        }
    }
}
