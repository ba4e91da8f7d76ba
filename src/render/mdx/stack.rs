//! What is open while the pass runs: admonitions and elements whose end tag
//! is expected, so that an end tag closes the right thing, children of flow
//! elements lose their indentation, and whatever is left open at the end is
//! closed and reported.

use super::{MAX_DEPTH, Mode, Pre};

/// An open container: an admonition or an element whose end tag is expected.
#[derive(Debug)]
pub(super) struct Frame {
    pub(super) id: u32,
    pub(super) kind: FrameKind,
    /// Source offset of the opening, for "not closed" warnings.
    pub(super) at: usize,
    /// Opened on a line of its own: its children may be indented, and that
    /// indentation is removed (MDX has no indented code blocks).
    pub(super) flow: bool,
    pub(super) dedent: Option<usize>,
}

#[derive(Debug)]
pub(super) enum FrameKind {
    Admonition {
        colons: usize,
    },
    Element {
        name: String,
        /// What to write when it closes (JSX components only).
        close: String,
        jsx: bool,
    },
}

impl Pre<'_, '_> {
    pub(super) fn push_frame(&mut self, kind: FrameKind, at: usize, flow: bool) -> Option<u32> {
        if self.stack.len() >= MAX_DEPTH {
            self.too_deep(at);
            return None;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.stack.push(Frame {
            id,
            kind,
            at,
            flow,
            dedent: None,
        });
        Some(id)
    }

    pub(super) fn push_element(
        &mut self,
        name: &str,
        close: String,
        jsx: bool,
        at: usize,
    ) -> Option<u32> {
        let kind = FrameKind::Element {
            name: name.to_owned(),
            close,
            jsx,
        };
        self.push_frame(kind, at, false)
    }

    /// Closes the innermost open element called `name` (not looking past an
    /// admonition) and any left open inside it; returns the HTML to write.
    pub(super) fn close_element(&mut self, name: &str) -> Option<String> {
        let floor = self
            .stack
            .iter()
            .rposition(|f| matches!(f.kind, FrameKind::Admonition { .. }))
            .map_or(0, |i| i + 1);
        let idx = self.stack[floor..]
            .iter()
            .rposition(|f| matches!(&f.kind, FrameKind::Element { name: n, .. } if n == name))?
            + floor;
        Some(self.pop_to(idx))
    }

    /// Pops frames down to and including `idx`, returning the end tags of
    /// the JSX elements among them.
    pub(super) fn pop_to(&mut self, idx: usize) -> String {
        let mut html = String::new();
        while self.stack.len() > idx {
            let is_target = self.stack.len() - 1 == idx;
            let Some(frame) = self.stack.pop() else {
                break;
            };
            if let FrameKind::Element { close, jsx, name } = frame.kind
                && jsx
            {
                if self.mode == Mode::Render {
                    html.push_str(&close);
                }
                if !is_target {
                    self.warn(frame.at, format!("<{name}> is not closed"));
                }
            }
        }
        html
    }

    pub(super) fn close_all(&mut self) {
        while let Some(frame) = self.stack.pop() {
            match frame.kind {
                FrameKind::Admonition { .. } => {
                    self.warn(frame.at, "admonition is not closed with `:::`".to_owned());
                    if self.mode == Mode::Render {
                        self.isolated("", "</div>", true);
                    }
                }
                FrameKind::Element { name, close, jsx } if jsx => {
                    self.warn(frame.at, format!("<{name}> is not closed"));
                    if self.mode == Mode::Render {
                        self.isolated("", &close, true);
                    }
                }
                FrameKind::Element { .. } => {}
            }
        }
        // A link left open never wrote the embeds inside it.
        let links = std::mem::take(&mut self.pending_links);
        if self.mode == Mode::Render && !links.is_empty() {
            self.isolated("", links.trim(), false);
        }
    }

    pub(super) fn mark_flow(&mut self, id: Option<u32>) {
        if let Some(id) = id
            && let Some(frame) = self.stack.iter_mut().rev().find(|f| f.id == id)
        {
            frame.flow = true;
        }
    }
}
