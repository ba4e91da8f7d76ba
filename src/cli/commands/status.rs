//! `postbode status`: the deliveries that are pending, held for a digest,
//! retrying or dead, with when each is tried next and its last error, and
//! the subscribers switched off (since when and why). It reads an existing
//! state and never creates one: a missing state is an error that says so
//! (exit 2), not an empty table.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::cli::output::{self, JsonPerBlog};
use crate::cli::{Outcome, for_each_blog};
use crate::config::BlogConfig;
use crate::state::{DeliveryRow, DeliveryStatus, DisabledSubscriber, StateError, Store};

/// What `status` shows of one blog.
struct BlogStatus {
    deliveries: Vec<DeliveryRow>,
    disabled: Vec<DisabledSubscriber>,
}

pub async fn run(
    files: &[PathBuf],
    now: DateTime<Utc>,
    json: bool,
    state: Option<&Path>,
) -> Outcome {
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
            rows_json.extend(status.deliveries.iter().map(|r| row_json(c, r, now)));
            disabled_json.extend(status.disabled.iter().map(|d| disabled_json_of(c, d)));
            Outcome::Ok
        } else {
            print_table(c, &status, now)
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

/// The status a person reads: a pending row waiting for its digest's time
/// is "held".
fn shown_status(r: &DeliveryRow, now: DateTime<Utc>) -> &'static str {
    match r.status {
        DeliveryStatus::Pending if r.hold_until.is_some_and(|t| t > now) => "held",
        s => s.as_str(),
    }
}

/// When the row is tried next: a held digest at its hold time, a retry at
/// the end of its backoff, a row being sent when its lease ends (should the
/// run die); `None` for a dead row (never, until `retry --dead`). A due
/// pending row goes out with the next notify: `now`.
fn next_attempt(r: &DeliveryRow, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match r.status {
        DeliveryStatus::Dead | DeliveryStatus::Sent => None,
        _ => {
            let next = r.next_attempt_at.unwrap_or(now);
            Some(r.hold_until.map_or(next, |h| h.max(next)))
        }
    }
}

fn row_json(config: &BlogConfig, r: &DeliveryRow, now: DateTime<Utc>) -> serde_json::Value {
    // After `retry --dead` the error is from before the retry: it is not
    // this (new) attempt's error.
    let (last_error, before_retry) = if r.restarted() {
        (None, r.last_error.as_deref())
    } else {
        (r.last_error.as_deref(), None)
    };
    serde_json::json!({
        "blog": config.name, "id": r.id, "post": r.post_key, "subscriber": r.subscriber,
        "channel": r.channel, "status": shown_status(r, now), "attempts": r.attempts,
        "previous_attempts": r.previous_attempts,
        "next_attempt_at": next_attempt(r, now), "hold_until": r.hold_until,
        "last_error": last_error, "last_error_before_retry": before_retry,
    })
}

fn disabled_json_of(config: &BlogConfig, d: &DisabledSubscriber) -> serde_json::Value {
    serde_json::json!({
        "blog": config.name, "subscriber": d.subscriber,
        "disabled_at": d.disabled_at, "reason": d.reason,
    })
}

fn when(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        None => "-".into(),
        Some(t) if t <= now => "now".into(),
        Some(t) => t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
    }
}

fn attempts(r: &DeliveryRow) -> String {
    if r.previous_attempts > 0 {
        format!("{} (+{} before retry)", r.attempts, r.previous_attempts)
    } else {
        r.attempts.to_string()
    }
}

fn last_error(r: &DeliveryRow) -> String {
    match (&r.last_error, r.restarted()) {
        (Some(e), true) => format!("last error before retry: {e}"),
        (Some(e), false) => e.clone(),
        (None, _) => String::new(),
    }
}

fn print_table(config: &BlogConfig, status: &BlogStatus, now: DateTime<Utc>) -> Outcome {
    let printed = output::stdout(|out| {
        writeln!(
            out,
            "{:<6}  {:<8}  {:<8}  {:<20}  {:<20}  {:<40}  LAST ERROR",
            "ID", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "SUBSCRIBER", "POST"
        )?;
        for r in &status.deliveries {
            writeln!(
                out,
                "{:<6}  {:<8}  {:<8}  {:<20}  {:<20}  {:<40}  {}",
                r.id,
                shown_status(r, now),
                attempts(r),
                when(next_attempt(r, now), now),
                r.subscriber,
                r.post_key,
                last_error(r)
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
    output::note(format_args!("{}: {}", config.name, summary(status, now)));
    printed
}

/// "3 open deliveries (1 pending, 1 held for a digest, 1 dead), 1 disabled
/// subscriber (…)": the parts that are not zero, in the order a delivery
/// goes through them.
fn summary(status: &BlogStatus, now: DateTime<Utc>) -> String {
    let mut by: Vec<(&str, u64)> = ["pending", "held", "sending", "retrying", "dead"]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
    for r in &status.deliveries {
        let shown = shown_status(r, now);
        if let Some(slot) = by.iter_mut().find(|(s, _)| *s == shown) {
            slot.1 += 1;
        }
    }
    let parts: Vec<String> = by
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|&(s, n)| match s {
            "held" => format!("{n} held for a digest"),
            "sending" => format!("{n} being sent"),
            s => format!("{n} {s}"),
        })
        .collect();
    let mut line = output::count(
        status.deliveries.len() as u64,
        "open delivery",
        "open deliveries",
    );
    if !parts.is_empty() {
        line.push_str(&format!(" ({})", parts.join(", ")));
    }
    if !status.disabled.is_empty() {
        line.push_str(&format!(
            ", {} (`postbode retry --dead` or a new target enables them again)",
            output::count(
                status.disabled.len() as u64,
                "disabled subscriber",
                "disabled subscribers"
            )
        ));
    }
    line
}
