//! Seal and open throughput (64 MiB) and latency (1 KiB) of the export envelope.

#![expect(
    clippy::unwrap_used,
    reason = "benchmark harness: a failed setup must abort the run"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use custody_seal::{
    DeviceIdentity, ExportId, NetworkContext, OsEntropy, SealRequest, SigningKey, artifact_digest,
    open, seal,
};

fn request(content: &[u8]) -> SealRequest {
    let (artifact_digest, content_length) = artifact_digest(content).unwrap();
    SealRequest {
        export_id: ExportId([1; 16]),
        tenant: "tenant-bench".into(),
        case: "case-bench".into(),
        requester: "agent@vendor.example".into(),
        artifact_digest,
        content_length,
        network_context: NetworkContext::from_descriptor("asn:64500"),
        not_before: 1_000,
        not_after: 1_300,
        rules_version: "rules-1".into(),
        policy_bundle_id: "bundle-1".into(),
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = OsEntropy;
    let device = DeviceIdentity::generate(&mut rng).unwrap();
    let broker = SigningKey::generate(&mut rng).unwrap();
    let trusted = [broker.public()];
    let ctx = NetworkContext::from_descriptor("asn:64500");
    for (name, size) in [("1KiB", 1024usize), ("64MiB", 64 << 20)] {
        let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let req = request(&content);
        let mut sealed = Vec::with_capacity(size + size / 1000 + 1024);
        seal(
            &req,
            &device.public().hpke,
            &broker,
            &mut rng,
            &content[..],
            &mut sealed,
        )
        .unwrap();
        let mut group = c.benchmark_group(format!("envelope/{name}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size > 1 << 20 {
            group.sample_size(10);
        }
        let mut out = Vec::with_capacity(sealed.len());
        group.bench_function("seal", |b| {
            b.iter(|| {
                out.clear();
                seal(
                    &req,
                    &device.public().hpke,
                    &broker,
                    &mut OsEntropy,
                    black_box(&content[..]),
                    &mut out,
                )
                .unwrap();
            })
        });
        let mut plain = Vec::with_capacity(size);
        group.bench_function("open", |b| {
            b.iter(|| {
                plain.clear();
                open(
                    device.hpke_key(),
                    &trusted,
                    &ctx,
                    1_100,
                    black_box(&sealed[..]),
                    &mut plain,
                )
                .unwrap();
            })
        });
        group.finish();
    }
}

/// The two per-byte costs of sealing, alone, on one 64 KiB chunk: where the time goes.
fn primitives(c: &mut Criterion) {
    use aes_gcm::{Aes256Gcm, KeyInit, aead::AeadInOut};
    use sha2::{Digest, Sha256};
    let chunk = vec![0x5au8; custody_seal::CHUNK_SIZE];
    let mut group = c.benchmark_group("primitives/64KiB");
    group.throughput(Throughput::Bytes(chunk.len() as u64));
    let aead = Aes256Gcm::new_from_slice(&[7u8; 32]).unwrap();
    let mut buf = chunk.clone();
    group.bench_function("aes256gcm", |b| {
        b.iter(|| {
            aead.encrypt_inout_detached(&Default::default(), b"aad", buf.as_mut_slice().into())
                .unwrap()
        })
    });
    group.bench_function("sha256", |b| b.iter(|| Sha256::digest(black_box(&chunk))));
    group.finish();
}

criterion_group!(benches, bench, primitives);
criterion_main!(benches);
