//! Hostile audit records, checkpoints and signed notes: nothing panics, and what
//! decodes is canonical (encoding it again gives back the same bytes), so one
//! event has one record and one checkpoint one text.
#![no_main]

use std::sync::LazyLock;

use custody_audit::checkpoint::Checkpoint;
use custody_audit::note::{NoteSigner, NoteVerifier, open_note};
use custody_audit::record::{decode, encode};
use libfuzzer_sys::fuzz_target;

static VERIFIER: LazyLock<NoteVerifier> =
    LazyLock::new(
        || match NoteSigner::from_seed("audit.custody.example/fuzz", &[5; 32]) {
            Ok(signer) => signer.verifier(),
            Err(_) => panic!("fixture: note key"),
        },
    );

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = decode(data) {
        match encode(&event) {
            Ok(bytes) => assert_eq!(bytes, data, "a record decodes but is not canonical"),
            Err(e) => panic!("a decoded record does not encode: {e}"),
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(checkpoint) = Checkpoint::parse(text) {
        assert_eq!(
            checkpoint.body(),
            text,
            "a checkpoint parses but is not canonical"
        );
    }
    let _ = open_note(text, std::slice::from_ref(&*VERIFIER));
});
