//! The PostgreSQL backend of the state store: for operators who run several
//! workers (Kubernetes replicas, several machines) against one database, or
//! want no single disk to hold the state. Migrated on open with its own
//! embedded migrations (`src/state/postgres/migrations/`), which produce the
//! same logical schema as SQLite's.
//!
//! What differs from SQLite is how runs share a blog (see `runs.rs`): there
//! is no exclusive run lock. Any number of runs of a blog work at once:
//! planning is serialised by a transaction-scoped advisory lock per blog
//! (`record`), and deliveries are claimed with `FOR UPDATE SKIP LOCKED`
//! under a lease that the claiming run renews (`heartbeat`) while it sends.
//! A run whose session ends (its process killed) loses its leases at once,
//! one whose machine vanishes when they expire.
//!
//! Times are passed in (`now`) as on SQLite, so `--now` and the tests
//! control the clock; leases compare the runs' clocks, which is why the
//! hosts of one installation need synchronised clocks (NTP), as any lease
//! does.

mod outbox;
mod queries;
mod runs;
mod subscribers;
pub(in crate::state) mod subscriptions;

use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Located, StateError};
use crate::config::DatabaseUrl;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/state/postgres/migrations");

/// The channel `record` notifies (with the blog's name) when it planned
/// deliveries: idle daemons `LISTEN` on it and send at once.
pub const PLANNED_CHANNEL: &str = "postbode_planned";

/// How long a query waits for a free connection, or a connection for the
/// server: a server that is down is an error within this time, not a hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The state in one PostgreSQL database. Cheap to clone: clones share one
/// connection pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// For the connections outside the pool; shared, as it is large.
    options: Arc<PgConnectOptions>,
    /// The URL without credentials, for messages.
    name: Arc<PathBuf>,
}

impl PgStore {
    /// Connects and migrates.
    pub async fn open(url: &DatabaseUrl) -> Result<PgStore, StateError> {
        let store = PgStore::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to a database that already holds a postbode state, for
    /// `status`, `retry` and `history` (`Missing` when it holds none), and
    /// brings its schema up to date.
    pub async fn open_existing(url: &DatabaseUrl) -> Result<PgStore, StateError> {
        let store = PgStore::connect(url).await?;
        if !store.has_schema().await? {
            return Err(StateError::Missing { path: store.at() });
        }
        store.migrate().await?;
        Ok(store)
    }

    /// For `--dry-run`: connects, migrates nothing and writes nothing.
    /// `None` when the database holds no postbode state yet (a first run).
    pub async fn open_read_only(url: &DatabaseUrl) -> Result<Option<PgStore>, StateError> {
        let store = PgStore::connect(url).await?;
        if store.has_schema().await? {
            Ok(Some(store))
        } else {
            store.pool.close().await;
            Ok(None)
        }
    }

    async fn connect(url: &DatabaseUrl) -> Result<PgStore, StateError> {
        let name = Arc::new(PathBuf::from(url.to_string()));
        let open_err = |e: sqlx::Error| StateError::Open {
            path: name.as_ref().clone(),
            source: Box::new(e),
        };
        let options = PgConnectOptions::from_str(url.expose())
            .map_err(open_err)?
            .application_name("postbode");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        Ok(PgStore {
            pool,
            options: Arc::new(options),
            name,
        })
    }

    async fn migrate(&self) -> Result<(), StateError> {
        // sqlx's migrator takes an advisory lock of its own: replicas
        // starting together migrate once.
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StateError::Migrate {
                path: self.at(),
                source: Box::new(e),
            })
    }

    async fn has_schema(&self) -> Result<bool, StateError> {
        sqlx::query_scalar(
            "SELECT to_regclass('_sqlx_migrations') IS NOT NULL
                AND to_regclass('deliveries') IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("looking for a postbode state"))
    }

    /// The pool, for `state migrate`.
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A connection of its own, outside the pool: it holds a run's session
    /// lock, or listens for planned deliveries.
    async fn dedicated(&self) -> Result<sqlx::PgConnection, sqlx::Error> {
        use sqlx::ConnectOptions as _;
        tokio::time::timeout(CONNECT_TIMEOUT, self.options.connect())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    /// Blog names whose deliveries were planned, as `record` announces them
    /// on [`PLANNED_CHANNEL`], for as long as the receiver is kept. The
    /// listener reconnects by itself after a lost connection.
    pub async fn planned(&self) -> Result<tokio::sync::mpsc::Receiver<String>, StateError> {
        let what = "listening for planned deliveries";
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool)
            .await
            .map_err(self.err(what))?;
        listener
            .listen(PLANNED_CHANNEL)
            .await
            .map_err(self.err(what))?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        if tx.send(n.payload().to_string()).await.is_err() {
                            return;
                        }
                    }
                    // The connection was lost and is re-established by the
                    // next call; what was notified meanwhile is found by the
                    // next regular round.
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!("listening for planned deliveries: {e}");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

impl Located for PgStore {
    fn at(&self) -> PathBuf {
        self.name.as_ref().clone()
    }
}

impl_state_store!(PgStore);

#[cfg(test)]
pub(crate) mod tests;
