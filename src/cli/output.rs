//! Everything postbode prints: problems compiler-style on stderr, tables and
//! JSON on stdout, summary lines, the progress bar. A closed stdout (`postbode
//! status | head`) ends the output quietly instead of panicking.

use std::io::{self, IsTerminal, Write};

use serde::Serialize;

use crate::diag::{self, Diagnostic, Outcome};
use crate::notify::ProgressHook;

/// Prints problems sorted by place, one `path:line:col: message` a line, and
/// says whether any was an error.
pub fn problems(mut problems: Vec<Diagnostic>) -> Outcome {
    diag::sort(&mut problems);
    let stderr = io::stderr();
    let mut err = stderr.lock();
    for p in &problems {
        let _ = writeln!(err, "{p}");
    }
    Outcome::of(&problems)
}

/// `postbode: <message>` on stderr: what went wrong for the whole command
/// or one blog.
pub fn error(message: impl std::fmt::Display) {
    let _ = writeln!(io::stderr(), "postbode: {message}");
}

/// A line for the person at the terminal (summaries, notes) on stderr, so
/// stdout stays clean for data.
pub fn note(message: impl std::fmt::Display) {
    let _ = writeln!(io::stderr(), "{message}");
}

/// Writes to stdout through `f`. A reader that went away (broken pipe) is
/// not an error; any other write error is.
pub fn stdout(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Outcome {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Outcome::Ok,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Outcome::Ok,
        Err(e) => {
            error(format_args!("cannot write to stdout: {e}"));
            Outcome::Fatal
        }
    }
}

/// Pretty JSON and a newline on stdout.
pub fn json(value: &impl Serialize) -> Outcome {
    stdout(|out| {
        serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
        writeln!(out)
    })
}

/// Collects one JSON value per blog and prints one document at the end:
/// the value itself for one blog, an array of them for several, so `--json`
/// output always parses as a single JSON document.
#[derive(Default)]
pub struct JsonPerBlog {
    items: Vec<serde_json::Value>,
}

impl JsonPerBlog {
    pub fn push(&mut self, value: &impl Serialize) {
        match serde_json::to_value(value) {
            Ok(v) => self.items.push(v),
            Err(e) => error(format_args!("cannot encode JSON: {e}")),
        }
    }

    pub fn print(mut self) -> Outcome {
        match self.items.len() {
            0 => Outcome::Ok,
            1 => json(&self.items.remove(0)),
            _ => json(&self.items),
        }
    }
}

/// "1 post", "2 posts": summaries read as sentences.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A bar of deliveries done, drawn only when stderr is a terminal, and the
/// hook through which the notify run moves it.
pub fn progress_bar() -> (indicatif::ProgressBar, Option<ProgressHook>) {
    if !io::stderr().is_terminal() {
        return (indicatif::ProgressBar::hidden(), None);
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} deliveries {wide_bar} {eta}")
    {
        bar.set_style(style);
    }
    let shown = bar.clone();
    let hook = ProgressHook::new(move |p| {
        shown.set_length(p.total);
        shown.set_position(p.done);
    });
    (bar, Some(hook))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_sentences() {
        assert_eq!(count(1u32, "new post", "new posts"), "1 new post");
        assert_eq!(count(0u32, "new post", "new posts"), "0 new posts");
        assert_eq!(count(2u32, "new post", "new posts"), "2 new posts");
    }
}
