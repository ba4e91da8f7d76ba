//! Problems found while reading a blog, each with the place it was found, so
//! `check` can print `path:line:col: message` the way compilers do and the run
//! can go on with the posts that are fine.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// How a piece of work ended, worst wins: the library reports it, the CLI
/// turns it into the exit code (0 all good, 1 finished with problems, 2
/// could not run) and the daemon into a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Outcome {
    #[default]
    Ok,
    /// Finished, but something needs a look: a bad post, a dead delivery.
    Problems,
    /// Could not run: unreadable definition, unwritable output, no state.
    Fatal,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Problems => 1,
            Outcome::Fatal => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Problems => "problems",
            Outcome::Fatal => "fatal",
        }
    }

    /// `Problems` when any of `problems` is an error, else `Ok`.
    pub fn of(problems: &[Diagnostic]) -> Outcome {
        if problems.iter().any(Diagnostic::is_error) {
            Outcome::Problems
        } else {
            Outcome::Ok
        }
    }
}

/// Orders problems by file, line and column, as a reader goes through them.
pub fn sort(problems: &mut [Diagnostic]) {
    problems.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// 1-based; `None` when the problem is about the whole file.
    pub line: Option<usize>,
    /// 1-based; only meaningful with `line`.
    pub column: Option<usize>,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn error(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Self::new(path, Severity::Error, message)
    }

    pub fn warning(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Self::new(path, Severity::Warning, message)
    }

    fn new(path: impl AsRef<Path>, severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.as_ref().to_path_buf(),
            line: None,
            column: None,
            severity,
            message: message.into(),
        }
    }

    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, ": {level}: {}", self.message)
    }
}

/// The URL without `user:password@`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => url.to_string(),
        // scp-like `git@host:path` carries no password; anything else that
        // is not a URL is cut at the last `@` to be safe.
        Err(_) if url.contains("://") => match url.split_once("://") {
            Some((scheme, rest)) => {
                format!("{scheme}://{}", rest.rsplit_once('@').map_or(rest, |r| r.1))
            }
            None => url.to_string(),
        },
        Err(_) => url.to_string(),
    }
}

/// An error and its sources, `a: b: c`: the top-level message of an HTTP or
/// TLS error alone rarely says what went wrong. A source whose text the
/// message already holds is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
