//! `postbode status`: the deliveries that are pending, retrying or dead,
//! with their last error.

use std::path::{Path, PathBuf};

use crate::cli::output::{self, JsonPerBlog};
use crate::cli::{Outcome, for_each_blog};
use crate::config::BlogConfig;
use crate::state::{DeliveryRow, DeliveryStatus, Store};

pub async fn run(files: &[PathBuf], json: bool, state: Option<&Path>) -> Outcome {
    let mut rows_json: Vec<serde_json::Value> = Vec::new();
    let outcome = for_each_blog(files, state, async |c| {
        let rows = match rows(c).await {
            Ok(r) => r,
            Err(e) => {
                output::error(e);
                return Outcome::Fatal;
            }
        };
        let printed = if json {
            rows_json.extend(rows.iter().map(row_json));
            Outcome::Ok
        } else {
            print_table(c, &rows)
        };
        let dead = if rows.iter().any(|r| r.status == DeliveryStatus::Dead) {
            Outcome::Problems
        } else {
            Outcome::Ok
        };
        printed.max(dead)
    })
    .await;
    if json {
        // One array of rows for all blogs: each row names its blog.
        let mut doc = JsonPerBlog::default();
        doc.push(&rows_json);
        return outcome.max(doc.print());
    }
    outcome
}

async fn rows(config: &BlogConfig) -> Result<Vec<DeliveryRow>, crate::state::StateError> {
    let store = Store::open(&config.state).await?;
    store.open_deliveries(&config.name).await
}

fn row_json(r: &DeliveryRow) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "post": r.post_key, "subscriber": r.subscriber, "channel": r.channel,
        "status": r.status.as_str(), "attempts": r.attempts,
        "next_attempt_at": r.next_attempt_at, "last_error": r.last_error,
    })
}

fn print_table(config: &BlogConfig, rows: &[DeliveryRow]) -> Outcome {
    let printed = output::stdout(|out| {
        writeln!(
            out,
            "{:<6}  {:<9}  {:<8}  {:<20}  {:<40}  LAST ERROR",
            "ID", "STATUS", "ATTEMPTS", "SUBSCRIBER", "POST"
        )?;
        for r in rows {
            writeln!(
                out,
                "{:<6}  {:<9}  {:<8}  {:<20}  {:<40}  {}",
                r.id,
                r.status.as_str(),
                r.attempts,
                r.subscriber,
                r.post_key,
                r.last_error.as_deref().unwrap_or("")
            )?;
        }
        Ok(())
    });
    output::note(format_args!(
        "{}: {}",
        config.name,
        output::count(rows.len() as u64, "open delivery", "open deliveries")
    ));
    printed
}
