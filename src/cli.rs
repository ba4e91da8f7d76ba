//! The command line: `postbode build | check | posts`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "postbode",
    version,
    about = "Turns a Docusaurus blog into Atom, RSS and JSON feeds",
    after_help = "Exit codes: 0 all good; 1 finished with problems (e.g. posts that could not be read; the others are still published); 2 could not run (unreadable feed definition, unwritable output)."
)]
pub struct Cli {
    /// Use this time instead of the clock for every publication decision
    /// (RFC 3339, e.g. 2025-07-16T00:00:00Z): for tests and reproducible builds.
    #[arg(long, global = true, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the posts and write every feed. Without arguments: every feeds/*.toml.
    Build {
        feed_files: Vec<PathBuf>,
        /// Rebuild even when nothing changed since the last build.
        #[arg(long)]
        force: bool,
    },
    /// Read everything, write nothing; print every problem as path:line:col: message.
    Check { feed_files: Vec<PathBuf> },
    /// Print the posts as postbode understands them.
    Posts {
        feed_file: Option<PathBuf>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 date-time like 2025-07-16T00:00:00Z: {e}"))
}
