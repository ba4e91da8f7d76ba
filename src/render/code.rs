//! Where code is in Markdown source: fenced code blocks and inline code
//! spans. Code is copied untouched by the MDX pass and is no place for a
//! truncate marker, so both the pass and the summary need to see it the way
//! CommonMark does, before any parser has run.

/// A code fence: its character and length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fence {
    ch: u8,
    len: usize,
    /// Indentation removed from the opening line (the MDX pass removes the
    /// indentation of children of components, and the code inside loses as
    /// much as its fence did).
    pub dedent: usize,
}

impl Fence {
    /// The fence opened by a (left-trimmed) line, if any.
    pub(crate) fn open(line: &str) -> Option<Fence> {
        let b = line.as_bytes();
        let ch = *b.first()?;
        if ch != b'`' && ch != b'~' {
            return None;
        }
        let len = b.iter().take_while(|&&c| c == ch).count();
        // CommonMark: a backtick fence's info string has no backticks.
        let ok = len >= 3 && (ch == b'~' || !line[len..].contains('`'));
        ok.then_some(Fence { ch, len, dedent: 0 })
    }

    pub(crate) fn closed_by(self, line: &str) -> bool {
        let b = line.trim().as_bytes();
        b.len() >= self.len && b.iter().all(|&c| c == self.ch)
    }
}

/// End of the backtick run of exactly `n` that closes a code span opened
/// just before `from`, looking no further than `line_end`.
pub(crate) fn span_end(b: &[u8], from: usize, line_end: usize, n: usize) -> Option<usize> {
    let mut j = from;
    while j < line_end {
        let k = b[j..line_end].iter().position(|&c| c == b'`')? + j;
        let m = b[k..line_end].iter().take_while(|&&c| c == b'`').count();
        if m == n {
            return Some(k + m);
        }
        j = k + m;
    }
    None
}

/// Byte ranges of the inline code spans on a line.
pub(crate) fn spans(line: &str) -> Vec<(usize, usize)> {
    let b = line.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'`' {
            i += 1;
            continue;
        }
        let n = b[i..].iter().take_while(|&&c| c == b'`').count();
        match span_end(b, i + n, b.len(), n) {
            Some(end) => {
                spans.push((i, end));
                i = end;
            }
            None => i += n,
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_open_with_three_backticks_or_tildes_and_close_with_as_many() {
        let f = Fence::open("```js").unwrap();
        assert!(f.closed_by("````") && f.closed_by("  ``` ") && !f.closed_by("~~~"));
        assert!(Fence::open("``").is_none() && Fence::open("``` a`b").is_none());
        assert!(Fence::open("~~~ a`b").is_some());
    }

    #[test]
    fn code_spans_close_only_with_a_run_of_the_same_length() {
        assert_eq!(spans("a `x` b ``y`z`` c"), vec![(2, 5), (8, 15)]);
        assert_eq!(spans("`` unclosed ` x"), vec![]);
    }
}
