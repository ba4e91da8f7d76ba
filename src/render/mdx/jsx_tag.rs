//! Reading one JSX or HTML tag (markup, not a blog tag) out of MDX source: `<Blockquote\n  attribution="x"\n>`,
//! `<p style={{ fontSize: '1rem' }}>`, `</Link>`, `<Icon icon="x" />`. JSX
//! attributes may hold `{...}` expressions with nested braces and strings, and
//! an opening tag may span lines, which is why this is a small hand parser
//! rather than a regex. Anything that does not parse is left as text.

/// One parsed tag; slices borrow the source.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Tag<'a> {
    /// Empty for JSX fragments `<>` / `</>`.
    pub name: &'a str,
    pub closing: bool,
    pub self_closing: bool,
    pub attrs: Vec<Attr<'a>>,
    /// Byte offset just past the closing `>`.
    pub end: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Attr<'a> {
    /// Empty for a spread expression `{...props}`.
    pub name: &'a str,
    pub value: Value<'a>,
    /// Byte offset of the value (or the name when there is none) in the source.
    pub at: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// `<video controls>`
    Bare,
    /// The text between the quotes (or an unquoted value).
    Text(&'a str),
    /// The text between the outer braces.
    Expr(&'a str),
}

impl Tag<'_> {
    /// JSX components start with a capital (or are member expressions such
    /// as `Tabs.Item`); HTML element names are lower case.
    pub fn is_component(&self) -> bool {
        self.name.starts_with(|c: char| c.is_ascii_uppercase()) || self.name.contains('.')
    }

    pub fn attr(&self, name: &str) -> Option<&Value<'_>> {
        self.attrs.iter().find(|a| a.name == name).map(|a| &a.value)
    }

    /// A plain string value, also when written as the JSX `{"text"}`.
    pub fn text_attr(&self, name: &str) -> Option<String> {
        match self.attr(name)? {
            Value::Text(t) => Some((*t).to_owned()),
            Value::Expr(e) => static_expr(e).and_then(|v| match v {
                Static::Text(t) => Some(t),
                Static::Bool(_) => None,
            }),
            Value::Bare => None,
        }
    }
}

/// What a JSX attribute expression means when it needs no JavaScript.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Static {
    Text(String),
    Bool(bool),
}

/// Understands the few expressions that are really constants: string
/// literals, numbers, `true`/`false`, and Docusaurus's image idiom
/// `require('./img/x.png').default`.
pub(crate) fn static_expr(expr: &str) -> Option<Static> {
    let e = expr.trim();
    match e {
        "true" => return Some(Static::Bool(true)),
        "false" => return Some(Static::Bool(false)),
        _ => {}
    }
    if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Some(Static::Text(e.to_owned()));
    }
    if let Some(lit) = string_literal(e) {
        return Some(Static::Text(lit));
    }
    let inner = e
        .strip_prefix("require(")?
        .trim_end_matches(".default")
        .strip_suffix(')')?;
    string_literal(inner.trim()).map(Static::Text)
}

/// The value of a JavaScript string literal, or of a template literal
/// without `${}`; simple escapes (`\'`, `\n`, `\\`) are undone.
fn string_literal(e: &str) -> Option<String> {
    let q = e.chars().next()?;
    if !matches!(q, '"' | '\'' | '`') || e.len() < 2 || !e.ends_with(q) {
        return None;
    }
    let inner = &e[1..e.len() - 1];
    if q == '`' && inner.contains("${") {
        return None;
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                c @ ('\\' | '\'' | '"' | '`') => out.push(c),
                _ => return None,
            },
            c if c == q => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Parses a tag starting at `src[start] == '<'`. Gives up (returns `None`)
/// past `limit` bytes or at a blank line, so a stray `<` costs little.
pub(crate) fn parse(src: &str, start: usize, limit: usize) -> Option<Tag<'_>> {
    let b = src.as_bytes();
    let stop = src.len().min(start.saturating_add(limit));
    let mut i = start + 1;
    let closing = b.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    if b.get(i).is_some_and(u8::is_ascii_alphabetic) {
        i += 1;
        while i < stop && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b'_' | b'.')) {
            i += 1;
        }
    }
    let name = &src[name_start..i];
    let mut tag = Tag {
        name,
        closing,
        self_closing: false,
        attrs: Vec::new(),
        end: 0,
    };
    loop {
        let had_space = skip_space(b, &mut i, stop)?;
        match *b.get(i).filter(|_| i < stop)? {
            b'>' => {
                tag.end = i + 1;
                return Some(tag);
            }
            b'/' if !closing && b.get(i + 1) == Some(&b'>') && !name.is_empty() => {
                tag.self_closing = true;
                tag.end = i + 2;
                return Some(tag);
            }
            _ if closing || name.is_empty() => return None,
            // Attributes must be separated from the name and each other.
            _ if !had_space => return None,
            b'{' => {
                let end = balanced(b, i, stop)?;
                tag.attrs.push(Attr {
                    name: "",
                    value: Value::Expr(&src[i + 1..end - 1]),
                    at: i,
                });
                i = end;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' || c == b'@' => {
                let attr_start = i;
                while i < stop
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b'_' | b'.' | b':'))
                {
                    i += 1;
                }
                let attr_name = &src[attr_start..i];
                let mut j = i;
                skip_space(b, &mut j, stop)?;
                if b.get(j) != Some(&b'=') || j >= stop {
                    tag.attrs.push(Attr {
                        name: attr_name,
                        value: Value::Bare,
                        at: attr_start,
                    });
                    continue;
                }
                j += 1;
                skip_space(b, &mut j, stop)?;
                let (value, at, end) = attr_value(src, j, stop)?;
                tag.attrs.push(Attr {
                    name: attr_name,
                    value,
                    at,
                });
                i = end;
            }
            _ => return None,
        }
    }
}

/// Skips whitespace; `None` at a blank line (a tag never spans one).
/// Returns whether anything was skipped.
fn skip_space(b: &[u8], i: &mut usize, stop: usize) -> Option<bool> {
    let from = *i;
    let mut after_newline = false;
    while *i < stop && matches!(b[*i], b' ' | b'\t' | b'\r' | b'\n') {
        if b[*i] == b'\n' {
            if after_newline {
                return None;
            }
            after_newline = true;
        }
        *i += 1;
    }
    Some(*i > from)
}

fn attr_value(src: &str, i: usize, stop: usize) -> Option<(Value<'_>, usize, usize)> {
    let b = src.as_bytes();
    match *b.get(i).filter(|_| i < stop)? {
        q @ (b'"' | b'\'') => {
            let close = memchr(q, &b[i + 1..stop])? + i + 1;
            Some((Value::Text(&src[i + 1..close]), i + 1, close + 1))
        }
        b'{' => {
            let end = balanced(b, i, stop)?;
            Some((Value::Expr(&src[i + 1..end - 1]), i, end))
        }
        _ => {
            let mut j = i;
            while j < stop
                && !b[j].is_ascii_whitespace()
                && !matches!(b[j], b'"' | b'\'' | b'=' | b'<' | b'>' | b'`')
            {
                j += 1;
            }
            (j > i).then(|| (Value::Text(&src[i..j]), i, j))
        }
    }
}

/// End (exclusive) of the `{...}` starting at `b[i] == '{'`, skipping braces
/// inside JavaScript strings.
pub(crate) fn balanced(b: &[u8], mut i: usize, stop: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < stop {
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < stop && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> Option<Tag<'_>> {
        parse(s, 0, 4096)
    }

    #[test]
    fn a_multi_line_opening_tag_with_attributes_parses() {
        let src = "<Blockquote\n  variation=\"pink\"\n  attribution=\"— Uit NDS\"\n>\nrest";
        let t = tag(src).unwrap();
        assert_eq!(t.name, "Blockquote");
        assert!(t.is_component() && !t.closing && !t.self_closing);
        assert_eq!(t.text_attr("attribution").as_deref(), Some("— Uit NDS"));
        assert_eq!(&src[t.end..], "\nrest");
    }

    #[test]
    fn jsx_expressions_with_nested_braces_and_strings_parse() {
        let t = tag("<p style={{ a: '}', b: \"{\" }} onClick={() => {x()}}>").unwrap();
        assert_eq!(t.attrs.len(), 2);
        assert_eq!(t.attrs[0].value, Value::Expr("{ a: '}', b: \"{\" }"));
        assert_eq!(t.attrs[1].name, "onClick");
    }

    #[test]
    fn closing_self_closing_fragment_and_bare_attributes_parse() {
        assert!(tag("</Link >").unwrap().closing);
        let icon = tag("<Icon icon=\"pijl\" />").unwrap();
        assert!(icon.self_closing);
        let video = tag("<video controls preload=metadata>").unwrap();
        assert_eq!(video.attrs[0].value, Value::Bare);
        assert_eq!(video.attrs[1].value, Value::Text("metadata"));
        assert_eq!(tag("<>").unwrap().name, "");
        assert!(tag("</>").unwrap().closing);
    }

    #[test]
    fn things_that_are_not_tags_do_not_parse() {
        for s in [
            "<https://example.org>",
            "< p>",
            "<a href=\"x\"",
            "<a\n\n>",
            "<a b=\"unclosed>",
            "<3",
            "<foo@bar.nl>",
            "<a{x}>",
            "</a b>",
        ] {
            assert_eq!(tag(s), None, "{s}");
        }
    }

    #[test]
    fn the_limit_stops_runaway_attribute_values() {
        let long = format!("<a b=\"{}\">", "x".repeat(100));
        assert!(parse(&long, 0, 50).is_none());
        assert!(parse(&long, 0, 500).is_some());
    }

    #[test]
    fn constant_expressions_are_understood() {
        assert_eq!(static_expr(" 'a' "), Some(Static::Text("a".into())));
        assert_eq!(static_expr("500"), Some(Static::Text("500".into())));
        assert_eq!(static_expr("false"), Some(Static::Bool(false)));
        assert_eq!(
            static_expr("require('./img/x.png').default"),
            Some(Static::Text("./img/x.png".into()))
        );
        assert_eq!(static_expr("`a${b}`"), None);
        assert_eq!(static_expr("{ width: 1 }"), None);
    }
}
