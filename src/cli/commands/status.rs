//! `postbode status`: the deliveries that are pending, retrying or dead,
//! with their last error, and the subscribers switched off (since when and
//! why). It reads an existing state and never creates one: a missing state
//! is an error that says so (exit 2), not an empty table.

use std::path::{Path, PathBuf};

use crate::cli::output::{self, JsonPerBlog};
use crate::cli::{Outcome, for_each_blog};
use crate::config::BlogConfig;
use crate::state::{DeliveryRow, DeliveryStatus, DisabledSubscriber, StateError, Store};

/// What `status` shows of one blog.
struct BlogStatus {
    deliveries: Vec<DeliveryRow>,
    disabled: Vec<DisabledSubscriber>,
}

pub async fn run(files: &[PathBuf], json: bool, state: Option<&Path>) -> Outcome {
    let mut rows_json: Vec<serde_json::Value> = Vec::new();
    let mut disabled_json: Vec<serde_json::Value> = Vec::new();
    let outcome = for_each_blog(files, state, async |c| {
        let status = match read(c).await {
            Ok(r) => r,
            Err(e) => {
                output::error(e);
                return Outcome::Fatal;
            }
        };
        let printed = if json {
            rows_json.extend(status.deliveries.iter().map(|r| row_json(c, r)));
            disabled_json.extend(status.disabled.iter().map(|d| disabled_json_of(c, d)));
            Outcome::Ok
        } else {
            print_table(c, &status)
        };
        // Dead deliveries and switched-off subscribers want someone to look.
        let dead = status
            .deliveries
            .iter()
            .any(|r| r.status == DeliveryStatus::Dead);
        if dead || !status.disabled.is_empty() {
            printed.max(Outcome::Problems)
        } else {
            printed
        }
    })
    .await;
    if json {
        // One document for all blogs: each row names its blog.
        let mut doc = JsonPerBlog::default();
        doc.push(&serde_json::json!({
            "deliveries": rows_json,
            "disabled_subscribers": disabled_json,
        }));
        return outcome.max(doc.print());
    }
    outcome
}

async fn read(config: &BlogConfig) -> Result<BlogStatus, StateError> {
    let store = Store::open_existing(&config.state).await?;
    let read = async {
        Ok(BlogStatus {
            deliveries: store.open_deliveries(&config.name).await?,
            disabled: store.disabled_subscriber_rows(&config.name).await?,
        })
    }
    .await;
    store.close().await;
    read
}

fn row_json(config: &BlogConfig, r: &DeliveryRow) -> serde_json::Value {
    serde_json::json!({
        "blog": config.name, "id": r.id, "post": r.post_key, "subscriber": r.subscriber,
        "channel": r.channel, "status": r.status.as_str(), "attempts": r.attempts,
        "next_attempt_at": r.next_attempt_at, "last_error": r.last_error,
    })
}

fn disabled_json_of(config: &BlogConfig, d: &DisabledSubscriber) -> serde_json::Value {
    serde_json::json!({
        "blog": config.name, "subscriber": d.subscriber,
        "disabled_at": d.disabled_at, "reason": d.reason,
    })
}

fn print_table(config: &BlogConfig, status: &BlogStatus) -> Outcome {
    let printed = output::stdout(|out| {
        writeln!(
            out,
            "{:<6}  {:<9}  {:<8}  {:<20}  {:<40}  LAST ERROR",
            "ID", "STATUS", "ATTEMPTS", "SUBSCRIBER", "POST"
        )?;
        for r in &status.deliveries {
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
        if !status.disabled.is_empty() {
            writeln!(out)?;
            writeln!(out, "{:<20}  {:<20}  WHY", "DISABLED SUBSCRIBER", "SINCE")?;
            for d in &status.disabled {
                writeln!(
                    out,
                    "{:<20}  {:<20}  {}",
                    d.subscriber,
                    d.disabled_at.format("%Y-%m-%d %H:%M:%SZ"),
                    d.reason
                )?;
            }
        }
        Ok(())
    });
    let disabled = if status.disabled.is_empty() {
        String::new()
    } else {
        format!(
            ", {} (`postbode retry --dead` or a new target enables them again)",
            output::count(
                status.disabled.len() as u64,
                "disabled subscriber",
                "disabled subscribers"
            )
        )
    };
    output::note(format_args!(
        "{}: {}{disabled}",
        config.name,
        output::count(
            status.deliveries.len() as u64,
            "open delivery",
            "open deliveries"
        )
    ));
    printed
}
