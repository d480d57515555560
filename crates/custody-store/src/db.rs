//! [`Store`]: one handle over either backend, opening, migrations, and the helpers every
//! operation shares (backend dispatch, transactions, error mapping, input checks).
//!
//! Every query is written once with `$n` placeholders, which SQLite and PostgreSQL both
//! accept, and expanded for each backend by [`on_pool!`] and [`in_tx!`]; the two schemas
//! differ only in type names (see `migrations/`).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{BackendError, StoreError};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How long a connection waits for a SQLite write lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an operation waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The store: a cheap, cloneable handle on a pool of SQLite or PostgreSQL connections.
///
/// Open it with [`Store::open`], [`Store::open_sqlite`] or [`Store::open_postgres`];
/// the embedded migrations of the backend run on open. All operations are async and
/// every one is a single statement or a single transaction.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Arc<Backend>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pool's own Debug would print connect options, PostgreSQL password included.
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .finish()
    }
}

/// Runs `$body` with `$pool` bound to the backend's pool; the body is expanded once per
/// backend, so the same SQL and binding code serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &*$store.backend {
            $crate::db::Backend::Sqlite($pool) => $body,
            $crate::db::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` inside one write transaction bound to `$tx`, commits if `$body` returns
/// `Ok`, and rolls back (by dropping the transaction) otherwise. SQLite transactions
/// start with `BEGIN IMMEDIATE`, so they take the write lock up front and never fail
/// half-way on a lock upgrade.
macro_rules! in_tx {
    ($store:expr, $op:literal, $tx:ident => $body:expr) => {{
        match &*$store.backend {
            $crate::db::Backend::Sqlite(pool) => {
                let mut $tx = pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(|e| $crate::db::backend($op, e))?;
                let out: Result<_, $crate::StoreError> = $body;
                if out.is_ok() {
                    $tx.commit()
                        .await
                        .map_err(|e| $crate::db::backend($op, e))?;
                }
                out
            }
            $crate::db::Backend::Postgres(pool) => {
                let mut $tx = pool
                    .begin()
                    .await
                    .map_err(|e| $crate::db::backend($op, e))?;
                let out: Result<_, $crate::StoreError> = $body;
                if out.is_ok() {
                    $tx.commit()
                        .await
                        .map_err(|e| $crate::db::backend($op, e))?;
                }
                out
            }
        }
    }};
}
pub(crate) use in_tx;

impl Store {
    /// Opens the store named by `url`: `sqlite:PATH` / `sqlite://PATH` (created if
    /// missing) or `postgres://...` / `postgresql://...`.
    ///
    /// # Errors
    /// [`StoreError::Open`] for an unknown scheme or an unusable URL (the URL is not
    /// repeated in the message), [`StoreError::Migrate`] if the schema cannot be brought
    /// up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Self::open_sqlite(Path::new(path)).await;
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::open_postgres(url).await;
        }
        Err(StoreError::Open {
            reason: "unknown URL scheme (expected sqlite: or postgres:)",
            source: None,
        })
    }

    /// Opens (creating if missing, mode 0600 on Unix) the SQLite database at `path`, in
    /// WAL mode with foreign keys enforced, and migrates it.
    ///
    /// # Errors
    /// [`StoreError::Open`] if the file cannot be created or opened,
    /// [`StoreError::Migrate`] if the schema cannot be brought up to date.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        if path.as_os_str().is_empty() {
            return Err(StoreError::Open {
                reason: "empty SQLite path",
                source: None,
            });
        }
        create_private_file(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open {
                reason: "cannot open the SQLite database",
                source: Some(BackendError::new(e)),
            })?;
        SQLITE_MIGRATIONS
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate {
                backend: "sqlite",
                source: BackendError::new(e),
            })?;
        Ok(Self {
            backend: Arc::new(Backend::Sqlite(pool)),
        })
    }

    /// Connects to PostgreSQL at `url` and migrates the schema on the connection's
    /// `search_path` (which the URL can set: `?options=-c%20search_path%3Dname`).
    ///
    /// # Errors
    /// [`StoreError::Open`] if the URL does not parse or the server cannot be reached,
    /// [`StoreError::Migrate`] if the schema cannot be brought up to date.
    pub async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|_| StoreError::Open {
            reason: "the PostgreSQL URL does not parse",
            source: None,
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open {
                reason: "cannot connect to PostgreSQL",
                source: Some(BackendError::new(e)),
            })?;
        POSTGRES_MIGRATIONS
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate {
                backend: "postgres",
                source: BackendError::new(e),
            })?;
        Ok(Self {
            backend: Arc::new(Backend::Postgres(pool)),
        })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match &*self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Checks that the database answers (for readiness probes).
    ///
    /// # Errors
    /// [`StoreError::Backend`] if it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|r| r.rows_affected()))
            .map(|_| ())
            .map_err(|e| backend("ping", e))
    }

    /// Closes every pooled connection; later operations fail.
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await);
    }
}

/// Creates the database file with owner-only permissions before SQLite does, so the
/// file never exists with the umask's wider mode.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop).map_err(|e| StoreError::Open {
        reason: "cannot create the SQLite file",
        source: Some(BackendError::new(e)),
    })
}

/// Wraps a driver error met during `operation`.
pub(crate) fn backend(operation: &'static str, err: sqlx::Error) -> StoreError {
    StoreError::Backend {
        operation,
        source: BackendError::new(err),
    }
}

/// Maps constraint violations of an insert or update to the errors callers act on:
/// unique -> `Conflict`, foreign key -> `NotFound` (a referenced record is missing, or
/// belongs to another tenant or class), check -> `Invalid`; anything else -> `Backend`.
pub(crate) fn write_error(
    operation: &'static str,
    entity: &'static str,
    referenced: &'static str,
    err: sqlx::Error,
) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict {
                entity,
                reason: "already exists",
            };
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound { entity: referenced };
        }
        if db.is_check_violation() {
            return StoreError::Invalid {
                field: entity,
                reason: "violates a schema constraint",
            };
        }
    }
    backend(operation, err)
}

/// Converts a stored digest column back to 32 bytes.
pub(crate) fn digest(entity: &'static str, bytes: Vec<u8>) -> Result<crate::Digest, StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt {
        entity,
        reason: "digest is not 32 bytes",
    })
}

/// Checks a human-readable text field: 1 to `max` characters, no control characters.
pub(crate) fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::Invalid {
            field,
            reason: "must not be empty",
        });
    }
    if value.chars().count() > max {
        return Err(StoreError::Invalid {
            field,
            reason: "too long",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(StoreError::Invalid {
            field,
            reason: "must not contain control characters",
        });
    }
    Ok(())
}

/// Checks a machine name (group, action, function): 1 to 64 of `[a-z0-9_]` plus, when
/// `dots` is set, `.`.
pub(crate) fn check_name(field: &'static str, value: &str, dots: bool) -> Result<(), StoreError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_') || (dots && b == b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field,
            reason: if dots {
                "expected 1 to 64 characters of [a-z0-9_.]"
            } else {
                "expected 1 to 64 characters of [a-z0-9_]"
            },
        })
    }
}

/// Checks that `value` is JSON (of any shape, or an object when `object` is set).
pub(crate) fn check_json(field: &'static str, value: &str, object: bool) -> Result<(), StoreError> {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) if !object => Ok(()),
        Ok(_) => Err(StoreError::Invalid {
            field,
            reason: "must be a JSON object",
        }),
        Err(_) => Err(StoreError::Invalid {
            field,
            reason: "must be valid JSON",
        }),
    }
}

/// Checks that a time window is not empty.
pub(crate) fn check_window(field: &'static str, start: i64, end: i64) -> Result<(), StoreError> {
    if end > start {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field,
            reason: "must be later than the start of its window",
        })
    }
}
