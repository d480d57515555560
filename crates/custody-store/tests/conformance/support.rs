//! Per-test databases: a fresh SQLite file in a temp dir, or a fresh PostgreSQL schema
//! (dropped afterwards) on the server at `CUSTODY_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`).

use std::str::FromStr;

use custody_store::{Store, StoreError};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct TestDb {
    pub store: Store,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(
        #[allow(dead_code, reason = "held so the temp dir lives as long as the store")]
        tempfile::TempDir,
    ),
    Postgres {
        url: String,
        schema: String,
        done: bool,
    },
}

pub async fn sqlite() -> Option<TestDb> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_sqlite(&dir.path().join("custody.db"))
        .await
        .expect("open sqlite");
    Some(TestDb {
        store,
        cleanup: Cleanup::Sqlite(dir),
    })
}

fn pg_url() -> String {
    std::env::var("CUSTODY_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// A fresh schema on the test server, or `None` when `CUSTODY_SKIP_POSTGRES=1` and the
/// server is unreachable. Without that variable an unreachable server fails the test.
pub async fn postgres() -> Option<TestDb> {
    let url = pg_url();
    let mut admin = match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => {
            if std::env::var("CUSTODY_SKIP_POSTGRES").as_deref() == Ok("1") {
                eprintln!(
                    "skipping a PostgreSQL conformance test: CUSTODY_SKIP_POSTGRES=1 and no server ({e})"
                );
                return None;
            }
            // The URL is not printed: it may carry a password.
            panic!(
                "PostgreSQL is not reachable at CUSTODY_TEST_POSTGRES_URL (default {DEFAULT_PG_URL}): {e}. Start it, \
                 point CUSTODY_TEST_POSTGRES_URL at a server (trust auth, a database you may create schemas in), \
                 or set CUSTODY_SKIP_POSTGRES=1 to skip these tests."
            );
        }
    };
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).expect("random");
    let schema = format!("custody_test_{}", hex::encode(raw));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("create schema");
    admin.close().await.expect("close");
    let separator = if url.contains('?') { '&' } else { '?' };
    let store_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let store = Store::open_postgres(&store_url)
        .await
        .expect("open postgres");
    Some(TestDb {
        store,
        cleanup: Cleanup::Postgres {
            url,
            schema,
            done: false,
        },
    })
}

async fn drop_schema(url: &str, schema: &str) {
    let options = PgConnectOptions::from_str(url).expect("url");
    let mut admin = PgConnection::connect_with(&options)
        .await
        .expect("connect to drop schema");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .expect("drop schema");
}

impl TestDb {
    /// Closes the store and drops the PostgreSQL schema.
    pub async fn finish(mut self) {
        self.store.close().await;
        if let Cleanup::Postgres { url, schema, done } = &mut self.cleanup {
            drop_schema(url, schema).await;
            *done = true;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // A test that panicked did not reach `finish`: drop its schema from a thread
        // with its own runtime (we may be inside the test's runtime here).
        if let Cleanup::Postgres {
            url,
            schema,
            done: false,
        } = &self.cleanup
        {
            let (url, schema) = (url.clone(), schema.clone());
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(drop_schema(&url, &schema));
            })
            .join();
        }
    }
}

/// Asserts an error kind with a readable failure.
#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_expired<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::Expired { .. }) => {}
        other => panic!("expected Expired, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_invalid<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::Invalid { .. }) => {}
        other => panic!("expected Invalid, got {other:?}"),
    }
}
