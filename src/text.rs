//! Small text helpers every layer shares: HTML escaping for text placed in
//! markup (one escaping loop behind two entry points), and turning a byte
//! offset into the line and column a person reads.

use std::borrow::Cow;

/// Escapes plain text for places where readers expect HTML (RSS descriptions,
/// the index page's text and quoted attributes), so "AT&T <3" is shown as
/// written rather than read as markup. Also used for email templates. The
/// apostrophe is escaped too, for templates that quote attributes with `'`.
pub fn escape_html(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    push_escaped(&mut out, text, true);
    Cow::Owned(out)
}

/// Appends `text` escaped for element content or a double-quoted attribute:
/// `&`, `<`, `>` and `"`, what html5ever (and so the sanitiser) escapes in
/// text and attributes, so HTML written with this that skips the sanitiser
/// reads the same as HTML that went through it.
pub fn escape_html_into(text: &str, out: &mut String) {
    push_escaped(out, text, false);
}

fn push_escaped(out: &mut String, text: &str, apostrophe: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' if apostrophe => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// 1-based line and column (in characters, not bytes) of a byte offset, the
/// way editors count, so `path:line:col` diagnostics land on the right spot.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_escapers_escape_markup_and_only_the_cow_one_the_apostrophe() {
        assert_eq!(escape_html("plain"), Cow::Borrowed("plain"));
        assert_eq!(escape_html("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
        let mut out = String::from("x=");
        escape_html_into("a<b>&\"c'", &mut out);
        assert_eq!(out, "x=a&lt;b&gt;&amp;&quot;c'");
    }

    #[test]
    fn line_col_counts_characters_not_bytes() {
        assert_eq!(line_col("é\nab€x", 8), (2, 4));
        assert_eq!(line_col("é\nab€x", 7), (2, 3));
        assert_eq!(line_col("abc", 99), (1, 4));
    }
}
