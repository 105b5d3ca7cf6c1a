//! Transcript binding: every absorbed message changes every later challenge, and the byte
//! format of the transcript is frozen (a known-answer test), so a proof made by this version
//! verifies with any later build that keeps the format.

use p3_field::{BasedVectorSpace, PrimeCharacteristicRing, PrimeField64};
use zkml_proof::field::{EF, F};
use zkml_proof::transcript::Transcript;

/// Canonical coordinates of an extension element.
fn coeffs(x: EF) -> Vec<u64> {
    let c: &[F] = x.as_basis_coefficients_slice();
    c.iter().map(PrimeField64::as_canonical_u64).collect()
}

/// The next challenge after `absorb` on a fresh transcript.
fn after(absorb: impl Fn(&mut Transcript)) -> EF {
    let mut t = Transcript::new();
    absorb(&mut t);
    t.sample()
}

fn ext(a: u64, b: u64, c: u64) -> EF {
    EF::from_basis_coefficients_slice(&[F::from_u64(a), F::from_u64(b), F::from_u64(c)])
        .expect("three coordinates")
}

#[test]
fn every_absorb_changes_the_next_challenge() {
    let fresh = after(|_| {});
    let cases: Vec<(&str, EF, EF)> = vec![
        (
            "bytes",
            after(|t| t.absorb_bytes(b"ab")),
            after(|t| t.absorb_bytes(b"ac")),
        ),
        // the length prefix: a trailing zero byte is not padding
        (
            "bytes length",
            after(|t| t.absorb_bytes(b"ab")),
            after(|t| t.absorb_bytes(b"ab\0")),
        ),
        (
            "empty bytes",
            after(|t| t.absorb_bytes(b"")),
            after(|t| t.absorb_bytes(b"\0")),
        ),
        (
            "u64 low",
            after(|t| t.absorb_u64(1)),
            after(|t| t.absorb_u64(2)),
        ),
        (
            "u64 high",
            after(|t| t.absorb_u64(1 << 32)),
            after(|t| t.absorb_u64(2 << 32)),
        ),
        (
            "u64 halves",
            after(|t| t.absorb_u64(1)),
            after(|t| t.absorb_u64(1 << 32)),
        ),
        (
            "u64 above p",
            after(|t| t.absorb_u64(u64::MAX)),
            after(|t| t.absorb_u64(u64::MAX - 0xFFFF_FFFF)),
        ),
        (
            "base",
            after(|t| t.absorb_base(&[F::ONE])),
            after(|t| t.absorb_base(&[F::TWO])),
        ),
        (
            "base length",
            after(|t| t.absorb_base(&[F::ONE])),
            after(|t| t.absorb_base(&[F::ONE, F::ZERO])),
        ),
        (
            "ext",
            after(|t| t.absorb_ext(&[ext(1, 2, 3)])),
            after(|t| t.absorb_ext(&[ext(1, 2, 4)])),
        ),
    ];
    for (name, a, b) in cases {
        assert_ne!(a, b, "{name}: different data, same challenge");
        assert_ne!(a, fresh, "{name}: absorbing changed nothing");
        assert_ne!(b, fresh, "{name}: absorbing changed nothing");
    }
}

#[test]
fn a_changed_message_changes_every_later_challenge() {
    // a prover's run: messages and challenges interleaved, as in a sumcheck
    let run = |tampered: Option<usize>| -> Vec<EF> {
        let mut t = Transcript::new();
        let mut challenges = Vec::new();
        for round in 0..6u64 {
            let mut msg = [ext(round, 7, 9), ext(11, round, 13)];
            if tampered == Some(round as usize) {
                msg[1] += EF::ONE;
            }
            t.absorb_ext(&msg);
            challenges.push(t.sample());
        }
        challenges
    };
    let honest = run(None);
    for round in 0..6 {
        let other = run(Some(round));
        assert_eq!(
            honest[..round],
            other[..round],
            "earlier challenges are kept"
        );
        for later in round..6 {
            assert_ne!(
                honest[later], other[later],
                "round {round}, challenge {later}"
            );
        }
    }
}

#[test]
fn successive_challenges_differ() {
    let mut t = Transcript::new();
    t.absorb_bytes(b"zkml");
    let (a, b) = (t.sample(), t.sample());
    assert_ne!(a, b);
    let v = t.sample_vec(3);
    assert_eq!(v.len(), 3);
    assert!(v[0] != v[1] && v[1] != v[2] && v[0] != b);
    let (x, y) = (t.sample_base(), t.sample_base());
    assert_ne!(x, y);
    assert_ne!(x, F::ZERO);
}

/// The frozen format: these calls must keep producing these challenges.
#[test]
fn known_answer() {
    let mut t = Transcript::new();
    t.absorb_bytes(b"zkml known answer");
    t.absorb_u64(5);
    t.absorb_u64(0x1234_5678_9ABC_DEF0);
    t.absorb_base(&[F::from_u64(3), F::from_u64(4)]);
    t.absorb_ext(&[ext(5, 6, 7)]);
    let got = [coeffs(t.sample()), coeffs(t.sample_vec(2)[1])];
    let base = t.sample_base().as_canonical_u64();
    let challenger_sample = {
        use p3_challenger::CanSample;
        let c: F = t.challenger().sample();
        c.as_canonical_u64()
    };
    assert_eq!(got, KNOWN);
    assert_eq!(base, KNOWN_BASE);
    assert_eq!(challenger_sample, KNOWN_CHALLENGER);
}

const KNOWN: [[u64; 3]; 2] = [
    [
        9330511261048913933,
        4616983923404296503,
        3328058455007740998,
    ],
    [
        8690728776311071008,
        5929676033049347672,
        4210705536167475862,
    ],
];
const KNOWN_BASE: u64 = 15306281584114309329;
const KNOWN_CHALLENGER: u64 = 13967498627669142623;
