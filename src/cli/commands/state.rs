//! `postbode state migrate`: an SQLite state copied into PostgreSQL.

use std::path::Path;

use crate::cli::Outcome;
use crate::cli::output::{self, count};
use crate::config::StateLocation;
use crate::config::state::DATABASE_URL_ENV;
use crate::state::migrate;

pub async fn migrate(from: &Path, to: &str, json: bool) -> Outcome {
    // `--to env`: the URL (and its password) from the environment, not
    // from the command line, which other users of the machine can read.
    let to = if to == "env" {
        match std::env::var(DATABASE_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                output::error(format_args!("--to env: {DATABASE_URL_ENV} is not set"));
                return Outcome::Fatal;
            }
        }
    } else {
        to.to_string()
    };
    let StateLocation::Postgres(url) = StateLocation::parse(&to) else {
        output::error(format_args!(
            "--to {}: not a PostgreSQL URL (postgres://user@host/database)",
            crate::diag::redact_url(&to)
        ));
        return Outcome::Fatal;
    };
    match migrate::sqlite_to_postgres(from, &url).await {
        Ok(copied) if json => output::json(&copied),
        Ok(c) => output::stdout(|out| {
            writeln!(
                out,
                "copied {}, {}, {} and {} from {} into {url}",
                count(c.posts, "post", "posts"),
                count(c.deliveries, "delivery", "deliveries"),
                count(c.runs, "run", "runs"),
                count(
                    c.disabled_subscribers,
                    "disabled subscriber",
                    "disabled subscribers"
                ),
                from.display(),
            )
        }),
        Err(e) => {
            output::error(format_args!("{e}"));
            Outcome::Fatal
        }
    }
}
