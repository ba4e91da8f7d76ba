//! PostgreSQL for the integration tests: which store the current test's
//! blogs use, a database of its own per blog, and `on_both_stores!`, which
//! runs one test body once with an SQLite file and once with PostgreSQL.
//!
//! The server: `POSTBODE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), whose user may create
//! databases. Without one the PostgreSQL variants print one line and pass,
//! unless `POSTBODE_REQUIRE_POSTGRES=1` (CI) makes that a failure.

use std::cell::Cell;
use std::time::Duration;

use sqlx::Connection as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

thread_local! {
    /// The store `TestBlog::new` gives the blogs of the test running on
    /// this thread (each test has a thread of its own).
    static BACKEND: Cell<Backend> = const { Cell::new(Backend::Sqlite) };
}

pub fn backend() -> Backend {
    BACKEND.with(Cell::get)
}

/// Runs `body` with the blogs it makes on `backend`; false (the test is
/// skipped) when that backend's server is missing.
pub fn with_backend(backend: Backend, body: impl FnOnce()) {
    if backend == Backend::Postgres && !available() {
        return;
    }
    BACKEND.with(|b| b.set(backend));
    body();
}

/// Each listed `fn name()` becomes two tests, `<module>::sqlite::name` and
/// `<module>::postgres::name`: one body, both stores.
#[macro_export]
macro_rules! on_both_stores {
    ([$($test:ident),+ $(,)?]) => {
        mod sqlite {
            $(
                #[test]
                fn $test() {
                    $crate::pg::with_backend($crate::pg::Backend::Sqlite, super::$test)
                }
            )+
        }
        mod postgres {
            $(
                #[test]
                fn $test() {
                    $crate::pg::with_backend($crate::pg::Backend::Postgres, super::$test)
                }
            )+
        }
    };
}

pub fn server_url() -> String {
    std::env::var("POSTBODE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Whether the test server answers (one line on stderr when not); panics
/// instead when `POSTBODE_REQUIRE_POSTGRES=1`.
pub fn available() -> bool {
    static UP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *UP.get_or_init(|| {
        let url = url::Url::parse(&server_url()).expect("POSTBODE_TEST_DATABASE_URL is a URL");
        let host = url.host_str().unwrap_or("127.0.0.1").to_string();
        let port = url.port().unwrap_or(5432);
        let up = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .ok()
            .and_then(|mut a| a.next())
            .is_some_and(|addr| {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
            });
        if !up {
            if std::env::var("POSTBODE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("POSTBODE_REQUIRE_POSTGRES=1 but no PostgreSQL answers at {host}:{port}");
            }
            eprintln!("skipping the PostgreSQL variants: no server at {host}:{port}");
        }
        up
    })
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A database of its own with a random name, dropped (with any connection
/// still open to it) when this is dropped.
pub struct TestDatabase {
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn create() -> TestDatabase {
        let name = format!("postbode_it_{:016x}", fastrand::u64(..));
        block_on(async {
            let mut admin = sqlx::PgConnection::connect(&server_url()).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
            admin.close().await.unwrap();
        });
        let mut url = url::Url::parse(&server_url()).unwrap();
        url.set_path(&name);
        TestDatabase {
            name,
            url: url.to_string(),
        }
    }

    /// One query's first column as text, for tests that look at the state.
    pub fn query_strings(&self, sql: &str) -> Vec<String> {
        let sql = sql.to_string();
        block_on(async {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
            rows
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A thread of its own: the drop may happen inside a runtime.
        let dropped = std::thread::spawn(move || {
            block_on(async {
                let mut admin = sqlx::PgConnection::connect(&server_url()).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
