//! The Fiat-Shamir transcript: one Poseidon2 duplex sponge over Goldilocks that runs through
//! the whole proof; each PCS opening runs on a fork of it ([`Transcript::fork`]).

use std::ops::Range;

use p3_challenger::{CanObserve, CanSample, DuplexChallenger, FieldChallenger};
use p3_field::PrimeCharacteristicRing;
use p3_goldilocks::{Poseidon2Goldilocks, default_goldilocks_poseidon2_8};

use crate::field::{EF, F};

/// The permutation behind the transcript and the Merkle hashes.
pub type Perm = Poseidon2Goldilocks<8>;
/// The underlying Plonky3 challenger (what the PCS consumes).
pub type Challenger = DuplexChallenger<F, Perm, 8, 4>;

/// A Fiat-Shamir transcript. Prover and verifier must make the same calls in the same order.
#[derive(Clone)]
pub struct Transcript {
    inner: Challenger,
    /// Every challenge sampled through this wrapper, when recording (tests).
    log: Option<Vec<EF>>,
    /// Where each joined fork's challenges sit in `log`.
    forks: Vec<Range<usize>>,
}

impl Default for Transcript {
    fn default() -> Self {
        Self::new()
    }
}

impl Transcript {
    /// A fresh transcript.
    pub fn new() -> Self {
        Self {
            inner: Challenger::new(default_goldilocks_poseidon2_8()),
            log: None,
            forks: Vec::new(),
        }
    }

    /// A fresh transcript that records every challenge it samples (transcript-binding tests;
    /// the PCS samples through [`Transcript::challenger`] and is not recorded).
    #[doc(hidden)]
    pub fn recording() -> Self {
        Self {
            log: Some(Vec::new()),
            ..Self::new()
        }
    }

    /// The challenges recorded so far, then one more drawn from the current state (it binds
    /// everything absorbed since the last recorded challenge, the PCS's messages included).
    #[doc(hidden)]
    pub fn recorded(&mut self) -> Vec<EF> {
        let tail = self.inner.sample_algebra_element();
        let mut log = self.log.take().unwrap_or_default();
        log.push(tail);
        log
    }

    /// Absorbs a byte string with its length (labels, digests, serialized metadata).
    /// Bytes are packed 7 to a field element, so the packing is injective.
    pub fn absorb_bytes(&mut self, bytes: &[u8]) {
        self.inner.observe(F::from_u64(bytes.len() as u64));
        for chunk in bytes.chunks(7) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.inner.observe(F::from_u64(u64::from_le_bytes(w)));
        }
    }

    /// Absorbs a u64 (below p it is exact; larger values are split in two 32-bit halves).
    pub fn absorb_u64(&mut self, v: u64) {
        self.inner.observe(F::from_u64(v & 0xFFFF_FFFF));
        self.inner.observe(F::from_u64(v >> 32));
    }

    /// Absorbs base-field elements with their count.
    pub fn absorb_base(&mut self, v: &[F]) {
        self.inner.observe(F::from_u64(v.len() as u64));
        for &x in v {
            self.inner.observe(x);
        }
    }

    /// Absorbs extension-field elements (no length prefix: callers absorb fixed-size data).
    pub fn absorb_ext(&mut self, v: &[EF]) {
        for &x in v {
            self.inner.observe_algebra_element(x);
        }
    }

    /// Samples one challenge in the extension field.
    pub fn sample(&mut self) -> EF {
        let c = self.inner.sample_algebra_element();
        if let Some(log) = &mut self.log {
            log.push(c);
        }
        c
    }

    /// Samples `n` challenges.
    pub fn sample_vec(&mut self, n: usize) -> Vec<EF> {
        (0..n).map(|_| self.sample()).collect()
    }

    /// Samples one base-field element.
    pub fn sample_base(&mut self) -> F {
        let c: F = self.inner.sample();
        if let Some(log) = &mut self.log {
            log.push(c.into());
        }
        c
    }

    /// Where each joined fork's challenges sit in [`Transcript::recorded`]'s list (tests).
    #[doc(hidden)]
    pub fn joined_forks(&self) -> Vec<Range<usize>> {
        self.forks.clone()
    }

    /// A transcript for a sub-protocol whose whole statement this state already binds: a copy
    /// that absorbs a fork label and `branch`. Forks of one state with different branches
    /// draw different challenges; a fork records (for itself) when this transcript does.
    /// Sub-protocols on forks of one state run at once.
    pub fn fork(&self, branch: u64) -> Self {
        let mut t = Self {
            inner: self.inner.clone(),
            log: self.log.as_ref().map(|_| Vec::new()),
            forks: Vec::new(),
        };
        t.absorb_bytes(b"zkml/fork");
        t.absorb_u64(branch);
        t
    }

    /// Ends a fork whose messages later challenges must depend on: absorbs one challenge drawn
    /// from the fork (it binds everything the fork absorbed) and, when recording, appends the
    /// fork's challenges, that one included, to this transcript's.
    pub fn join(&mut self, mut fork: Self) {
        let tail = fork.sample();
        self.absorb_ext(&[tail]);
        self.keep_log(fork);
    }

    /// Appends a fork's recorded challenges without joining it: a fork whose sub-protocol
    /// failed (the verifier's recording then ends with them, as it would have in line).
    #[doc(hidden)]
    pub fn keep_log(&mut self, fork: Self) {
        if let (Some(log), Some(theirs)) = (&mut self.log, fork.log) {
            let start = log.len();
            log.extend(theirs);
            self.forks.push(start..log.len());
        }
    }

    /// The underlying challenger, for the PCS which drives it directly.
    pub fn challenger(&mut self) -> &mut Challenger {
        &mut self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_calls_same_challenges_and_different_data_differs() {
        let mut a = Transcript::new();
        let mut b = Transcript::new();
        a.absorb_bytes(b"zkml");
        b.absorb_bytes(b"zkml");
        assert_eq!(a.sample(), b.sample());
        a.absorb_bytes(b"x");
        b.absorb_bytes(b"y");
        assert_ne!(a.sample(), b.sample());
    }

    #[test]
    fn forks_differ_from_each_other_and_from_their_parent() {
        let mut t = Transcript::recording();
        t.absorb_bytes(b"zkml");
        let (mut a, mut b, mut a2) = (t.fork(0), t.fork(1), t.fork(0));
        let x = a.sample();
        assert_eq!(x, a2.sample());
        let y = b.sample();
        assert_ne!(x, y);
        assert_ne!(x, t.clone().sample());
        assert_eq!(a.log.map(|l| l.len()), Some(1), "a fork records for itself");
        let _ = t.sample();
        let mut joined = t.clone();
        joined.join(b);
        let spans = joined.joined_forks();
        assert_eq!(spans, vec![1..3], "the fork's challenge and its last");
        let (mut apart, mut after) = (t.clone(), joined.clone());
        assert_ne!(after.sample(), apart.sample(), "joining absorbs");
        let log = joined.recorded();
        assert_eq!((log.len(), log[1]), (4, y));
        assert_eq!(
            t.recorded().len(),
            2,
            "a fork records nothing in its parent until joined"
        );
    }
}
