//! The blob directory: round trips, streaming, atomic publication, key validation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

use std::io::{Read, Write};
use std::sync::{Arc, Barrier};

use custody_store::{BlobError, BlobKey, BlobStore, IdError};

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(&dir.path().join("blobs")).unwrap();
    (dir, blobs)
}

fn read_all(blobs: &BlobStore, key: &BlobKey) -> Vec<u8> {
    let mut out = Vec::new();
    blobs.open_blob(key).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// Everything under the blob directory, as relative paths.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["objects", "tmp"] {
        for entry in std::fs::read_dir(dir.join("blobs").join(sub)).unwrap() {
            out.push(format!(
                "{sub}/{}",
                entry.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn round_trip_and_delete() {
    let (_dir, blobs) = store();
    let key = BlobKey::generate().unwrap();
    assert!(key.as_str().starts_with("blb_"));
    assert_eq!(blobs.put(&key, &b"ciphertext"[..]).unwrap(), 10);
    assert!(blobs.exists(&key).unwrap());
    assert_eq!(read_all(&blobs, &key), b"ciphertext");
    assert!(blobs.delete(&key).unwrap());
    assert!(!blobs.delete(&key).unwrap());
    assert!(matches!(blobs.open_blob(&key), Err(BlobError::NotFound)));
}

#[test]
fn streams_large_blobs_in_pieces() {
    let (_dir, blobs) = store();
    let key = BlobKey::parse("artifact-1").unwrap();
    let mut w = blobs.writer(&key).unwrap();
    let chunk: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    for _ in 0..64 {
        w.write_all(&chunk).unwrap();
    }
    assert_eq!(w.written(), 4 * 1024 * 1024);
    assert_eq!(w.commit().unwrap(), 4 * 1024 * 1024);
    let back = read_all(&blobs, &key);
    assert_eq!(back.len(), 4 * 1024 * 1024);
    assert!(back.chunks(chunk.len()).all(|c| c == chunk.as_slice()));
}

#[test]
fn nothing_is_visible_before_commit_and_an_abandoned_write_leaves_nothing() {
    let (dir, blobs) = store();
    let key = BlobKey::generate().unwrap();
    let mut w = blobs.writer(&key).unwrap();
    w.write_all(b"half of it").unwrap();
    assert!(!blobs.exists(&key).unwrap());
    assert!(matches!(blobs.open_blob(&key), Err(BlobError::NotFound)));
    assert_eq!(files(dir.path()).len(), 1, "only a temporary file exists");
    assert!(files(dir.path())[0].starts_with("tmp/"));
    drop(w);
    assert!(
        files(dir.path()).is_empty(),
        "the abandoned write was discarded"
    );
    assert!(!blobs.exists(&key).unwrap());
}

#[test]
fn a_failing_reader_publishes_nothing() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("upload cut"));
            }
            self.0 -= 1;
            buf[0] = b'x';
            Ok(1)
        }
    }
    let (dir, blobs) = store();
    let key = BlobKey::generate().unwrap();
    assert!(matches!(
        blobs.put(&key, Failing(100)),
        Err(BlobError::Io { .. })
    ));
    assert!(!blobs.exists(&key).unwrap());
    assert!(files(dir.path()).is_empty());
}

#[test]
fn blobs_are_never_overwritten() {
    let (_dir, blobs) = store();
    let key = BlobKey::generate().unwrap();
    blobs.put(&key, &b"first"[..]).unwrap();
    assert!(matches!(blobs.writer(&key), Err(BlobError::Exists)));
    assert_eq!(read_all(&blobs, &key), b"first");
}

#[test]
fn concurrent_writers_of_one_key_publish_exactly_one_blob() {
    let (_dir, blobs) = store();
    let key = BlobKey::generate().unwrap();
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (blobs, key, barrier) = (blobs.clone(), key.clone(), barrier.clone());
            std::thread::spawn(move || {
                // Every thread reaches the barrier, whatever `writer` returns, so a
                // broken store fails this test instead of hanging it.
                let writer = blobs.writer(&key);
                barrier.wait();
                let mut w = writer?;
                w.write_all(format!("writer {i}").as_bytes()).unwrap();
                w.commit().map(|_| i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for h in handles {
        match h.join().unwrap() {
            Ok(i) => winners.push(i),
            Err(BlobError::Exists) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(
        read_all(&blobs, &key),
        format!("writer {}", winners[0]).as_bytes()
    );
}

#[test]
fn keys_cannot_escape_the_directory() {
    for bad in [
        "",
        "..",
        ".",
        "../escape",
        "a/b",
        "/etc/passwd",
        "a\\b",
        ".hidden",
        "x.part",
        "a\0b",
        "-rf",
        "Upper",
        "%2e%2e",
        "caf\u{e9}",
    ] {
        assert_eq!(BlobKey::parse(bad), Err(IdError::BlobKey), "{bad:?}");
    }
    assert!(BlobKey::parse(&"a".repeat(129)).is_err());
    assert!(BlobKey::parse(&"a".repeat(128)).is_ok());
    assert!(serde_json::from_str::<BlobKey>(r#""../../x""#).is_err());
    // A valid key only ever names a file directly inside objects/.
    let (dir, blobs) = store();
    blobs
        .put(&BlobKey::parse("ok_key-1").unwrap(), &b"x"[..])
        .unwrap();
    assert_eq!(files(dir.path()), ["objects/ok_key-1"]);
}

#[cfg(unix)]
#[test]
fn directories_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, blobs) = store();
    let key = BlobKey::generate().unwrap();
    blobs.put(&key, &b"x"[..]).unwrap();
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.path().join("blobs")), 0o700);
    assert_eq!(mode(dir.path().join("blobs/objects")), 0o700);
    assert_eq!(
        mode(dir.path().join("blobs/objects").join(key.as_str())),
        0o600
    );
}
