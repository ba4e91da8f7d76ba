//! MDX's ESM: top-level `import`/`export` statements, which have no place
//! in a feed and are dropped. Recognising them needs a little care: prose
//! can start with the word "import", and a statement can span lines.

/// Where the statement starting at `pos` ends (the start of the next line
/// that is not part of it). MDX ends ESM at a blank line; we also end it
/// where the statement is evidently complete, so a post that forgot the
/// blank line keeps its first paragraph.
pub(crate) fn statement_end(src: &str, mut pos: usize) -> usize {
    let mut depth: i64 = 0;
    let mut quote: Option<u8> = None;
    loop {
        let line_end = src[pos..].find('\n').map_or(src.len(), |i| pos + i);
        let line = &src[pos..line_end];
        if line.trim().is_empty() && quote.is_none() && (depth <= 0 || !continues(&src[pos..])) {
            return pos;
        }
        scan_js(line.as_bytes(), &mut depth, &mut quote);
        pos = (line_end + 1).min(src.len());
        if pos >= src.len() {
            return pos;
        }
        let t = line.trim_end();
        let open = depth > 0
            || quote.is_some()
            || t.ends_with([
                ',', '{', '(', '[', '=', '+', '*', '/', '&', '|', '?', ':', '.',
            ]);
        let next = src[pos..].trim_start_matches([' ', '\t']);
        if !open && !next.starts_with(['.', ')', '}', ']']) {
            return pos;
        }
    }
}

/// `export const name = 'text';` (or a number, or a template without
/// `${}`): the name and the text `{name}` shows in the post.
pub(crate) fn constant(statement: &str) -> Option<(&str, String)> {
    let rest = statement.trim().strip_prefix("export")?.trim_start();
    let rest = rest.strip_prefix("const ")?.trim_start();
    let (name, value) = rest.split_once('=')?;
    let name = name.trim();
    let ident = name.starts_with(|c: char| c.is_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$');
    if !ident {
        return None;
    }
    match super::jsx_tag::static_expr(value.trim().trim_end_matches(';'))? {
        super::jsx_tag::Static::Text(t) => Some((name, t)),
        super::jsx_tag::Static::Bool(_) => None,
    }
}

/// Whether the code after a blank line inside an open bracket goes on: a
/// function body with a blank line in it is indented, or closes the bracket.
/// A statement left open by mistake then ends at the blank line, as in MDX.
fn continues(rest: &str) -> bool {
    let next = rest
        .split('\n')
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    next.starts_with([' ', '\t', '}', ')', ']'])
}

/// MDX ESM: `import x from "y"`, `import "y"`, `import {a} from`,
/// `export const ...`. Prose that starts with "import" is not ESM.
pub(crate) fn is_statement_start(line: &str) -> bool {
    if let Some(rest) = line.strip_prefix("import") {
        let r = rest.trim_start();
        if r.starts_with(['{', '"', '\'', '*']) {
            return true;
        }
        let ident = r.len() < rest.len()
            && r.starts_with(|c: char| c.is_alphabetic() || c == '_' || c == '$');
        return ident && (has_from_clause(r) || r.ends_with(','));
    }
    if let Some(rest) = line.strip_prefix("export") {
        let r = rest.trim_start();
        return r.len() < rest.len()
            && [
                "const ",
                "let ",
                "var ",
                "function",
                "default ",
                "class ",
                "async ",
                "type ",
                "interface ",
                "{",
                "*",
            ]
            .iter()
            .any(|k| r.starts_with(k));
    }
    false
}

fn has_from_clause(s: &str) -> bool {
    s.match_indices("from")
        .any(|(i, _)| s[i + 4..].trim_start().starts_with(['"', '\'']))
}

/// Tracks bracket depth and open strings through one line of JavaScript.
fn scan_js(line: &[u8], depth: &mut i64, quote: &mut Option<u8>) {
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        match *quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    *quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' | b'`' => *quote = Some(c),
                b'{' | b'(' | b'[' => *depth += 1,
                b'}' | b')' | b']' => *depth -= 1,
                b'/' if line.get(i + 1) == Some(&b'/') => return,
                _ => {}
            },
        }
        i += 1;
    }
    // Only template literals span lines.
    if matches!(*quote, Some(b'"' | b'\'')) {
        *quote = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_told_from_prose() {
        for esm in [
            "import { Blockquote } from \"@x/y\";",
            "import Tabs from '@theme/Tabs';",
            "import \"./style.css\";",
            "import * as X from \"x\"",
            "import Foo,",
            "export const meta = {",
            "export default function Layout() {",
        ] {
            assert!(is_statement_start(esm), "{esm}");
        }
        for prose in [
            "import your data first.",
            "important news",
            "export is a word too.",
            "exporteren kan ook",
            "Import X from \"y\"",
        ] {
            assert!(!is_statement_start(prose), "{prose}");
        }
    }

    #[test]
    fn constant_exports_are_read_and_others_are_not() {
        assert_eq!(
            constant("export const version = '1.0.0';\n"),
            Some(("version", "1.0.0".to_owned()))
        );
        assert_eq!(constant("export const n = 3"), Some(("n", "3".to_owned())));
        assert_eq!(constant("export const f = () => 1;"), None);
        assert_eq!(constant("export const a = `x${y}`;"), None);
        assert_eq!(constant("export let v = 'x';"), None);
    }

    #[test]
    fn a_statement_ends_at_a_blank_line_or_where_it_is_complete() {
        let src = "import {\n  A,\n  B,\n} from 'z'\nText\n";
        assert_eq!(&src[statement_end(src, 0)..], "Text\n");
        let src = "export const x = {\n  a: `multi\n\nline`,\n};\n\nText";
        assert_eq!(&src[statement_end(src, 0)..], "\nText");
        let src = "export const y = f()\n  .g();\nText";
        assert_eq!(&src[statement_end(src, 0)..], "Text");
        let src = "import {";
        assert_eq!(statement_end(src, 0), src.len());
        let src = "export const F = () => {\n  const a = 1;\n\n  return a;\n};\n\nText";
        assert_eq!(&src[statement_end(src, 0)..], "\nText");
        let src = "export const G = {\n\nText";
        assert_eq!(&src[statement_end(src, 0)..], "\nText");
    }
}
