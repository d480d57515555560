//! The store conformance suite, written once (`suite.rs`) and run against SQLite (a
//! temp file per test) and PostgreSQL (a fresh schema per test, dropped afterwards).
//!
//! PostgreSQL tests fail when the server is unreachable unless
//! `CUSTODY_SKIP_POSTGRES=1` is set.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

mod suite;
mod support;
mod world;

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = crate::support::sqlite().await else { return };
                    crate::suite::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = crate::support::postgres().await else { return };
                    crate::suite::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
    };
}

conformance!(
    tenants,
    principals,
    devices,
    enrolment_codes,
    enrolment_code_race,
    challenges,
    sessions,
    cases,
    data_keys,
    artifacts,
    artifact_view_indexes,
    grants,
    approvals,
    approval_is_atomic,
    approval_races,
    exports,
    export_release_race,
    settings,
    ping_and_debug,
);
