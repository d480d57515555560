//! Envelope security tests against the public API: every tamper case, binding and time
//! check is refused with its own error, and each has a control showing the same envelope
//! opens once the one thing under test is put back (so the check is what blocks it).

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a failed step must fail the test"
)]

use custody_seal::{
    CHUNK_SIZE, DeviceIdentity, Entropy, EntropyError, ExportId, Header, HeaderError,
    MAX_WINDOW_SECS, NetworkContext, OpenError, OpenOptions, OsEntropy, SealError, SealRequest,
    Section, SigningKey, artifact_digest, open, open_with, seal,
};
use proptest::prelude::*;

const NBF: u64 = 1_800_000_000;
const NAF: u64 = NBF + 300;
const NOW: u64 = NBF + 10;

struct Fixture {
    device: DeviceIdentity,
    broker: SigningKey,
    ctx: NetworkContext,
}

fn fixture() -> Fixture {
    Fixture {
        device: DeviceIdentity::generate(&mut OsEntropy).unwrap(),
        broker: SigningKey::generate(&mut OsEntropy).unwrap(),
        ctx: NetworkContext::from_text("AS64500 198.51.100.0/24"),
    }
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn request(f: &Fixture, data: &[u8]) -> SealRequest {
    let (artifact_digest, content_length) = artifact_digest(data).unwrap();
    SealRequest {
        export_id: ExportId([0x5a; 16]),
        tenant: "tenant-acme".into(),
        case: "case-0042".into(),
        requester: "agent-7@vendor.example".into(),
        artifact_digest,
        content_length,
        network_context: f.ctx,
        not_before: NBF,
        not_after: NAF,
        rules_version: "rules-2026.11".into(),
        policy_bundle_id: "bundle-sha256-ab12".into(),
    }
}

fn sealed(f: &Fixture, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    seal(
        &request(f, data),
        &f.device.public().hpke,
        &f.broker,
        &mut OsEntropy,
        data,
        &mut out,
    )
    .unwrap();
    out
}

fn open_as(f: &Fixture, env: &[u8]) -> Result<Vec<u8>, OpenError> {
    let mut out = Vec::new();
    open(
        f.device.hpke_key(),
        &[f.broker.public()],
        &f.ctx,
        NOW,
        env,
        &mut out,
    )?;
    Ok(out)
}

/// Offset of the first chunk: magic, header length, header, enc, wrapped key, signature.
fn chunks_start(env: &[u8]) -> usize {
    let hlen = u32::from_be_bytes(env[8..12].try_into().unwrap()) as usize;
    12 + hlen + 32 + 48 + 64
}

#[test]
fn round_trip_at_chunk_boundaries() {
    let f = fixture();
    for len in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE + 17,
    ] {
        let data = content(len);
        let env = sealed(&f, &data);
        let chunks = len.div_ceil(CHUNK_SIZE).max(1);
        assert_eq!(
            env.len(),
            chunks_start(&env) + len + 16 * chunks,
            "len {len}"
        );
        assert_eq!(open_as(&f, &env).unwrap(), data, "len {len}");
    }
}

#[test]
fn several_megabytes_round_trip() {
    let f = fixture();
    let data = content(5 * 1024 * 1024 + 3);
    let env = sealed(&f, &data);
    assert_eq!(open_as(&f, &env).unwrap(), data);
}

/// The error expected for a one-byte change at `offset` of an envelope.
fn region_ok(env: &[u8], offset: usize, err: &OpenError) -> bool {
    let hlen = u32::from_be_bytes(env[8..12].try_into().unwrap()) as usize;
    let start = chunks_start(env);
    match offset {
        0..8 => matches!(err, OpenError::BadMagic),
        8..12 => matches!(
            err,
            OpenError::HeaderTooLarge { .. }
                | OpenError::MalformedHeader(_)
                | OpenError::Truncated { .. }
                | OpenError::BadSignature
                | OpenError::UntrustedSigner { .. }
        ),
        o if o < 12 + hlen => matches!(
            err,
            OpenError::MalformedHeader(_)
                | OpenError::UnsupportedVersion { .. }
                | OpenError::UntrustedSigner { .. }
                | OpenError::BadSignature
        ),
        o if o < start => matches!(err, OpenError::BadSignature),
        o => {
            let index = ((o - start) / (CHUNK_SIZE + 16)) as u64;
            matches!(err, OpenError::ChunkAuthentication { index: i } if *i == index)
        }
    }
}

#[test]
fn flipping_any_byte_of_a_small_envelope_is_refused_with_the_region_error() {
    let f = fixture();
    let data = b"HTTP/1.1 200 OK; sanitized body of a small export".to_vec();
    let env = sealed(&f, &data);
    assert_eq!(
        open_as(&f, &env).unwrap(),
        data,
        "control: untampered opens"
    );
    for offset in 0..env.len() {
        let mut bad = env.clone();
        bad[offset] ^= 0x01;
        let err = open_as(&f, &bad).expect_err(&format!("flip at {offset} must fail"));
        assert!(region_ok(&env, offset, &err), "offset {offset}: {err:?}");
    }
}

#[test]
fn flipping_bytes_of_every_chunk_of_a_multi_chunk_envelope_is_refused() {
    let f = fixture();
    let data = content(2 * CHUNK_SIZE + 100);
    let env = sealed(&f, &data);
    assert_eq!(open_as(&f, &env).unwrap(), data, "control");
    let start = chunks_start(&env);
    // The whole preamble, then the edges and a stride through each chunk.
    let mut offsets: Vec<usize> = (0..start).collect();
    for c in 0..3 {
        let cs = start + c * (CHUNK_SIZE + 16);
        let ce = (cs + CHUNK_SIZE + 16).min(env.len());
        offsets.extend(cs..cs + 40);
        offsets.extend((cs..ce).step_by(4099));
        offsets.extend(ce - 40..ce);
    }
    for offset in offsets {
        let mut bad = env.clone();
        bad[offset] ^= 0x80;
        let err = open_as(&f, &bad).expect_err("tampered");
        assert!(region_ok(&env, offset, &err), "offset {offset}: {err:?}");
    }
}

#[test]
fn truncation_at_any_length_is_refused() {
    let f = fixture();
    let small = sealed(&f, b"short export");
    for cut in 0..small.len() {
        let err = open_as(&f, &small[..cut]).unwrap_err();
        assert!(
            matches!(err, OpenError::Truncated { .. }),
            "cut {cut}: {err:?}"
        );
    }
    let data = content(2 * CHUNK_SIZE + 5);
    let env = sealed(&f, &data);
    let start = chunks_start(&env);
    // Cutting exactly at a chunk boundary must not be mistaken for a shorter export.
    for cut in [
        start,
        start + CHUNK_SIZE + 16,
        start + 2 * (CHUNK_SIZE + 16),
        env.len() - 1,
    ] {
        let err = open_as(&f, &env[..cut]).unwrap_err();
        let want = ((cut - start) / (CHUNK_SIZE + 16)) as u64;
        assert!(
            matches!(err, OpenError::Truncated { section: Section::Chunk(i) } if i == want),
            "cut {cut}: {err:?}"
        );
    }
}

#[test]
fn reordered_duplicated_and_appended_chunks_are_refused() {
    let f = fixture();
    let data = content(3 * CHUNK_SIZE);
    let env = sealed(&f, &data);
    let start = chunks_start(&env);
    let n = CHUNK_SIZE + 16;
    let chunk = |i: usize| env[start + i * n..start + (i + 1) * n].to_vec();
    let rebuild = |order: &[usize]| {
        let mut out = env[..start].to_vec();
        for &i in order {
            out.extend(chunk(i));
        }
        out
    };
    assert_eq!(open_as(&f, &rebuild(&[0, 1, 2])).unwrap(), data, "control");
    let err = open_as(&f, &rebuild(&[1, 0, 2])).unwrap_err();
    assert!(
        matches!(err, OpenError::ChunkAuthentication { index: 0 }),
        "{err:?}"
    );
    let err = open_as(&f, &rebuild(&[0, 2, 1])).unwrap_err();
    assert!(
        matches!(err, OpenError::ChunkAuthentication { index: 1 }),
        "{err:?}"
    );
    let err = open_as(&f, &rebuild(&[0, 0, 1, 2])).unwrap_err();
    assert!(
        matches!(err, OpenError::ChunkAuthentication { index: 1 }),
        "{err:?}"
    );
    let err = open_as(&f, &rebuild(&[0, 1, 2, 2])).unwrap_err();
    assert!(matches!(err, OpenError::TrailingData), "{err:?}");
    let mut extra = env.clone();
    extra.push(0);
    assert!(matches!(open_as(&f, &extra), Err(OpenError::TrailingData)));
    // Dropping the final chunk and marking nothing else cannot pass as a shorter export.
    let err = open_as(&f, &rebuild(&[0, 1])).unwrap_err();
    assert!(matches!(err, OpenError::Truncated { .. }), "{err:?}");
}

#[test]
fn wrong_device_is_refused_and_the_right_one_opens() {
    let f = fixture();
    let env = sealed(&f, b"for one device only");
    let other = DeviceIdentity::generate(&mut OsEntropy).unwrap();
    let err = open(
        other.hpke_key(),
        &[f.broker.public()],
        &f.ctx,
        NOW,
        &env[..],
        &mut Vec::new(),
    )
    .unwrap_err();
    match &err {
        OpenError::WrongDevice {
            sealed_to,
            this_device,
        } => {
            assert_eq!(*sealed_to, f.device.public().device_id());
            assert_eq!(*this_device, other.public().device_id());
        }
        e => panic!("expected WrongDevice, got {e:?}"),
    }
    assert!(err.to_string().contains("not to this device"));
    assert!(
        open_as(&f, &env).is_ok(),
        "control: the addressed device opens"
    );
}

#[test]
fn network_context_mismatch_is_refused() {
    let f = fixture();
    let env = sealed(&f, b"bound to a network");
    let elsewhere = NetworkContext::from_text("AS64511 203.0.113.0/24");
    let err = open(
        f.device.hpke_key(),
        &[f.broker.public()],
        &elsewhere,
        NOW,
        &env[..],
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(err, OpenError::ContextMismatch), "{err:?}");
    assert!(
        open_as(&f, &env).is_ok(),
        "control: the bound context opens"
    );
}

#[test]
fn time_window_is_enforced_at_both_edges() {
    let f = fixture();
    let env = sealed(&f, b"five minutes");
    let at = |now| {
        open(
            f.device.hpke_key(),
            &[f.broker.public()],
            &f.ctx,
            now,
            &env[..],
            &mut Vec::new(),
        )
    };
    assert!(matches!(
        at(NBF - 1),
        Err(OpenError::NotYetValid {
            not_before: NBF,
            ..
        })
    ));
    assert!(at(NBF).is_ok(), "control: first valid second");
    assert!(at(NAF - 1).is_ok(), "control: last valid second");
    assert!(matches!(
        at(NAF),
        Err(OpenError::Expired { not_after: NAF, .. })
    ));
    assert!(matches!(at(NAF + 86_400), Err(OpenError::Expired { .. })));
}

fn sealed_with_window(f: &Fixture, data: &[u8], window: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let request = SealRequest {
        not_after: NBF + window,
        ..request(f, data)
    };
    seal(
        &request,
        &f.device.public().hpke,
        &f.broker,
        &mut OsEntropy,
        data,
        &mut out,
    )
    .unwrap();
    out
}

fn open_with_options(f: &Fixture, options: &OpenOptions, env: &[u8]) -> Result<Vec<u8>, OpenError> {
    let mut out = Vec::new();
    open_with(
        options,
        f.device.hpke_key(),
        &[f.broker.public()],
        &f.ctx,
        NOW,
        env,
        &mut out,
    )?;
    Ok(out)
}

#[test]
fn a_window_longer_than_the_opener_accepts_is_refused_with_its_own_error() {
    let f = fixture();
    let data = b"short-lived export";
    // A 24 h window: the default opener accepts it, an export opener (5 min) does not,
    // although `now` is inside the window.
    let day = sealed_with_window(&f, data, MAX_WINDOW_SECS);
    assert_eq!(
        open_as(&f, &day).unwrap(),
        data,
        "control: default accepts 24 h"
    );
    let err = open_with_options(&f, &OpenOptions::exports(), &day).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::WindowTooLong {
                window_secs: 86_400,
                max_secs: 300
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("86400 s exceeds this opener's maximum of 300 s")
    );
    // At the boundary: a 5 min window opens with the export options, 5 min + 1 s does not.
    let five = sealed_with_window(&f, data, 300);
    assert_eq!(
        open_with_options(&f, &OpenOptions::exports(), &five).unwrap(),
        data
    );
    let longer = sealed_with_window(&f, data, 301);
    assert!(matches!(
        open_with_options(&f, &OpenOptions::exports(), &longer),
        Err(OpenError::WindowTooLong {
            window_secs: 301,
            max_secs: 300
        })
    ));
    let custom = OpenOptions::default().max_window_secs(301);
    assert_eq!(custom.max_window(), 301);
    assert_eq!(open_with_options(&f, &custom, &longer).unwrap(), data);
}

#[test]
fn a_window_over_24_hours_signed_by_a_trusted_key_is_refused_by_default() {
    // `seal` refuses windows over 24 h, so only another (e.g. buggy or compromised)
    // sealer holding a trusted key could mint one; the opener refuses it by itself.
    let f = fixture();
    let env = sealed(&f, b"minted to outlive policy");
    let hlen = u32::from_be_bytes(env[8..12].try_into().unwrap()) as usize;
    let mut header = Header::decode(&env[12..12 + hlen]).unwrap();
    header.not_after = header.not_before + MAX_WINDOW_SECS + 1;
    let encoded = header.encode().unwrap();
    let mut forged = b"CUSTSEAL".to_vec();
    forged.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    forged.extend_from_slice(&encoded);
    let key_block = &env[12 + hlen..12 + hlen + 80];
    forged.extend_from_slice(key_block);
    let mut msg = b"custody-seal/v1 signature\0".to_vec();
    msg.extend_from_slice(&encoded);
    msg.extend_from_slice(key_block);
    forged.extend_from_slice(&f.broker.sign(&msg));
    forged.extend_from_slice(&env[chunks_start(&env)..]);
    let err = open_as(&f, &forged).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::WindowTooLong {
                window_secs: 86_401,
                max_secs: 86_400
            }
        ),
        "{err:?}"
    );
    // Control: an opener that accepted the window would get past this check (and then
    // stop at the key block, which binds the original header).
    let lenient = OpenOptions::default().max_window_secs(MAX_WINDOW_SECS + 1);
    assert!(matches!(
        open_with_options(&f, &lenient, &forged),
        Err(OpenError::KeyBlock)
    ));
}

#[test]
fn unknown_signer_and_forged_signatures_are_refused() {
    let f = fixture();
    let data = b"signed by the broker";
    let env = sealed(&f, data);
    let stranger = SigningKey::generate(&mut OsEntropy).unwrap();
    // The real broker is not trusted: refused; trusting it is the only difference.
    let err = open(
        f.device.hpke_key(),
        &[stranger.public()],
        &f.ctx,
        NOW,
        &env[..],
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(
        matches!(err, OpenError::UntrustedSigner { key_id } if key_id == f.broker.public().thumbprint())
    );
    assert!(open_as(&f, &env).is_ok(), "control");
    assert!(matches!(
        open(
            f.device.hpke_key(),
            &[],
            &f.ctx,
            NOW,
            &env[..],
            &mut Vec::new()
        ),
        Err(OpenError::UntrustedSigner { .. })
    ));

    // An attacker seals with its own key to the device: refused as untrusted...
    let mut forged = Vec::new();
    seal(
        &request(&f, data),
        &f.device.public().hpke,
        &stranger,
        &mut OsEntropy,
        &data[..],
        &mut forged,
    )
    .unwrap();
    assert!(matches!(
        open_as(&f, &forged),
        Err(OpenError::UntrustedSigner { .. })
    ));
    // ...and would open if its key were trusted, so the trust check is what blocks it.
    assert!(
        open(
            f.device.hpke_key(),
            &[f.broker.public(), stranger.public()],
            &f.ctx,
            NOW,
            &forged[..],
            &mut Vec::new()
        )
        .is_ok()
    );

    // Re-signing the genuine header with the attacker key while naming the broker: the
    // signature check is what refuses it.
    let start = chunks_start(&env);
    let sig_at = start - 64;
    let hlen = u32::from_be_bytes(env[8..12].try_into().unwrap()) as usize;
    let mut msg = b"custody-seal/v1 signature\0".to_vec();
    msg.extend_from_slice(&env[12..sig_at]);
    let mut resigned = env.clone();
    resigned[sig_at..start].copy_from_slice(&stranger.sign(&msg));
    assert!(matches!(
        open_as(&f, &resigned),
        Err(OpenError::BadSignature)
    ));
    // Control: the same message signed by the broker is exactly the genuine signature.
    assert_eq!(f.broker.sign(&msg)[..], env[sig_at..start]);
    assert!(hlen > 0);
}

#[test]
fn altered_header_field_is_refused_even_when_resigned_by_a_trusted_key() {
    // A trusted but different broker key re-signs a header whose tenant was changed:
    // the HPKE info and the associated data bind the original header, so the key block
    // does not open. This is defence in depth behind the signature.
    let f = fixture();
    let env = sealed(&f, b"tenant bound");
    let hlen = u32::from_be_bytes(env[8..12].try_into().unwrap()) as usize;
    let mut header = Header::decode(&env[12..12 + hlen]).unwrap();
    header.tenant = "tenant-evil".into();
    let other = SigningKey::generate(&mut OsEntropy).unwrap();
    header.signer_key_id = other.public().thumbprint();
    let encoded = header.encode().unwrap();
    let mut forged = b"CUSTSEAL".to_vec();
    forged.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    forged.extend_from_slice(&encoded);
    let key_block = &env[12 + hlen..12 + hlen + 80];
    forged.extend_from_slice(key_block);
    let mut msg = b"custody-seal/v1 signature\0".to_vec();
    msg.extend_from_slice(&encoded);
    msg.extend_from_slice(key_block);
    forged.extend_from_slice(&other.sign(&msg));
    forged.extend_from_slice(&env[chunks_start(&env)..]);
    let trusted = [f.broker.public(), other.public()];
    let err = open(
        f.device.hpke_key(),
        &trusted,
        &f.ctx,
        NOW,
        &forged[..],
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(err, OpenError::KeyBlock), "{err:?}");
}

#[test]
fn malformed_preambles_have_their_own_errors() {
    let f = fixture();
    let env = sealed(&f, b"x");
    assert!(matches!(
        open_as(&f, b"PK\x03\x04 not an envelope"),
        Err(OpenError::BadMagic)
    ));
    let mut huge = env.clone();
    huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        open_as(&f, &huge),
        Err(OpenError::HeaderTooLarge { len: u32::MAX })
    ));
    let mut v2 = env.clone();
    v2[13] = 2;
    assert!(matches!(
        open_as(&f, &v2),
        Err(OpenError::UnsupportedVersion { found: 2 })
    ));
}

struct Failing;
impl Entropy for Failing {
    fn fill(&mut self, _dest: &mut [u8]) -> Result<(), EntropyError> {
        Err(EntropyError)
    }
}

#[test]
fn seal_fails_closed_on_bad_requests_and_inputs() {
    let f = fixture();
    let data = content(1000);
    let req = request(&f, &data);
    let run = |req: &SealRequest, input: &[u8], rng: &mut dyn Entropy| {
        seal(
            req,
            &f.device.public().hpke,
            &f.broker,
            rng,
            input,
            &mut Vec::new(),
        )
    };
    assert!(run(&req, &data, &mut OsEntropy).is_ok(), "control");
    assert!(matches!(
        run(&req, &data, &mut Failing),
        Err(SealError::Entropy(_))
    ));
    assert!(matches!(
        run(&req, &data[..999], &mut OsEntropy),
        Err(SealError::LengthMismatch { declared: 1000 })
    ));
    let mut longer = data.clone();
    longer.push(1);
    assert!(matches!(
        run(&req, &longer, &mut OsEntropy),
        Err(SealError::LengthMismatch { .. })
    ));
    let mut long = req.clone();
    long.not_after = long.not_before + 86_401;
    assert!(matches!(
        run(&long, &data, &mut OsEntropy),
        Err(SealError::WindowTooLong { .. })
    ));
    let mut empty = req.clone();
    empty.not_after = empty.not_before;
    assert!(matches!(
        run(&empty, &data, &mut OsEntropy),
        Err(SealError::Header(HeaderError::EmptyWindow))
    ));
}

#[test]
fn content_other_than_the_signed_digest_is_refused_before_its_last_chunk_is_released() {
    // The input changed between digesting and sealing (same length): seal does not hash
    // again, so the envelope is made, and every opener refuses it.
    let f = fixture();
    let data = content(CHUNK_SIZE + 10);
    let req = request(&f, &data);
    let mut changed = data.clone();
    changed[CHUNK_SIZE + 5] ^= 1;
    let mut env = Vec::new();
    seal(
        &req,
        &f.device.public().hpke,
        &f.broker,
        &mut OsEntropy,
        &changed[..],
        &mut env,
    )
    .unwrap();
    let mut out = Vec::new();
    let err = open(
        f.device.hpke_key(),
        &[f.broker.public()],
        &f.ctx,
        NOW,
        &env[..],
        &mut out,
    )
    .unwrap_err();
    assert!(matches!(err, OpenError::DigestMismatch), "{err:?}");
    assert_eq!(
        out.len(),
        CHUNK_SIZE,
        "the last chunk, holding the change, was never released"
    );
    // Control: the content matching the digest opens.
    assert_eq!(open_as(&f, &sealed(&f, &data)).unwrap(), data);
}

#[test]
fn no_secret_or_plaintext_in_errors_or_debug() {
    // A content key we know: a scripted entropy source.
    struct Known([u8; 32]);
    impl Entropy for Known {
        fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
            dest.copy_from_slice(&self.0[..dest.len()]);
            Ok(())
        }
    }
    let f = fixture();
    let plaintext = b"PLAINTEXT-MARKER-7f3a sanitized content".to_vec();
    let key = [0xc3u8; 32];
    let mut env = Vec::new();
    seal(
        &request(&f, &plaintext),
        &f.device.public().hpke,
        &f.broker,
        &mut Known(key),
        &plaintext[..],
        &mut env,
    )
    .unwrap();

    let mut errors: Vec<String> = Vec::new();
    let mut record = |e: &dyn std::fmt::Debug, d: String| errors.push(format!("{d} / {e:?}"));
    let other = DeviceIdentity::generate(&mut OsEntropy).unwrap();
    let stranger = SigningKey::generate(&mut OsEntropy).unwrap();
    let cases: Vec<Result<_, OpenError>> = vec![
        open(
            other.hpke_key(),
            &[f.broker.public()],
            &f.ctx,
            NOW,
            &env[..],
            &mut Vec::new(),
        ),
        open(
            f.device.hpke_key(),
            &[stranger.public()],
            &f.ctx,
            NOW,
            &env[..],
            &mut Vec::new(),
        ),
        open(
            f.device.hpke_key(),
            &[f.broker.public()],
            &f.ctx,
            NAF,
            &env[..],
            &mut Vec::new(),
        ),
        open(
            f.device.hpke_key(),
            &[f.broker.public()],
            &NetworkContext([0; 32]),
            NOW,
            &env[..],
            &mut Vec::new(),
        ),
        open(
            f.device.hpke_key(),
            &[f.broker.public()],
            &f.ctx,
            NOW,
            &env[..env.len() - 3],
            &mut Vec::new(),
        ),
        {
            let mut bad = env.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            open(
                f.device.hpke_key(),
                &[f.broker.public()],
                &f.ctx,
                NOW,
                &bad[..],
                &mut Vec::new(),
            )
        },
    ];
    for case in cases {
        let e = case.unwrap_err();
        record(&e, e.to_string());
    }
    let bad_key = f.broker.to_jwk().replace("\"x\":\"", "\"x\":\"A");
    let e = SigningKey::from_jwk(&bad_key).unwrap_err();
    record(&e, e.to_string());
    errors.push(format!(
        "{:?} {:?} {:?}",
        f.device,
        f.broker,
        f.device.public()
    ));

    let b64 = |b: &[u8]| {
        use base64ct::{Base64UrlUnpadded, Encoding};
        Base64UrlUnpadded::encode_string(b)
    };
    let secrets = [
        hex::encode(key),
        b64(&key),
        hex::encode(f.broker.secret_bytes()),
        b64(f.broker.secret_bytes()),
        hex::encode(f.device.pop_key().secret_bytes()),
        b64(f.device.pop_key().secret_bytes()),
        "PLAINTEXT-MARKER".to_string(),
    ];
    let d_hpke = b64(f.device.hpke_key().secret_bytes());
    assert!(f.device.hpke_key().to_jwk().contains(&d_hpke), "control");
    for text in &errors {
        for s in secrets.iter().chain(std::iter::once(&d_hpke)) {
            assert!(!text.contains(s.as_str()), "secret leaked in: {text}");
        }
    }
    // Control: the scan above can find these strings where they do occur.
    assert!(f.broker.to_jwk().contains(&b64(f.broker.secret_bytes())));
    assert_eq!(errors.len(), 8);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn prop_round_trip(len in prop_oneof![
        Just(0usize), Just(1), Just(CHUNK_SIZE - 1), Just(CHUNK_SIZE), Just(CHUNK_SIZE + 1),
        0usize..(3 * CHUNK_SIZE + 7)
    ], seed in any::<u8>()) {
        let f = fixture();
        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let env = sealed(&f, &data);
        prop_assert_eq!(open_as(&f, &env).unwrap(), data);
    }

    #[test]
    fn prop_random_tampering_always_errors(
        len in 0usize..(2 * CHUNK_SIZE + 9),
        pos in any::<prop::sample::Index>(),
        xor in 1u8..=255,
        cut in any::<bool>(),
    ) {
        let f = fixture();
        let data = content(len);
        let env = sealed(&f, &data);
        let mut bad = env.clone();
        let at = pos.index(env.len());
        if cut {
            bad.truncate(at);
        } else {
            bad[at] ^= xor;
        }
        prop_assert!(open_as(&f, &bad).is_err());
    }
}
