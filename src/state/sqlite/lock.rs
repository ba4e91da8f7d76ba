//! Whether the holder of a SQLite run lock is still alive. The lock is a row
//! that only says who holds it (run id, pid, host, process start,
//! heartbeat); deciding if that process still exists needs the operating
//! system, and deciding if a run of *this* process is still going needs a
//! list of the guards not yet dropped. Both live here, apart from the SQL.
//! (A server database needs none of this: its lock dies with the session.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, TimeDelta, Utc};

use crate::state::HEARTBEAT_STALE_AFTER;

/// The lock row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct Holder {
    pub run_id: i64,
    pub pid: i64,
    pub hostname: String,
    pub proc_start: Option<String>,
    pub heartbeat_at: DateTime<Utc>,
}

impl Holder {
    pub fn describe(&self) -> String {
        format!(
            "run #{} (pid {} on {}, last heartbeat {})",
            self.run_id,
            self.pid,
            self.hostname,
            super::ts(self.heartbeat_at)
        )
    }
}

/// This process, as it writes itself into a lock row.
#[derive(Debug)]
pub(in crate::state) struct Me {
    pub pid: u32,
    pub hostname: String,
    pub proc_start: Option<String>,
}

pub(in crate::state) fn me() -> &'static Me {
    static ME: OnceLock<Me> = OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        Me {
            pid,
            hostname: hostname(),
            proc_start: proc_start(i64::from(pid)),
        }
    })
}

fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .chain(std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// Linux: the process's start time in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`, proc(5)). A pid alone can be reused, most visibly in
/// containers where every run is pid 1; pid plus start time cannot.
fn proc_start(pid: i64) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces,
    // so count fields from the last ')': field 3 comes right after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(22 - 3).map(str::to_string)
}

/// Whether a process with this pid (and, when known, this start time) runs on
/// this host. `None` when the system cannot tell (no /proc).
fn process_alive(pid: i64, start: Option<&str>) -> Option<bool> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    if !Path::new(&format!("/proc/{pid}")).exists() {
        return Some(false);
    }
    Some(match start {
        Some(start) => proc_start(pid).is_none_or(|now| now == start),
        None => true,
    })
}

/// Runs of this process whose guard has not been dropped, by database file.
fn live_runs() -> &'static Mutex<BTreeSet<(PathBuf, i64)>> {
    static LIVE: OnceLock<Mutex<BTreeSet<(PathBuf, i64)>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// Registered while a `RunGuard` lives; unregisters itself on drop.
#[derive(Debug)]
pub(super) struct LiveRun {
    key: (PathBuf, i64),
}

impl LiveRun {
    pub fn register(db: &Path, run_id: i64) -> LiveRun {
        let key = (db.to_path_buf(), run_id);
        // A poisoned set is still a correct set: the panic happened elsewhere.
        live_runs()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        LiveRun { key }
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        live_runs()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// Whether the lock holder of `db` still runs at `now`.
pub(super) fn is_alive(db: &Path, holder: &Holder, now: DateTime<Utc>) -> bool {
    let me = me();
    let fresh = || {
        let stale = TimeDelta::from_std(HEARTBEAT_STALE_AFTER).unwrap_or(TimeDelta::MAX);
        now.signed_duration_since(holder.heartbeat_at) < stale
    };
    if holder.hostname != me.hostname {
        // Another machine sharing the file: only the heartbeat can tell.
        return fresh();
    }
    if holder.pid == i64::from(me.pid) && holder.proc_start == me.proc_start {
        // This very process: alive exactly while its guard is.
        return live_runs()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(db.to_path_buf(), holder.run_id));
    }
    process_alive(holder.pid, holder.proc_start.as_deref()).unwrap_or_else(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_an_impossible_pid_is_not() {
        let me = me();
        if Path::new("/proc/self").exists() {
            assert_eq!(
                process_alive(i64::from(me.pid), me.proc_start.as_deref()),
                Some(true)
            );
            assert_eq!(process_alive(i64::from(me.pid), Some("1")), Some(false));
            assert_eq!(process_alive(0x7fff_fff0, None), Some(false));
        }
    }
}
