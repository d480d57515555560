//! Device identity files: modes, round trip, refusal of readable keys, no overwrite.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed step must fail the test"
)]

use std::fs;
use std::os::unix::fs::PermissionsExt;

use custody_seal::device::{HPKE_KEY_FILE, POP_KEY_FILE, PUBLIC_FILE};
use custody_seal::{DeviceError, DeviceIdentity, DevicePublic, OsEntropy};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn save_writes_private_keys_0600_and_load_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("device");
    let id = DeviceIdentity::generate(&mut OsEntropy).unwrap();
    id.save(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(HPKE_KEY_FILE)), 0o600);
    assert_eq!(mode(&dir.join(POP_KEY_FILE)), 0o600);
    assert_eq!(mode(&dir.join(PUBLIC_FILE)), 0o644);
    let back = DeviceIdentity::load(&dir).unwrap();
    assert_eq!(back.public(), id.public());
    assert_eq!(back.pop_key().secret_bytes(), id.pop_key().secret_bytes());
    let public = DeviceIdentity::load_public(&dir).unwrap();
    assert_eq!(public, id.public());
    // The public document holds no private member.
    let doc = fs::read_to_string(dir.join(PUBLIC_FILE)).unwrap();
    assert!(!doc.contains("\"d\""));
    assert_eq!(DevicePublic::from_json(&doc).unwrap(), id.public());
}

#[test]
fn load_refuses_group_or_world_readable_private_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let id = DeviceIdentity::generate(&mut OsEntropy).unwrap();
    id.save(tmp.path()).unwrap();
    let key = tmp.path().join(POP_KEY_FILE);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let err = DeviceIdentity::load(tmp.path()).unwrap_err();
    assert!(
        matches!(err, DeviceError::InsecurePermissions { mode: 0o644, .. }),
        "{err:?}"
    );
    // Control: the same files load once the mode is tight again.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(DeviceIdentity::load(tmp.path()).is_ok());
}

#[test]
fn save_never_overwrites_an_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let first = DeviceIdentity::generate(&mut OsEntropy).unwrap();
    first.save(tmp.path()).unwrap();
    let second = DeviceIdentity::generate(&mut OsEntropy).unwrap();
    assert!(matches!(
        second.save(tmp.path()),
        Err(DeviceError::AlreadyExists { .. })
    ));
    assert_eq!(
        DeviceIdentity::load(tmp.path()).unwrap().public(),
        first.public()
    );
}

#[test]
fn a_public_document_that_does_not_match_the_keys_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = DeviceIdentity::generate(&mut OsEntropy).unwrap();
    a.save(tmp.path()).unwrap();
    let b = DeviceIdentity::generate(&mut OsEntropy).unwrap();
    fs::write(tmp.path().join(PUBLIC_FILE), b.public().to_json()).unwrap();
    assert!(matches!(
        DeviceIdentity::load(tmp.path()),
        Err(DeviceError::MalformedPublic { .. })
    ));
    // A document whose stated device id does not match its key is refused on its own.
    let tampered = a.public().to_json().replace(
        &a.public().device_id().to_string(),
        &b.public().device_id().to_string(),
    );
    assert!(DevicePublic::from_json(&tampered).is_err());
    assert!(
        DevicePublic::from_json(&a.public().to_json()).is_ok(),
        "control"
    );
}
