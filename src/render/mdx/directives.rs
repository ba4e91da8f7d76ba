//! The two kinds of remark-directive that Docusaurus blogs use, read and
//! written out: container directives (admonitions: `:::tip Title`,
//! `:::success[TL;DR]`, closed by `:::`; nested ones use more colons) become
//! a titled `<div class="admonition">`, leaf directives
//! (`::video-vimeo[label]{id=123}`) a link to the video or their label.

use super::stack::FrameKind;
use super::{MAX_DEPTH, Mode, Pre, block_indent};

/// A `:::` line.
#[derive(Debug, PartialEq, Eq)]
enum Container<'a> {
    Open {
        colons: usize,
        kind: &'a str,
        /// As written; empty when there is none.
        title: &'a str,
    },
    Close {
        colons: usize,
    },
}

/// A `::name[label]{attrs}` line.
#[derive(Debug, PartialEq, Eq)]
struct Leaf<'a> {
    pub label: &'a str,
    /// Where a known video directive points.
    pub url: Option<String>,
}

/// Reads a left-trimmed line starting with `:::`; `None` when it is not a
/// directive after all (`:::` followed by something that is not a name).
fn container(line: &str) -> Option<Container<'_>> {
    let colons = line.bytes().take_while(|&b| b == b':').count();
    if colons < 3 {
        return None;
    }
    let rest = &line[colons..];
    if rest.trim().is_empty() {
        return Some(Container::Close { colons });
    }
    let kind_len = name_len(rest);
    if kind_len == 0 {
        return None;
    }
    let (kind, after) = rest.split_at(kind_len);
    let title = match after.strip_prefix('[') {
        Some(inner) => bracketed(inner).unwrap_or(inner),
        None => strip_attributes(after),
    };
    Some(Container::Open {
        colons,
        kind,
        title: title.trim(),
    })
}

/// The title to show: as written (without bold that would be doubled), or
/// the kind's default.
fn title(kind: &str, written: &str) -> String {
    if written.is_empty() {
        return default_title(kind);
    }
    // `:::success[**TL;DR**]`: the title is shown bold anyway.
    written
        .strip_prefix("**")
        .and_then(|t| t.strip_suffix("**"))
        .filter(|t| !t.contains("**"))
        .unwrap_or(written)
        .to_owned()
}

/// Reads a left-trimmed line starting with `::`; `None` when the line holds
/// anything else after the directive.
fn leaf(line: &str) -> Option<Leaf<'_>> {
    let rest = line.strip_prefix("::")?;
    let name_len = name_len(rest);
    if name_len == 0 {
        return None;
    }
    let (name, mut after) = rest.split_at(name_len);
    let mut label = "";
    if let Some(inner) = after.strip_prefix('[') {
        label = bracketed(inner)?;
        after = &inner[label.len() + 1..];
    }
    let mut attrs = "";
    if let Some(inner) = after.strip_prefix('{') {
        let close = inner.find('}')?;
        attrs = &inner[..close];
        after = &inner[close + 1..];
    }
    if !after.trim().is_empty() {
        return None;
    }
    let id = directive_attr(attrs, "id").filter(|id| {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let url = match (name.to_ascii_lowercase().as_str(), id) {
        ("video-vimeo" | "vimeo", Some(id)) => Some(format!("https://vimeo.com/{id}")),
        ("video-youtube" | "youtube", Some(id)) => {
            Some(format!("https://www.youtube.com/watch?v={id}"))
        }
        _ => None,
    };
    Some(Leaf {
        label: label.trim(),
        url,
    })
}

/// Length of a directive name (`note`, `video-vimeo`) at the start of `s`.
fn name_len(s: &str) -> usize {
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return 0;
    }
    s.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        .count()
}

/// Text up to the `]` that matches an opening `[` just before `s`.
fn bracketed(s: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '[' => depth += 1,
            ']' if depth == 0 => return Some(&s[..i]),
            ']' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `Title {#id .class}` -> `Title`.
fn strip_attributes(s: &str) -> &str {
    let t = s.trim_end();
    match (t.ends_with('}'), t.rfind('{')) {
        (true, Some(open)) => &t[..open],
        _ => t,
    }
}

/// A value from directive attributes `{id=123 title="x"}`.
fn directive_attr<'a>(attrs: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = attrs.trim();
    while !rest.is_empty() {
        let name_len = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_len);
        let after = after.trim_start();
        let Some(value_part) = after.strip_prefix('=') else {
            rest = after;
            continue;
        };
        let value_part = value_part.trim_start();
        let (value, remaining) = match value_part.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &value_part[1..];
                let end = inner.find(q).unwrap_or(inner.len());
                (&inner[..end], inner.get(end + 1..).unwrap_or(""))
            }
            _ => {
                let end = value_part
                    .find(char::is_whitespace)
                    .unwrap_or(value_part.len());
                value_part.split_at(end)
            }
        };
        if name == key {
            return Some(value);
        }
        rest = remaining.trim_start();
    }
    None
}

/// Docusaurus's admonition titles; an unknown kind is shown as written.
fn default_title(kind: &str) -> String {
    let known = [
        "note",
        "tip",
        "info",
        "warning",
        "danger",
        "caution",
        "success",
        "important",
    ];
    let lower = kind.to_ascii_lowercase();
    if known.contains(&lower.as_str()) {
        let mut t = lower;
        t[..1].make_ascii_uppercase();
        t
    } else {
        kind.to_owned()
    }
}

impl Pre<'_, '_> {
    /// `:::kind[Title]`, `:::kind Title` or a closing `:::`. Returns false
    /// when the line is not a directive after all (it stays text).
    pub(super) fn container_directive(&mut self, content: &str, indent: &str, at: usize) -> bool {
        match container(content) {
            Some(Container::Close { colons }) => self.close_admonition(colons, indent, at),
            Some(Container::Open { .. }) if self.stack.len() >= MAX_DEPTH => {
                self.too_deep(at);
                return false;
            }
            Some(Container::Open {
                colons,
                kind,
                title,
            }) => {
                self.open_admonition(kind, title, colons, indent, at);
            }
            _ => return false,
        }
        true
    }

    fn open_admonition(
        &mut self,
        kind: &str,
        written: &str,
        colons: usize,
        indent: &str,
        at: usize,
    ) {
        let class: String = kind
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let title = title(kind, written);
        if self.mode == Mode::Render {
            let open = format!("<div class=\"admonition admonition-{class}\">");
            self.isolated(indent, &open, true);
            let rendered = self.render_inline(&title);
            let line = format!("<p><strong>{rendered}</strong></p>");
            self.isolated(indent, &line, !title.contains('<'));
        } else {
            self.ensure_blank_line();
        }
        self.push_frame(FrameKind::Admonition { colons }, at, false);
    }

    fn close_admonition(&mut self, colons: usize, indent: &str, at: usize) {
        let Some(idx) = self
            .stack
            .iter()
            .rposition(|f| matches!(f.kind, FrameKind::Admonition { .. }))
        else {
            self.warn(at, "`:::` closes no admonition".to_owned());
            return;
        };
        // Directives: a fence closes only a container opened with at most
        // as many colons; a shorter one inside a longer one is not a close.
        if let FrameKind::Admonition { colons: open } = self.stack[idx].kind
            && open > colons
        {
            return;
        }
        let closes = self.pop_to(idx);
        let html = match self.mode {
            Mode::Render => format!("{closes}</div>"),
            Mode::Summary => String::new(),
        };
        self.isolated(indent, &html, true);
    }

    /// `::video-vimeo[label]{id=123}` and friends, on a line of their own.
    pub(super) fn leaf_directive(&mut self, content: &str, indent: &str) -> bool {
        let Some(leaf) = leaf(content) else {
            return false;
        };
        let text = match leaf.url {
            Some(url) if self.mode == Mode::Render => {
                let shown = if leaf.label.is_empty() {
                    url.as_str()
                } else {
                    leaf.label
                };
                format!("[{shown}]({url})")
            }
            _ => leaf.label.to_owned(),
        };
        self.ensure_blank_line();
        if !text.is_empty() {
            self.out.push_str(block_indent(indent));
            self.out.push_str(&text);
            self.out.push_str("\n\n");
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn admonition_openings_are_read_in_all_their_forms() {
        let open = |colons, kind, title| {
            Some(Container::Open {
                colons,
                kind,
                title,
            })
        };
        assert_eq!(container(":::note"), open(3, "note", ""));
        assert_eq!(
            container(":::tip Custom title"),
            open(3, "tip", "Custom title")
        );
        assert_eq!(container(":::success[TL;DR]"), open(3, "success", "TL;DR"));
        assert_eq!(
            container(":::info[A [nested] title] {#x}"),
            open(3, "info", "A [nested] title")
        );
        assert_eq!(container("::::Oproep {#anchor}"), open(4, "Oproep", ""));
        assert_eq!(container(":::  "), Some(Container::Close { colons: 3 }));
        assert_eq!(container("::::"), Some(Container::Close { colons: 4 }));
        assert_eq!(container(":::-x"), None);
        assert_eq!(container("::: note"), None);
    }

    #[test]
    pub(super) fn titles_default_to_the_capitalised_kind_and_unknown_kinds_to_their_name() {
        assert_eq!(title("note", ""), "Note");
        assert_eq!(title("DANGER", ""), "Danger");
        assert_eq!(title("Oproep", ""), "Oproep");
        assert_eq!(title("success", "**TL;DR**"), "TL;DR");
        assert_eq!(title("tip", "**a** and **b**"), "**a** and **b**");
    }

    #[test]
    pub(super) fn leaf_directives_give_their_label_and_video_url() {
        let vimeo = leaf("::video-vimeo[Impressie]{id=981808944}").unwrap();
        assert_eq!(vimeo.label, "Impressie");
        assert_eq!(vimeo.url.as_deref(), Some("https://vimeo.com/981808944"));
        let yt = leaf("::video-youtube[]{ title=\"x y\" id='dQw-4_w' }").unwrap();
        assert_eq!(
            yt.url.as_deref(),
            Some("https://www.youtube.com/watch?v=dQw-4_w")
        );
        assert_eq!(leaf("::video-vimeo[x]{id=\"1\\\"><b\"}").unwrap().url, None);
        assert_eq!(
            leaf("::other[Label]").unwrap(),
            Leaf {
                label: "Label",
                url: None
            }
        );
        assert_eq!(leaf("::x[unclosed"), None);
        assert_eq!(leaf("::x[a] trailing"), None);
        assert_eq!(leaf("::"), None);
    }
}
