//! Telling a first run from a lost state. A missing, empty (0 bytes) or
//! table-less state file looks exactly like a first run, and a first run
//! announces nothing: a post published since the state was lost would never
//! be announced. So a state leaves two traces of having existed: a marker
//! file beside it (`<state>.id`, holding the id the state keeps in its `meta`
//! table), and, for a daemon, this process's memory of the states it opened.
//! A state missing or empty with either trace is `StateError::Lost` unless
//! the caller starts over on purpose (`--new-state`); a file that is not a
//! postbode state is never touched (`Foreign`): a wrong path must not turn
//! someone else's database into ours.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::SqliteStore;
use crate::state::Located as _;
use crate::state::StateError;

/// What the first bytes of every SQLite 3 database say.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The table sqlx's migrator keeps in every postbode state.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// What is at the state's path before it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Missing,
    /// 0 bytes: a lost state even without a marker (one written by a
    /// postbode from before markers, truncated by a full disk or by hand).
    Empty,
    /// An SQLite file without a single table: a first run that stopped
    /// before its first migration, unless a trace says otherwise.
    Blank,
    Postbode,
}

/// The marker beside a state: `state.db` -> `state.db.id`.
pub fn marker_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".id");
    PathBuf::from(name)
}

/// The states this process opened: a daemon whose state vanishes between two
/// loops knows it had one even when the marker went with it.
fn opened() -> &'static Mutex<BTreeSet<PathBuf>> {
    static OPENED: OnceLock<Mutex<BTreeSet<PathBuf>>> = OnceLock::new();
    OPENED.get_or_init(|| Mutex::new(BTreeSet::new()))
}

/// The path as remembered: absolute (it may not exist, so not canonical).
fn key(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn opened_before(path: &Path) -> bool {
    opened()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&key(path))
}

fn remember(path: &Path) {
    opened()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key(path));
}

/// Why we believe a state existed at `path`, as the end of a sentence; `None`
/// when nothing says so (a real first run).
fn evidence(path: &Path) -> Option<String> {
    if opened_before(path) {
        return Some(" (this process opened it before)".to_string());
    }
    let marker = marker_path(path);
    if marker.exists() {
        return Some(format!(" (its marker {} is still there)", marker.display()));
    }
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        return Some(" (its write-ahead log is still there)".to_string());
    }
    None
}

/// Looks at the file without creating anything.
async fn inspect(path: &Path) -> Result<Found, StateError> {
    let foreign = |why: String| StateError::Foreign {
        path: path.to_path_buf(),
        why,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => {
            return Err(StateError::Open {
                path: path.to_path_buf(),
                source: Box::new(e),
            });
        }
    };
    let mut head = Vec::with_capacity(SQLITE_HEADER.len());
    (&mut file)
        .take(SQLITE_HEADER.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| StateError::Open {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
    if head.is_empty() {
        return Ok(Found::Empty);
    }
    if head != SQLITE_HEADER {
        return Err(foreign("it is not an SQLite database".to_string()));
    }
    let Some(store) = SqliteStore::open_read_only(path).await? else {
        return Ok(Found::Missing);
    };
    let tables: Result<Vec<String>, sqlx::Error> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&store.pool)
            .await;
    store.pool.close().await;
    let tables = tables.map_err(|e| foreign(format!("it cannot be read: {e}")))?;
    if tables.is_empty() {
        Ok(Found::Blank)
    } else if tables.iter().any(|t| t == MIGRATIONS_TABLE) {
        Ok(Found::Postbode)
    } else {
        Err(foreign(format!(
            "an SQLite database with other tables: {}",
            tables.join(", ")
        )))
    }
}

/// How the state was lost, as the end of "the state database …"; `None`
/// when what is there is a state, or nothing that ever was one.
fn why_lost(found: Found, existed: bool) -> Option<&'static str> {
    match found {
        Found::Postbode => None,
        Found::Empty => Some("is empty (0 bytes)"),
        Found::Missing => existed.then_some("is missing"),
        Found::Blank => existed.then_some("has no tables"),
    }
}

fn lost(path: &Path, why: &'static str, evidence: Option<String>) -> StateError {
    StateError::Lost {
        path: path.to_path_buf(),
        why,
        evidence: evidence.unwrap_or_default(),
    }
}

/// For `run`, `notify` and the daemon: opens the state, creating it only on
/// a real first run or when `new_state` says to start over. A state this
/// process opened before is never silently replaced, not even with
/// `new_state` (that is for starting over, not for a daemon losing its state
/// under it).
pub async fn open_for_run(path: &Path, new_state: bool) -> Result<SqliteStore, StateError> {
    let found = inspect(path).await?;
    let evidence = evidence(path);
    let why = why_lost(found, evidence.is_some());
    if let Some(why) = why {
        if !new_state || opened_before(path) {
            return Err(lost(path, why, evidence));
        }
        tracing::warn!(
            state = %path.display(),
            "starting a new state as --new-state asks: the old one {why}; \
             posts published since its last run will not be announced"
        );
        // The old marker goes too: it names the state that was lost.
        for leftover in ["", "-wal", "-shm", ".id"] {
            let mut name = path.as_os_str().to_owned();
            name.push(leftover);
            match std::fs::remove_file(&name) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(StateError::Open {
                        path: path.to_path_buf(),
                        source: Box::new(e),
                    });
                }
                _ => {}
            }
        }
    }
    let store = SqliteStore::open(path).await?;
    never_create_again(&store);
    let id = state_id(&store).await?;
    write_marker(path, &id)?;
    remember(path);
    Ok(store)
}

/// For `status` and `retry`: an existing postbode state, or an error; never
/// creates a state or a marker.
pub async fn open_existing(path: &Path) -> Result<SqliteStore, StateError> {
    match inspect(path).await? {
        Found::Postbode => {
            let store = SqliteStore::open(path).await?;
            never_create_again(&store);
            Ok(store)
        }
        found => {
            let evidence = evidence(path);
            match why_lost(found, evidence.is_some()) {
                Some(why) => Err(lost(path, why, evidence)),
                None => Err(StateError::Missing {
                    path: path.to_path_buf(),
                }),
            }
        }
    }
}

/// For `notify --dry-run`: the state read-only (`None`: a real first run),
/// or `Lost`/`Foreign` as a run would find it; nothing is written.
pub async fn open_for_dry_run(
    path: &Path,
    new_state: bool,
) -> Result<Option<SqliteStore>, StateError> {
    match inspect(path).await? {
        Found::Postbode => SqliteStore::open_read_only(path).await,
        found => {
            let evidence = evidence(path);
            match why_lost(found, evidence.is_some()) {
                Some(why) if !new_state => Err(lost(path, why, evidence)),
                _ => Ok(None),
            }
        }
    }
}

/// Connections the pool opens from now on (it opens them lazily, up to its
/// maximum) must find the file: a state deleted while a run has it open
/// would otherwise come back as a new, empty file mid-run.
fn never_create_again(store: &SqliteStore) {
    let options = (*store.pool.connect_options())
        .clone()
        .create_if_missing(false);
    store.pool.set_connect_options(options);
}

/// The state's id from its `meta` table, made on first use.
async fn state_id(store: &SqliteStore) -> Result<String, StateError> {
    let what = "reading the state's id";
    let fresh = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    sqlx::query("INSERT INTO meta (key, value) VALUES ('id', ?1) ON CONFLICT (key) DO NOTHING")
        .bind(&fresh)
        .execute(&store.pool)
        .await
        .map_err(store.err(what))?;
    sqlx::query_scalar("SELECT value FROM meta WHERE key = 'id'")
        .fetch_one(&store.pool)
        .await
        .map_err(store.err(what))
}

/// Writes the marker when it is missing or names another state (a state
/// restored from elsewhere wins: it is the one that is there).
fn write_marker(path: &Path, id: &str) -> Result<(), StateError> {
    let marker = marker_path(path);
    let current = std::fs::read_to_string(&marker).ok();
    let current = current
        .as_deref()
        .and_then(|s| s.lines().next())
        .map(str::trim);
    if current == Some(id) {
        return Ok(());
    }
    if let Some(other) = current {
        tracing::warn!(
            state = %path.display(),
            "the state's marker named state {other}, the state is {id}: the marker now follows the state"
        );
    }
    let err = |source| StateError::Marker {
        path: marker.clone(),
        source,
    };
    let dir = marker
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    std::io::Write::write_all(&mut tmp, format!("{id}\n").as_bytes()).map_err(err)?;
    tmp.persist(&marker).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqliteConnectOptions;

    use super::*;

    fn remove_state(path: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }

    #[tokio::test]
    async fn a_first_run_creates_the_state_and_a_marker_holding_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = open_for_run(&path, false).await.unwrap();
        let id = state_id(&store).await.unwrap();
        store.pool.close().await;
        assert_eq!(
            std::fs::read_to_string(marker_path(&path)).unwrap(),
            format!("{id}\n")
        );
        // Reopening keeps the id and the marker.
        let again = open_for_run(&path, false).await.unwrap();
        assert_eq!(state_id(&again).await.unwrap(), id);
    }

    #[tokio::test]
    async fn a_state_missing_beside_its_marker_is_lost_until_new_state_makes_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(marker_path(&path), "0123\n").unwrap();
        let err = open_for_run(&path, false).await.unwrap_err();
        assert!(
            matches!(
                &err,
                StateError::Lost {
                    why: "is missing",
                    ..
                }
            ),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("state.db.id is still there"), "{text}");
        assert!(text.contains("--new-state"), "{text}");
        assert!(!path.exists(), "nothing created");
        assert!(matches!(
            open_for_dry_run(&path, false).await,
            Err(StateError::Lost { .. })
        ));
        assert!(open_for_dry_run(&path, true).await.unwrap().is_none());

        let store = open_for_run(&path, true).await.unwrap();
        let id = state_id(&store).await.unwrap();
        assert_ne!(id, "0123");
        assert_eq!(
            std::fs::read_to_string(marker_path(&path)).unwrap().trim(),
            id,
            "the marker follows the new state"
        );
    }

    #[tokio::test]
    async fn an_empty_file_is_a_lost_state_even_without_a_marker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(&path, b"").unwrap();
        let err = open_for_run(&path, false).await.unwrap_err();
        assert!(
            matches!(
                err,
                StateError::Lost {
                    why: "is empty (0 bytes)",
                    ..
                }
            ),
            "{err}"
        );
        assert!(matches!(
            open_existing(&path).await,
            Err(StateError::Lost { .. })
        ));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        assert!(!marker_path(&path).exists());
    }

    #[tokio::test]
    async fn other_files_and_other_databases_are_foreign_and_left_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello\n").unwrap();
        for new_state in [false, true] {
            assert!(matches!(
                open_for_run(&text, new_state).await,
                Err(StateError::Foreign { .. })
            ));
        }
        assert_eq!(std::fs::read_to_string(&text).unwrap(), "hello\n");

        let other = dir.path().join("other.db");
        let options = SqliteConnectOptions::new()
            .filename(&other)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::query("CREATE TABLE invoices (id INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let err = open_for_run(&other, true).await.unwrap_err();
        assert!(err.to_string().contains("invoices"), "{err}");
        assert!(matches!(
            open_existing(&other).await,
            Err(StateError::Foreign { .. })
        ));
        assert!(!marker_path(&other).exists());
    }

    #[tokio::test]
    async fn status_and_retry_never_create_a_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("state.db");
        assert!(matches!(
            open_existing(&path).await,
            Err(StateError::Missing { .. })
        ));
        assert!(!path.parent().unwrap().exists());
    }

    #[tokio::test]
    async fn a_state_this_process_opened_and_lost_is_lost_even_with_new_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        open_for_run(&path, false).await.unwrap().pool.close().await;
        remove_state(&path);
        std::fs::remove_file(marker_path(&path)).unwrap();
        let err = open_for_run(&path, true).await.unwrap_err();
        assert!(
            err.to_string().contains("this process opened it before"),
            "{err}"
        );
        assert!(!path.exists());
    }
}
