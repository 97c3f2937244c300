//! A fresh, empty, migrated database for each test: a SQLite file in memory-backed storage, or
//! a new PostgreSQL database on the server named by `HOSTDECK_TEST_POSTGRES_URL`, dropped when
//! the test ends.

use std::sync::Arc;

use hostdeck_core::Core;
use hostdeck_core::clock::{Clock, SystemClock};
use hostdeck_core::config::{Config, DatabaseConfig};
use hostdeck_core::store::{self, Store};
use secrecy::SecretString;
use sqlx::Connection;

pub const POSTGRES_VAR: &str = "HOSTDECK_TEST_POSTGRES_URL";

pub struct TestDb {
    pub url: String,
    pub store: Arc<dyn Store>,
    cleanup: Cleanup,
}

enum Cleanup {
    Nothing,
    Dir(
        #[expect(dead_code, reason = "held only so its drop removes the directory")]
        tempfile::TempDir,
    ),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDb {
    /// A new SQLite database file. Kept in /dev/shm where there is one, so the durable commits
    /// the store asks for cost nothing in tests.
    pub async fn sqlite() -> Self {
        Self::sqlite_with(16).await
    }

    /// A private in-memory SQLite database: the quickest store there is, for property tests.
    pub async fn sqlite_in_memory() -> Self {
        let url = "sqlite::memory:".to_owned();
        let store = open(&url, 1).await;
        Self {
            url,
            store,
            cleanup: Cleanup::Nothing,
        }
    }

    pub async fn sqlite_with(max_connections: u32) -> Self {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            tempfile::Builder::new()
                .prefix("hostdeck-test")
                .tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        }
        .expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("hostdeck.db").display());
        let store = open(&url, max_connections).await;
        Self {
            url,
            store,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A new PostgreSQL database, or `None` (test skipped) when no server is configured.
    pub async fn postgres() -> Option<Self> {
        Self::postgres_with(16).await
    }

    pub async fn postgres_with(max_connections: u32) -> Option<Self> {
        let admin_url = crate::need(POSTGRES_VAR, "PostgreSQL")?;
        let name = format!(
            "hostdeck_test_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| panic!("cannot reach PostgreSQL at {POSTGRES_VAR}: {error}"));
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("HOSTDECK_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        let url = url.to_string();
        let store = open(&url, max_connections).await;
        Some(Self {
            url,
            store,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// A core over this database with the given clock and config.
    pub async fn core_with(&self, config: Config, clock: Arc<dyn Clock>) -> Core {
        Core::new(config, self.store.clone(), clock)
            .await
            .expect("a core over the test database")
    }

    /// A core with the default config and the given clock.
    pub async fn core(&self, clock: Arc<dyn Clock>) -> Core {
        self.core_with(Config::default(), clock).await
    }

    pub async fn core_now(&self) -> Core {
        self.core(Arc::new(SystemClock)).await
    }

    /// Runs SQL straight on the database, around the store (to prove what the schema refuses).
    pub async fn raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        raw_at(&self.url, sql).await
    }

    /// Makes the database refuse what `when` matches on `table` (`operation` is `INSERT` or
    /// `UPDATE`), as a failing write would, until [`Self::allow`]. One refusal at a time.
    pub async fn refuse(&self, operation: &str, table: &str, when: &str) {
        let sql = if self.url.starts_with("sqlite:") {
            format!(
                "CREATE TRIGGER test_refusal BEFORE {operation} ON {table} WHEN {when} \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
            )
        } else {
            format!(
                "CREATE FUNCTION test_refusal() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
                 CREATE TRIGGER test_refusal BEFORE {operation} ON {table} FOR EACH ROW \
                 WHEN ({when}) EXECUTE FUNCTION test_refusal();"
            )
        };
        self.raw(&sql).await.expect("the refusal is installed");
    }

    /// A new store on the same database, to look at it after the platform closed its own.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        open(&self.url, 2).await
    }

    /// Takes back the refusal [`Self::refuse`] installed on `table`.
    pub async fn allow(&self, table: &str) {
        let sql = if self.url.starts_with("sqlite:") {
            "DROP TRIGGER test_refusal;".to_owned()
        } else {
            format!("DROP TRIGGER test_refusal ON {table}; DROP FUNCTION test_refusal();")
        };
        self.raw(&sql).await.expect("the refusal is removed");
    }
}

/// Runs SQL (one statement or several) straight on the database at `url`, either engine.
pub async fn raw_at(url: &str, sql: &str) -> Result<(), sqlx::Error> {
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await?;
        sqlx::raw_sql(sql)
            .execute(&mut connection)
            .await
            .map(|_| ())
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await?;
        sqlx::raw_sql(sql)
            .execute(&mut connection)
            .await
            .map(|_| ())
    }
}

async fn open(url: &str, max_connections: u32) -> Arc<dyn Store> {
    let config = DatabaseConfig {
        url: SecretString::from(url.to_owned()),
        max_connections,
        ..DatabaseConfig::default()
    };
    store::open(&config)
        .await
        .unwrap_or_else(|error| panic!("open {url}: {error}"))
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime: drop the database from a thread of its own.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let mut admin = sqlx::PgConnection::connect(&admin_url)
                        .await
                        .map_err(std::io::Error::other)?;
                    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await
                        .map_err(std::io::Error::other)?;
                    Ok::<_, std::io::Error>(())
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop the test database {}", self.url);
            }
        }
    }
}

/// Runs each named story (an `async fn(TestDb)`) as two tests, `sqlite` and `postgres`.
#[macro_export]
macro_rules! on_both_engines {
    ($($story:ident),* $(,)?) => {$(
        mod $story {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$story($crate::db::TestDb::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::db::TestDb::postgres().await {
                    super::$story(db).await;
                }
            }
        }
    )*};
}

/// Fails unless every wallet's balance equals the sum of its postings.
pub async fn assert_ledger_exact(store: &dyn Store) {
    let discrepancies = store
        .ledger()
        .ledger_discrepancies()
        .await
        .expect("the ledger check");
    assert!(
        discrepancies.is_empty(),
        "every balance equals its postings: {discrepancies:?}"
    );
}

/// The details of the audit entries of `action` among the latest 200.
pub async fn audit_details(store: &dyn Store, action: &str) -> Vec<serde_json::Value> {
    store
        .audit()
        .audit_log(store::Page::first(200))
        .await
        .expect("the audit log")
        .items
        .into_iter()
        .filter(|record| record.action == action)
        .map(|record| record.detail.unwrap_or_default())
        .collect()
}
