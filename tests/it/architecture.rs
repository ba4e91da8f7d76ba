//! The shape ARCHITECTURE.md promises, checked on the source itself: every
//! `crate::` reference between top-level modules points down a layer (or
//! sideways without a cycle), only the CLI prints, and no file grows past
//! 600 lines of code. A change that breaks the shape fails here, naming the
//! file and the edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::helpers::repo_dir;

/// Each top-level module and its layer: a module may use modules of lower
/// layers, and of its own layer as long as no cycle forms.
const LAYERS: &[(&str, u8)] = &[
    ("main", 6),
    ("cli", 5),
    ("server", 4),
    ("pipeline", 3),
    ("notify", 2),
    ("feeds", 1),
    ("render", 1),
    ("posts", 1),
    ("source", 1),
    ("state", 1),
    ("templates", 1),
    ("config", 0),
    ("diag", 0),
    ("memory", 0),
    ("model", 0),
    ("net", 0),
    ("paths", 0),
    ("text", 0),
    ("token", 0),
];

const MAX_CODE_LINES: usize = 600;

struct SourceFile {
    rel: String,
    module: String,
    /// The lines before the file's `#[cfg(test)]` module; test-only files
    /// have none.
    code: Vec<String>,
}

fn source_files() -> Vec<SourceFile> {
    let src = repo_dir().join("src");
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.expect("src/ is readable");
        let path = entry.path();
        // lib.rs only declares the modules.
        if path.extension().is_none_or(|e| e != "rs") || path == src.join("lib.rs") {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap().to_path_buf();
        let module = top_module(&rel);
        let text = std::fs::read_to_string(path).unwrap();
        let test_only = matches!(
            path.file_name().and_then(|n| n.to_str()),
            Some("tests.rs" | "test_support.rs")
        ) || rel.components().any(|c| c.as_os_str() == "tests");
        let code = if test_only {
            Vec::new()
        } else {
            text.lines()
                .take_while(|l| l.trim() != "#[cfg(test)]")
                .map(str::to_string)
                .collect()
        };
        files.push(SourceFile {
            rel: rel.display().to_string(),
            module,
            code,
        });
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    assert!(files.len() > 20, "found only {} files in src/", files.len());
    files
}

fn top_module(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The lines that are code: not blank, not a comment.
fn code_lines(file: &SourceFile) -> impl Iterator<Item = &str> {
    file.code
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
}

/// The top-level modules a line refers to through `crate::` (or
/// `postbode::` in main.rs), including `use crate::{a::X, b::Y}` groups.
fn referenced_modules(line: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find(prefix) {
        let after = &rest[i + prefix.len()..];
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.push(first_segment(&item));
        } else {
            found.push(first_segment(after));
        }
        rest = after;
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

#[test]
fn every_module_uses_only_modules_below_it_and_no_cycle_forms() {
    let mut edges: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in source_files() {
        let Some(from) = layer(&file.module) else {
            wrong.push(format!(
                "src/{}: module `{}` has no layer in this test's LAYERS (and ARCHITECTURE.md)",
                file.rel, file.module
            ));
            continue;
        };
        let prefix = if file.module == "main" {
            "postbode::"
        } else {
            "crate::"
        };
        for (n, line) in code_lines(&file).enumerate() {
            for to in referenced_modules(line, prefix) {
                if to == file.module {
                    continue;
                }
                match layer(&to) {
                    None => wrong.push(format!("src/{}: unknown module `{to}`", file.rel)),
                    Some(l) if l > from => wrong.push(format!(
                        "src/{}: `{}` (layer {from}) uses `{to}` (layer {l}), a layer above it: {line}",
                        file.rel, file.module
                    )),
                    Some(_) => {
                        edges
                            .entry((file.module.clone(), to))
                            .or_insert_with(|| format!("src/{} (code line {})", file.rel, n + 1));
                    }
                }
            }
        }
    }
    // Same-layer edges must not close a cycle.
    let graph: BTreeMap<&str, BTreeSet<&str>> =
        edges.keys().fold(BTreeMap::new(), |mut g, (a, b)| {
            g.entry(a.as_str()).or_default().insert(b.as_str());
            g
        });
    for (a, b) in edges.keys() {
        if reaches(&graph, b, a, &mut BTreeSet::new()) {
            wrong.push(format!(
                "cycle: `{a}` uses `{b}` ({}) and `{b}` reaches back to `{a}`",
                edges[&(a.clone(), b.clone())]
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

fn reaches<'a>(
    graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
    from: &'a str,
    to: &str,
    seen: &mut BTreeSet<&'a str>,
) -> bool {
    if from == to {
        return true;
    }
    if !seen.insert(from) {
        return false;
    }
    graph
        .get(from)
        .is_some_and(|next| next.iter().any(|n| reaches(graph, n, to, seen)))
}

#[test]
fn only_the_cli_prints() {
    let mut wrong = Vec::new();
    for file in source_files() {
        if file.module == "cli" || file.module == "main" {
            continue;
        }
        for line in code_lines(&file) {
            if ["println!", "eprintln!", "print!(", "eprint!(", "dbg!("]
                .iter()
                .any(|m| line.contains(m))
            {
                wrong.push(format!("src/{}: {line}", file.rel));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "only src/cli prints:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_file_has_more_than_600_lines_of_code() {
    let too_long: Vec<String> = source_files()
        .iter()
        .map(|f| (f.rel.clone(), code_lines(f).count()))
        .filter(|(_, n)| *n > MAX_CODE_LINES)
        .map(|(rel, n)| format!("src/{rel}: {n} lines of code"))
        .collect();
    assert!(
        too_long.is_empty(),
        "split these along what they own (at most {MAX_CODE_LINES} lines of code, tests excluded):\n{}",
        too_long.join("\n")
    );
}

#[test]
fn the_layer_table_matches_the_modules_in_lib_rs() {
    let lib = std::fs::read_to_string(repo_dir().join("src/lib.rs")).unwrap();
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    let tabled: BTreeSet<String> = LAYERS
        .iter()
        .map(|(m, _)| m.to_string())
        .filter(|m| m != "main")
        .collect();
    assert_eq!(declared, tabled, "src/lib.rs and LAYERS disagree");
    let _: PathBuf = repo_dir();
}
