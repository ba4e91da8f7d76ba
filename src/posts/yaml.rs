//! YAML files and front matter: reading one whole, and its errors at their
//! place in the file, named after the key whose value is wrong.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::DeserializeOwned;

use crate::diag::Diagnostic;

/// Reads a YAML file (`tags.yml`, `authors.yml`); a problem is reported and
/// gives `None`.
pub(super) fn read_file<T: DeserializeOwned>(
    path: &Path,
    problems: &mut Vec<Diagnostic>,
) -> Option<T> {
    let text = match super::read_text(path) {
        Ok(t) => t,
        Err(d) => {
            problems.push(d);
            return None;
        }
    };
    serde_saphyr::from_str(&text)
        .map_err(|e| problems.push(diagnostic(path, &text, &e, 0)))
        .ok()
}

/// A YAML error at its place in the file; `line_offset` is the number of lines
/// before the YAML text (1 for front matter after its `---`). The message
/// names the key whose value is wrong (`tags: expected sequence start`).
pub(super) fn diagnostic(
    path: &Path,
    yaml: &str,
    e: &serde_saphyr::Error,
    line_offset: usize,
) -> Diagnostic {
    let mut message = message(e);
    let Some(loc) = e.location() else {
        return Diagnostic::error(path, message);
    };
    let (line, column) = (loc.line() as usize, loc.column() as usize);
    let line_text = yaml.lines().nth(line.saturating_sub(1)).unwrap_or("");
    if let Some((key, _)) = line_text.split_once(':') {
        let key = key.trim();
        let is_key = !key.is_empty()
            && !line_text.starts_with([' ', '\t', '-'])
            && key
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if is_key && column > key.len() {
            message = format!("{key}: {message}");
        }
    }
    Diagnostic::error(path, message).at(line + line_offset, column)
}

static LOCATION_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:error: )?(?:line \d+ column \d+: )?").expect("valid regex"));

/// The error text without serde-saphyr's own location (we print the location
/// in front, compiler style).
fn message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid YAML");
    let first = LOCATION_PREFIX.replace(first, "");
    match first.find(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.into_owned(),
    }
}
