//! Hostile bytes: hundreds of random mutations of a valid proof, random and absurd verifying
//! keys, lengths that would need terabytes, non-canonical encodings. Every case must end in an
//! error, never a panic, never an acceptance, and never an allocation of what the bytes claim
//! (an allocation of 2^40 elements would abort the test process, so passing shows there was
//! none). Deterministic: xorshift with fixed seeds. The fuzz targets in `fuzz/` explore the
//! same surfaces without end (see docs/SECURITY.md).

mod common;

use common::{Rng, inputs, model};
use p3_field::PrimeCharacteristicRing;
use zkml::zkml_model::BatchDim;
use zkml::{FormatError, Proof, ProvingKey, VerifyError, VerifyingKey, prove, setup, verify};
use zkml_proof::field::{EF, P};

const WIDTHS: [usize; 4] = [12, 9, 6, 4];

struct Fixture {
    pk: ProvingKey,
    proof: Proof,
    bytes: Vec<u8>,
}

fn fixture() -> Fixture {
    let pk = setup(model(&WIDTHS, BatchDim::Dynamic, 42)).unwrap();
    let proof = prove(&pk, &inputs(2, WIDTHS[0], 43)).unwrap();
    assert!(verify(&pk.vk, &proof).is_ok());
    let bytes = proof.to_bytes();
    Fixture { pk, proof, bytes }
}

/// Whether `bytes` parse as a proof that `vk` accepts.
fn accepted(vk: &VerifyingKey, bytes: &[u8]) -> bool {
    Proof::from_bytes(bytes).is_ok_and(|p| verify(vk, &p).is_ok())
}

fn malformed<T: std::fmt::Debug>(r: Result<T, FormatError>) -> String {
    match r {
        Err(FormatError::Malformed { why, .. }) => why,
        other => panic!("expected a malformed-file error, got {other:?}"),
    }
}

/// Postcard's varint of `v`.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[test]
fn random_single_byte_changes_are_refused() {
    let f = fixture();
    let mut rng = Rng(0x5eed_0001);
    for k in 0..500 {
        let mut b = f.bytes.clone();
        let i = (rng.next_u64() % b.len() as u64) as usize;
        let x = (rng.next_u64() % 255 + 1) as u8;
        b[i] ^= x;
        assert!(
            !accepted(&f.pk.vk, &b),
            "change {k}: byte {i} ^= {x:#04x} was accepted"
        );
    }
}

#[test]
fn truncations_are_refused() {
    let f = fixture();
    let mut rng = Rng(0x5eed_0002);
    let n = f.bytes.len();
    let mut lens: Vec<usize> = vec![0, 1, 7, 8, 9, 10, n / 2, n - 2, n - 1];
    lens.extend((0..100).map(|_| (rng.next_u64() % n as u64) as usize));
    for len in lens {
        let r = Proof::from_bytes(&f.bytes[..len]);
        assert!(r.is_err(), "a proof truncated to {len} of {n} bytes parsed");
    }
}

#[test]
fn insertions_are_refused() {
    let f = fixture();
    let mut rng = Rng(0x5eed_0003);
    for k in 0..100 {
        let mut b = f.bytes.clone();
        let i = (rng.next_u64() % (b.len() as u64 + 1)) as usize;
        let count = 1 + (rng.next_u64() % 3) as usize;
        for _ in 0..count {
            b.insert(i, rng.next_u64() as u8);
        }
        assert!(
            !accepted(&f.pk.vk, &b),
            "insertion {k}: {count} byte(s) at {i} accepted"
        );
    }
    // and deletions of a byte anywhere
    for k in 0..100 {
        let mut b = f.bytes.clone();
        let i = (rng.next_u64() % b.len() as u64) as usize;
        b.remove(i);
        assert!(!accepted(&f.pk.vk, &b), "deletion {k}: byte {i} accepted");
    }
}

#[test]
fn random_bytes_are_neither_proofs_nor_keys() {
    let f = fixture();
    let mut rng = Rng(0x5eed_0004);
    let vk_bytes = f.pk.vk.to_bytes();
    for k in 0..300 {
        let len = (rng.next_u64() % 4096) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // keep the headers on most of them, so the body decoders see the bytes
        let header: &[u8] = match k % 3 {
            0 => &f.bytes[..8],
            1 => &vk_bytes[..8],
            _ => &[],
        };
        b.splice(0..0, header.iter().copied());
        assert!(!accepted(&f.pk.vk, &b), "random proof {k} accepted");
        if let Ok(vk) = VerifyingKey::from_bytes(&b) {
            assert!(verify(&vk, &f.proof).is_err(), "random key {k} accepted");
        }
    }
}

#[test]
fn mutated_keys_are_refused_or_reject_the_proof() {
    let f = fixture();
    let vk_bytes = f.pk.vk.to_bytes();
    let mut rng = Rng(0x5eed_0005);
    for k in 0..300 {
        let mut b = vk_bytes.clone();
        let i = (rng.next_u64() % b.len() as u64) as usize;
        match k % 3 {
            0 => b[i] ^= (rng.next_u64() % 255 + 1) as u8,
            1 => b.insert(i, rng.next_u64() as u8),
            _ => b.truncate(i),
        }
        if let Ok(vk) = VerifyingKey::from_bytes(&b) {
            let _ = vk.digest();
            let _ = zkml::security(&vk, 1);
            assert!(
                verify(&vk, &f.proof).is_err(),
                "mutated key {k} (byte {i}) accepted the proof"
            );
        }
    }
}

#[test]
fn absurd_key_sizes_are_refused_on_reading() {
    let f = fixture();
    let huge = 1usize << 40;
    type Edit = (&'static str, Box<dyn Fn(&mut VerifyingKey)>);
    let edits: Vec<Edit> = vec![
        (
            "n_in = 2^40",
            Box::new(move |vk| {
                vk.input_shape = vec![huge];
                vk.layers[0].n_in = huge;
            }),
        ),
        (
            "n_out = 2^40",
            Box::new(move |vk| {
                vk.layers[0].n_out = huge;
                vk.layers[1].n_in = huge;
            }),
        ),
        (
            // 274177 * 67280421310721 = 2^64 + 1: the product wraps to exactly 12
            "input shape whose product wraps to 12",
            Box::new(|vk| vk.input_shape = vec![274_177, 67_280_421_310_721, 12]),
        ),
        (
            "input shape whose product overflows",
            Box::new(|vk| vk.input_shape = vec![usize::MAX, 3]),
        ),
        ("no layers", Box::new(|vk| vk.layers.clear())),
        ("bits = 64", Box::new(|vk| vk.bits = 64)),
        (
            "multiplier out of range",
            Box::new(|vk| vk.layers[1].multiplier[0] = i64::MAX),
        ),
        (
            "multipliers missing",
            Box::new(|vk| {
                vk.layers[2].multiplier.pop();
            }),
        ),
    ];
    for (what, edit) in edits {
        let mut vk = f.pk.vk.clone();
        edit(&mut vk);
        let why = malformed(VerifyingKey::from_bytes(&vk.to_bytes()));
        assert!(!why.is_empty(), "{what}");
    }
    // a length prefix of 2^62 input dimensions backed by a few bytes: refused, not allocated
    let vk = &f.pk.vk;
    let mut b = vk.to_bytes()[..8].to_vec();
    b.extend(postcard::to_allocvec(&(vk.bits, vk.scales, vk.batch)).unwrap());
    b.extend(varint(1 << 62));
    b.extend([1, 2, 3]);
    malformed(VerifyingKey::from_bytes(&b));
}

#[test]
fn huge_proof_lengths_are_refused_before_allocation() {
    let f = fixture();
    for n in [0, (1 << 20) + 1, 1 << 40, usize::MAX] {
        let mut p = f.proof.clone();
        p.num_samples = n;
        let err = verify(&f.pk.vk, &p).unwrap_err();
        assert!(
            matches!(err, VerifyError::Shape { .. }),
            "num_samples = {n}: {err}"
        );
        let _ = p.outputs(); // must not panic (no division by zero, no overflow)
    }
    // the input's length prefix (right after magic, version and num_samples = 2) says 2^40
    let mut b = f.bytes[..9].to_vec();
    assert_eq!(b[8], 2, "num_samples is the first field");
    b.extend(varint(1 << 40));
    b.extend(&f.bytes[10..]);
    malformed(Proof::from_bytes(&b));
    // every length prefix of the body set to 2^61 in turn: each is refused
    for (i, &byte) in f.bytes.iter().enumerate().skip(8).take(400) {
        if byte & 0x80 != 0 {
            continue;
        }
        let mut b = f.bytes[..i].to_vec();
        b.extend(varint(1 << 61));
        b.extend(&f.bytes[i + 1..]);
        assert!(!accepted(&f.pk.vk, &b), "length 2^61 at byte {i} accepted");
    }
}

#[test]
fn non_canonical_encodings_are_refused() {
    let f = fixture();
    // an overlong varint for num_samples (0x82 0x00 also decodes to 2)
    let mut b = f.bytes[..8].to_vec();
    b.extend([0x82, 0x00]);
    b.extend(&f.bytes[9..]);
    let why = malformed(Proof::from_bytes(&b));
    assert!(why.contains("canonical"), "{why}");
    // an overlong varint in the verifying key (bits = 8 as 0x88 0x00)
    let vk_bytes = f.pk.vk.to_bytes();
    assert_eq!(vk_bytes[8], 8, "bits is the first field of the key");
    let mut b = vk_bytes[..8].to_vec();
    b.extend([0x88, 0x00]);
    b.extend(&vk_bytes[9..]);
    malformed(VerifyingKey::from_bytes(&b));
    // an extension-field element with a coefficient encoded as v + p instead of v
    let v = 0x1234_5678_u64;
    let mut p = f.proof.clone();
    p.lookup_evals[0] = EF::from_u64(v);
    let bytes = p.to_bytes();
    let mut pattern = v.to_le_bytes().to_vec();
    pattern.extend([0; 16]);
    let at = bytes
        .windows(pattern.len())
        .position(|w| w == pattern.as_slice())
        .expect("the element's bytes");
    let mut b = bytes.clone();
    b[at..at + 8].copy_from_slice(&(v + P).to_le_bytes());
    malformed(Proof::from_bytes(&b));
    assert!(
        Proof::from_bytes(&bytes).is_ok(),
        "the canonical form parses"
    );
}

/// ONNX files the `onnx_import` fuzz target found (they are also its seeds): a `Reshape` whose
/// shape product overflowed `usize` (a panic with overflow checks, a wrapped shape without;
/// e.g. a target `[274177, 67280421310721, 12]` wraps to 12 values). Import must refuse the
/// shape or leave it unknown, and every shape it keeps must have a product that fits.
#[test]
fn onnx_import_regressions() {
    use zkml::zkml_model::{QuantConfig, ScaleMode, import_onnx_bytes, quantize};
    let target_overflow: &[u8] =
        include_bytes!("../../../fuzz/corpus/onnx_import/crash_reshape_target_overflow.onnx");
    let input_overflow: &[u8] =
        include_bytes!("../../../fuzz/corpus/onnx_import/crash_reshape_input_overflow.onnx");
    let err = import_onnx_bytes(target_overflow).unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
    let graph = import_onnx_bytes(input_overflow).unwrap();
    let fits = |s: &Vec<usize>| {
        s.iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_some()
    };
    for node in &graph.nodes {
        for shape in [&node.in_shape, &node.out_shape].into_iter().flatten() {
            assert!(fits(shape), "node {}: shape {shape:?}", node.name);
        }
    }
    // it has unsupported ops: quantization lists them instead of going on
    let config = QuantConfig {
        bits: 8,
        scales: ScaleMode::PerRow,
    };
    assert!(quantize(&graph, &[vec![0.0; graph.input_len()]], &config).is_err());
}

#[test]
fn provers_refuse_work_over_the_memory_limit_up_front() {
    // a 4096-wide hidden layer: 8192 samples commit ~2^27.3 witness cells (~30 GiB of proving)
    let pk = setup(model(&[4, 4096, 2], BatchDim::Dynamic, 3)).unwrap();
    let err = prove(&pk, &inputs(8192, 4, 5)).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, zkml::ProveError::MemoryLimit { samples: 8192, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("GiB") && msg.contains("limit of 16 GiB"),
        "{msg}"
    );
    // more samples than a verifier takes
    let small = setup(model(&[1, 1], BatchDim::Dynamic, 3)).unwrap();
    let many = vec![vec![0i64]; zkml::verify::MAX_SAMPLES + 1];
    assert!(matches!(
        prove(&small, &many).unwrap_err(),
        zkml::ProveError::TooManySamples { .. }
    ));
}
