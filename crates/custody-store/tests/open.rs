//! Opening: URL dispatch, error messages that do not echo the URL, re-opening an
//! existing SQLite file (migrations are idempotent and data persists).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

use custody_store::{NewTenant, Store, StoreError, SupportMode};

#[tokio::test]
async fn unknown_scheme_and_bad_urls_do_not_echo_the_url() {
    let err = Store::open("mysql://admin:hunter2@db/x").await.unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }));
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = Store::open("postgres://admin:hunter2@[::1/x")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
    // A server that refuses: the message names the failure, not the password.
    let err = Store::open("postgres://admin:hunter2@127.0.0.1:1/x")
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn sqlite_file_persists_across_reopen_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custody.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.backend_name(), "sqlite");
    let t = store
        .create_tenant(&NewTenant {
            name: "Acme".into(),
            support_mode: SupportMode::Off,
            created_at: 1,
        })
        .await
        .unwrap();
    store.close().await;
    let again = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(again.tenant(&t.id).await.unwrap(), t);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test]
async fn an_unwritable_sqlite_path_is_an_open_error() {
    let err = Store::open_sqlite(std::path::Path::new("/nonexistent-dir/x/custody.db"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
}
