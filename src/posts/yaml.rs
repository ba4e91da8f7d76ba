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
    let text = match super::read_text(path, None) {
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
/// in front, compiler style), and without Rust's names for things: a size
/// limit and a shape that fits none of the forms are said in words.
fn message(e: &serde_saphyr::Error) -> String {
    if let serde_saphyr::Error::Budget { breach, .. } = e.without_snippet() {
        return budget_message(breach);
    }
    let text = e.to_string();
    if let Some(form) = UNTAGGED
        .captures(&text)
        .and_then(|c| c.get(1))
        .map(|m| expected_form(m.as_str()))
    {
        return form.to_owned();
    }
    let first = text.lines().next().unwrap_or("invalid YAML");
    let first = LOCATION_PREFIX.replace(first, "");
    match first.find(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.into_owned(),
    }
}

static UNTAGGED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"did not match any variant of untagged enum (\w+)").expect("valid regex")
});

/// What a value that fits none of the forms of one of our untagged enums
/// should look like.
fn expected_form(enum_name: &str) -> &'static str {
    match enum_name {
        "TagEntry" => {
            "a tag must be a name (`- api`) or a label with a permalink (`- {label: API, permalink: /api}`)"
        }
        "AuthorEntry" | "OneOrMany" => {
            "an author must be a key from the authors file (`- jane`) or a table (`- {name: Jane, url: https://…}`), alone or in a list"
        }
        _ => {
            "this value has none of the forms postbode accepts here; see the README for the expected form"
        }
    }
}

/// A YAML size limit, said in words: which limit, and what to do.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let what = match breach {
        B::Nodes { nodes } => format!("it holds more than {} values", nodes.saturating_sub(1)),
        B::Events { events } => {
            format!("it holds more than {} YAML items", events.saturating_sub(1))
        }
        B::Depth { depth } => format!("it is nested {depth} levels deep"),
        B::Aliases { aliases } => format!("it uses {aliases} aliases (`*name`)"),
        B::Anchors { anchors } => format!("it defines {anchors} anchors (`&name`)"),
        B::ScalarBytes { total_scalar_bytes } => {
            format!("its values add up to {total_scalar_bytes} bytes")
        }
        B::AliasAnchorRatio { aliases, anchors } => {
            format!("it expands {anchors} anchors through {aliases} aliases")
        }
        B::Documents { documents } => format!("it holds {documents} YAML documents"),
        _ => "it is larger than postbode reads".to_owned(),
    };
    format!(
        "this YAML is too large to read safely: {what}; keep front matter and tags/authors files to what a post needs (at most a few hundred tags or authors)"
    )
}
