//! Known-answer vectors for the envelope format (`tests/vectors/envelope-v1.json`, also
//! printed in `docs/formats/envelope.md`): fixed keys, fixed content key and HPKE
//! ephemeral randomness, so `seal` must reproduce the committed bytes exactly and `open`
//! must accept them. Regenerate only on a deliberate format change with
//! `CUSTODY_SEAL_WRITE_VECTORS=1 cargo test -p custody-seal --test vectors`.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a failed step must fail the test"
)]

use std::collections::VecDeque;

use custody_seal::{
    DeviceIdentity, Entropy, EntropyError, ExportId, Header, HpkeSecretKey, NetworkContext,
    SealRequest, SigningKey, artifact_digest, open, seal,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Hands out scripted 32-byte values in order; anything else is an error.
struct Script(VecDeque<[u8; 32]>);

impl Entropy for Script {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        let next = self.0.pop_front().ok_or(EntropyError)?;
        if dest.len() != 32 {
            return Err(EntropyError);
        }
        dest.copy_from_slice(&next);
        Ok(())
    }
}

fn bytes32(start: u8) -> [u8; 32] {
    std::array::from_fn(|i| start.wrapping_add(i as u8))
}

struct Case {
    name: &'static str,
    plaintext: Vec<u8>,
    full_hex: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "small",
            plaintext: b"{\"log\":{\"version\":\"1.2\",\"entries\":[]}}\n".to_vec(),
            full_hex: true,
        },
        Case {
            name: "empty",
            plaintext: Vec::new(),
            full_hex: true,
        },
        Case {
            // Two chunks: 65536 + 4 bytes, byte i = (i * 7) mod 251.
            name: "two-chunks",
            plaintext: (0..65_540usize).map(|i| (i * 7 % 251) as u8).collect(),
            full_hex: false,
        },
    ]
}

fn compute(case: &Case) -> Value {
    let device_ikm = bytes32(0x10);
    let broker_seed = bytes32(0x40);
    let content_key = bytes32(0x80);
    let ikm_e = bytes32(0xa0);
    let hpke = HpkeSecretKey::generate(&mut Script(VecDeque::from([device_ikm]))).unwrap();
    let broker = SigningKey::from_seed(&broker_seed).unwrap();
    let (digest, len) = artifact_digest(&case.plaintext[..]).unwrap();
    let context_text = "asn:64500";
    let request = SealRequest {
        export_id: ExportId(std::array::from_fn(|i| 0xe0 + i as u8)),
        tenant: "tenant-acme".into(),
        case: "case-0042".into(),
        requester: "agent-7@vendor.example".into(),
        artifact_digest: digest,
        content_length: len,
        network_context: NetworkContext::from_descriptor_or_hash(context_text).unwrap(),
        not_before: 1_800_000_000,
        not_after: 1_800_000_300,
        rules_version: "rules-2026.11".into(),
        policy_bundle_id: "bundle-sha256-ab12".into(),
    };
    let mut env = Vec::new();
    let header = seal(
        &request,
        &hpke.public(),
        &broker,
        &mut Script(VecDeque::from([content_key, ikm_e])),
        &case.plaintext[..],
        &mut env,
    )
    .unwrap();
    let encoded = header.encode().unwrap();
    let h = encoded.len();
    let mut v = json!({
        "name": case.name,
        "device_ikm": hex::encode(device_ikm),
        "device_hpke_secret": hex::encode(hpke.secret_bytes()),
        "device_hpke_public": hex::encode(hpke.public().as_bytes()),
        "device_id": hpke.public().thumbprint().to_string(),
        "broker_seed": hex::encode(broker_seed),
        "broker_public": hex::encode(broker.public().as_bytes()),
        "broker_key_id": broker.public().thumbprint().to_string(),
        "entropy_content_key": hex::encode(content_key),
        "entropy_hpke_ikm_e": hex::encode(ikm_e),
        "export_id": request.export_id.to_string(),
        "tenant": request.tenant,
        "case": request.case,
        "requester": request.requester,
        "network_context_text": context_text,
        "network_context": request.network_context.to_string(),
        "network_context_base64url": request.network_context.to_base64url(),
        "not_before": request.not_before,
        "not_after": request.not_after,
        "open_at": request.not_before + 60,
        "rules_version": request.rules_version,
        "policy_bundle_id": request.policy_bundle_id,
        "plaintext_length": len,
        "artifact_digest": hex::encode(digest),
        "header": hex::encode(&encoded),
        "header_hash": hex::encode(Header::hash_of_encoding(&encoded)),
        "hpke_info": hex::encode(header.hpke_info()),
        "enc": hex::encode(&env[12 + h..12 + h + 32]),
        "wrapped_content_key": hex::encode(&env[12 + h + 32..12 + h + 80]),
        "signature": hex::encode(&env[12 + h + 80..12 + h + 144]),
        "envelope_length": env.len(),
        "envelope_sha256": hex::encode(Sha256::digest(&env)),
    });
    if case.full_hex {
        v["plaintext"] = json!(hex::encode(&case.plaintext));
        v["envelope"] = json!(hex::encode(&env));
    } else {
        v["plaintext_rule"] = json!("byte i = (i * 7) mod 251");
    }
    v
}

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/envelope-v1.json"
);

#[test]
fn envelope_vectors_are_byte_exact() {
    let computed: Vec<Value> = cases().iter().map(compute).collect();
    if std::env::var_os("CUSTODY_SEAL_WRITE_VECTORS").is_some() {
        let text =
            serde_json::to_string_pretty(&json!({ "version": 1, "vectors": computed })).unwrap();
        std::fs::write(PATH, text + "\n").unwrap();
        return;
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let committed = committed["vectors"].as_array().unwrap();
    assert_eq!(committed.len(), computed.len());
    for (want, got) in committed.iter().zip(&computed) {
        let name = &want["name"];
        for (key, value) in want.as_object().unwrap() {
            assert_eq!(&got[key], value, "vector {name}: field {key}");
        }
    }
}

#[test]
fn committed_vectors_open_with_their_keys() {
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    for v in committed["vectors"].as_array().unwrap() {
        let Some(envelope) = v["envelope"].as_str() else {
            continue;
        };
        let env = hex::decode(envelope).unwrap();
        let ikm: [u8; 32] = hex::decode(v["device_ikm"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let device = DeviceIdentity::from_keys(
            HpkeSecretKey::generate(&mut Script(VecDeque::from([ikm]))).unwrap(),
            SigningKey::from_seed(&[9; 32]).unwrap(),
        );
        let seed: [u8; 32] = hex::decode(v["broker_seed"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let broker = SigningKey::from_seed(&seed).unwrap();
        // The descriptor, the hex hash and the base64url (`net` claim) form all open it.
        for text in [
            "network_context_text",
            "network_context",
            "network_context_base64url",
        ] {
            let ctx = NetworkContext::from_descriptor_or_hash(v[text].as_str().unwrap()).unwrap();
            let mut out = Vec::new();
            open(
                device.hpke_key(),
                &[broker.public()],
                &ctx,
                v["open_at"].as_u64().unwrap(),
                &env[..],
                &mut out,
            )
            .unwrap();
            assert_eq!(hex::encode(out), v["plaintext"].as_str().unwrap());
        }
    }
}

/// The `small` vector as committed before network contexts were unified with the token
/// `net` claim (2026-11-28): same keys and layout, but its context was
/// `SHA-256("AS64500 198.51.100.0/24")` without the domain separator.
const LEGACY_SMALL_ENVELOPE: &str = concat!(
    "435553545345414c000001010001e0e1e2e3e4e5e6e7e8e9eaebecedeeef000b74656e616e742d61636d650009636173",
    "652d3030343200166167656e742d374076656e646f722e6578616d706c65b818478f9664119b8d7c9877f5d8a7c5173b",
    "f1ab900aa2c380799fb34ebf78c600000000000000271da34387c1ba300cc33c9f61131a9725faf362c8afb4626a52a6",
    "c8e2698ecc862cc5f689f7e6d229e52b6d25db815a569d066dab20db177a681539caa4c218ea000000006b49d2000000",
    "00006b49d32c000d72756c65732d323032362e3131001262756e646c652d7368613235362d6162313259e5478c841338",
    "b2aef8fef8a02f962fe30d9ffb0b3390afaf3b8c8c3142dfeb000100001045e1e902b78d7f74c668716b022bd513378d",
    "552a526d6533ef16e286749c3dfb7407d4152f7a5462fcb8fa54efe012012df80fd1b72ab03061565687d70db51ae110",
    "2c3d921c2556c732661018742e89fe652e982c7d04c9bbd57299fa9d86b9ccc75de6430313c25fb8741c0f5854a48be4",
    "357152ed5d71d9a5440f30cf9baca75db446e62354f7dda7b83c63de0aaa8df43be3d36b364b84ff0db4ab469bfe8b00",
    "435f2fad7dd4b767f284f9f1be1c7f9af26b583161bd7e533e3718f6a195c88e6f7ebe88",
);
const LEGACY_SMALL_CONTEXT: &str =
    "2cc5f689f7e6d229e52b6d25db815a569d066dab20db177a681539caa4c218ea";

#[test]
fn envelopes_sealed_before_the_context_unification_open_with_their_hex_context() {
    let env = hex::decode(LEGACY_SMALL_ENVELOPE).unwrap();
    let device = DeviceIdentity::from_keys(
        HpkeSecretKey::generate(&mut Script(VecDeque::from([bytes32(0x10)]))).unwrap(),
        SigningKey::from_seed(&[9; 32]).unwrap(),
    );
    let broker = SigningKey::from_seed(&bytes32(0x40)).unwrap();
    let at = |ctx: NetworkContext| {
        let mut out = Vec::new();
        open(
            device.hpke_key(),
            &[broker.public()],
            &ctx,
            1_800_000_060,
            &env[..],
            &mut out,
        )
        .map(|_| out)
    };
    let hashed = NetworkContext::from_descriptor_or_hash(LEGACY_SMALL_CONTEXT).unwrap();
    assert_eq!(
        hashed.0,
        <[u8; 32]>::from(Sha256::digest(b"AS64500 198.51.100.0/24"))
    );
    assert_eq!(
        at(hashed).unwrap(),
        b"{\"log\":{\"version\":\"1.2\",\"entries\":[]}}\n"
    );
    // The old text itself now means a (domain-separated) descriptor: another context.
    assert!(matches!(
        at(NetworkContext::from_text("AS64500 198.51.100.0/24")),
        Err(custody_seal::OpenError::ContextMismatch)
    ));
}

#[test]
fn format_doc_prints_the_committed_small_vector() {
    let doc_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/formats/envelope.md"
    );
    let doc = std::fs::read_to_string(doc_path).unwrap();
    let block = doc
        .split("<!-- vector:small:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- vector:small:end -->").next())
        .unwrap();
    let printed: String = block.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let small = &committed["vectors"][0];
    assert_eq!(small["name"], "small");
    assert_eq!(printed, small["envelope"].as_str().unwrap());
    // Every other hex value of the small vector appears in the document too.
    for key in [
        "header",
        "header_hash",
        "hpke_info",
        "enc",
        "wrapped_content_key",
        "signature",
    ] {
        assert!(
            doc.contains(small[key].as_str().unwrap()),
            "{key} missing from the doc"
        );
    }
}
