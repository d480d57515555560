//! Hostile envelopes on the device that opens exports (`custody open`): nothing
//! panics, a header that decodes encodes back to the same bytes, and an envelope
//! opens only if it is byte for byte the one the broker sealed (any other input,
//! including every mutation of the real one, is refused, and a refusal leaves the
//! caller nothing to use: `open` returns an error and the caller discards the output).
#![no_main]

use std::sync::LazyLock;

use custody_seal::{
    DeviceIdentity, ExportId, Header, NetworkContext, OsEntropy, SealRequest, SigningKey,
    VerifyingKey, artifact_digest, open, seal,
};
use libfuzzer_sys::fuzz_target;

const CONTENT: &[u8] = b"{\"log\":{\"version\":\"1.2\",\"entries\":[]}}\n";

struct Fixture {
    device: DeviceIdentity,
    trusted: Vec<VerifyingKey>,
    context: NetworkContext,
    sealed: Vec<u8>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let mut rng = OsEntropy;
    let (Ok(device), Ok(broker)) = (
        DeviceIdentity::generate(&mut rng),
        SigningKey::generate(&mut rng),
    ) else {
        panic!("fixture: keys");
    };
    let Ok((artifact_digest, content_length)) = artifact_digest(CONTENT) else {
        panic!("fixture: digest");
    };
    let context = NetworkContext::from_descriptor("asn:64500");
    let request = SealRequest {
        export_id: ExportId([1; 16]),
        tenant: "tenant-fuzz".into(),
        case: "case-fuzz".into(),
        requester: "agent@vendor.example".into(),
        artifact_digest,
        content_length,
        network_context: context.clone(),
        not_before: 1_000,
        not_after: 1_300,
        rules_version: "rules-1".into(),
        policy_bundle_id: "bundle-1".into(),
    };
    let mut sealed = Vec::new();
    if seal(
        &request,
        &device.public().hpke,
        &broker,
        &mut rng,
        CONTENT,
        &mut sealed,
    )
    .is_err()
    {
        panic!("fixture: seal");
    }
    Fixture {
        device,
        trusted: vec![broker.public()],
        context,
        sealed,
    }
});

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = Header::decode(data) {
        match header.encode() {
            Ok(bytes) => assert_eq!(bytes, data, "a header decodes but is not canonical"),
            Err(e) => panic!("a decoded header does not encode: {e}"),
        }
    }
    let fx = &*FIXTURE;
    // The input as an envelope, and the input spliced into the real envelope at a
    // position its first byte chooses (so mutations reach the chunks too).
    let mut spliced = fx.sealed.clone();
    if let Some((&at, rest)) = data.split_first() {
        let at = usize::from(at) * spliced.len() / 256;
        let end = (at + rest.len()).min(spliced.len());
        if let (Some(dst), Some(src)) = (spliced.get_mut(at..end), rest.get(..end - at)) {
            dst.copy_from_slice(src);
        }
    }
    for envelope in [data, &spliced[..]] {
        let mut out = Vec::new();
        let opened = open(
            fx.device.hpke_key(),
            &fx.trusted,
            &fx.context,
            1_100,
            envelope,
            &mut out,
        );
        if opened.is_ok() {
            assert_eq!(envelope, &fx.sealed[..], "a forged envelope opened");
            assert_eq!(out, CONTENT);
        }
    }
});
