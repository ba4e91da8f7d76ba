//! Where a blog's state lives: an SQLite file (the default, one machine) or a
//! PostgreSQL database (several workers on several machines sharing one
//! outbox). A `state` value that starts with `postgres://` or
//! `postgresql://` is a database URL; anything else is a file path.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::diag::redact_url;

/// Overrides `state` in every feed definition: the URL, with its password,
/// stays out of files (a Kubernetes Secret, a systemd credential).
pub const DATABASE_URL_ENV: &str = "POSTBODE_DATABASE_URL";

#[derive(Clone, PartialEq, Eq)]
pub enum StateLocation {
    File(PathBuf),
    Postgres(DatabaseUrl),
}

/// A PostgreSQL URL. It may hold a password, so it prints without its
/// credentials (`Display`, `Debug`); only [`DatabaseUrl::expose`] gives the
/// whole URL, to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

impl StateLocation {
    /// A URL with a PostgreSQL scheme, else a path (relative ones are the
    /// caller's to resolve).
    pub fn parse(value: &str) -> StateLocation {
        let lower = value.trim_start().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            StateLocation::Postgres(DatabaseUrl(value.trim().to_string()))
        } else {
            StateLocation::File(PathBuf::from(value))
        }
    }

    /// `--state`: a URL as [`StateLocation::parse`] reads it, any other
    /// value the path as given (which need not be UTF-8).
    pub fn from_arg(arg: &Path) -> StateLocation {
        match arg.to_str().map(StateLocation::parse) {
            Some(url @ StateLocation::Postgres(_)) => url,
            _ => StateLocation::File(arg.to_path_buf()),
        }
    }

    /// The file, for what only an SQLite state has (its marker, its folder).
    pub fn file(&self) -> Option<&Path> {
        match self {
            StateLocation::File(p) => Some(p),
            StateLocation::Postgres(_) => None,
        }
    }
}

impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::File(p) => write!(f, "{}", p.display()),
            StateLocation::Postgres(url) => url.fmt(f),
        }
    }
}

impl fmt::Debug for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::File(p) => write!(f, "File({p:?})"),
            StateLocation::Postgres(url) => write!(f, "Postgres({url})"),
        }
    }
}

impl From<PathBuf> for StateLocation {
    fn from(p: PathBuf) -> StateLocation {
        StateLocation::File(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_a_postgres_scheme_are_databases_and_print_without_their_password() {
        let s = StateLocation::parse(
            "postgres://bode:geheim@db.internal:5432/postbode?sslmode=require",
        );
        assert!(s.file().is_none());
        let shown = format!("{s} {s:?}");
        assert!(!shown.contains("geheim"), "{shown}");
        assert!(shown.contains("db.internal:5432/postbode"), "{shown}");
        assert!(matches!(
            StateLocation::parse("POSTGRESQL://h/db"),
            StateLocation::Postgres(_)
        ));
        assert_eq!(
            StateLocation::parse("var/state.db").file(),
            Some(Path::new("var/state.db"))
        );
        // A file whose name merely mentions postgres stays a file.
        assert!(StateLocation::parse("postgres-state.db").file().is_some());
    }
}
