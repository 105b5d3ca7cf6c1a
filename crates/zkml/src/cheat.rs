//! A cheating prover for soundness tests (not part of the stable API): the real prover,
//! deviating at chosen message points AFTER the witness is committed.
//!
//! A [`Cheat`] rewrites the witness before it is committed, rewrites prover messages before
//! they are absorbed, and can make a final evaluation agree with its op's final check. Under
//! any cheat every sumcheck is proven CONSISTENTLY with the claim the verifier holds (a false
//! sum gets round polynomials whose `g(0) + g(1)` follow the running claim), so a lie is caught
//! only by the final check (or opening) it reaches, never by an accident of the rounds. The
//! honest prover passes no cheat and does none of this work.

use std::cell::RefCell;
use std::ops::Range;

use p3_field::Field;
use zkml_proof::field::EF;
use zkml_proof::gkr::{GkrMsg, Segment};
use zkml_proof::sumcheck::{self, BaseFirst, ProductSum, RoundKernel, SumcheckProof, ZeroCheck};
use zkml_proof::transcript::Transcript;

use crate::keys::VerifyingKey;
use crate::witness::Witness;

/// A sumcheck of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The requantization zero-check.
    Requant,
    /// The dense sumcheck over the inner index.
    Dense,
    /// The conv sumcheck over the patch index.
    Patches,
    /// The wiring sumcheck of a conv or max-pool.
    Wiring,
    /// The max-pool zero-check.
    ZeroCheck,
}

/// A single-value field of a layer proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// `bias` of a dense or conv proof.
    Bias,
    /// `weight` of a dense or conv proof.
    Weight,
    /// `input` of a dense, conv or max-pool proof.
    Input,
    /// `unfolded` of a conv proof.
    Unfolded,
    /// `out` of a max-pool proof.
    Out,
}

/// A prover message: where it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// A message of the logup-GKR proof.
    Gkr(GkrMsg),
    /// `Proof::lookup_evals`, all at once.
    LookupEvals,
    /// `Proof::table_evals`, all at once.
    TableEvals,
    /// Round `round` of layer `layer`'s sumcheck `stage` (`h(0), h(2), ..`).
    Round {
        layer: usize,
        stage: Stage,
        round: usize,
    },
    /// Layer `layer`'s requantization evaluations, flat: acc, out, sigma, excess, rem.
    RequantEvals(usize),
    /// A single value of layer `layer`'s proof.
    Value(usize, Value),
    /// Max-pool layer `layer`: the limbs of the difference at window offset `k`.
    Diffs(usize, usize),
    /// Sum layer `layer`: its two inputs at the requantization's point.
    SumInputs(usize),
    /// Softmax layer `layer`: its sum and count of maxima at `tau_s`.
    SoftmaxSums(usize),
    /// Softmax, log-softmax or argmax layer `layer`: its column values at its sumcheck's point
    /// (an argmax's followed by its largest key).
    SoftmaxEvals(usize),
    /// Log-softmax layer `layer`: its per-sample values at `tau_s`.
    LogSoftmaxRows(usize),
    /// ArgMax layer `layer`: its index at `tau_s`.
    ArgMaxIndex(usize),
}

/// Rewrites a prover message in place.
pub type Edit<'a> = &'a dyn Fn(Msg, &mut [EF]);

/// Rewrites lookup `k`'s logup-GKR segment in place.
pub type SegmentEdit<'a> = &'a dyn Fn(usize, &mut Segment);

/// How the prover deviates. `Cheat::default()` deviates nowhere but still proves every
/// sumcheck against the verifier's claim (the same proof as the honest prover's).
#[derive(Default)]
pub struct Cheat<'a> {
    /// Rewrites the witness after inference, before anything is committed.
    pub witness: Option<&'a dyn Fn(&mut Witness)>,
    /// Rewrites a message before it is absorbed (the prover carries on from the new value).
    pub message: Option<Edit<'a>>,
    /// Final evaluations recomputed so that their op's final check passes (`Weight`, `Input`
    /// or `Unfolded` of a layer): the lie moves on to the claims they leave.
    pub fix: Vec<(usize, Value)>,
    /// A key whose windows the op provers follow instead of the stated key's (a shifted conv
    /// or pool window). It must have the same shapes; the statement still binds the real key.
    pub prover_vk: Option<&'a VerifyingKey>,
    /// Receives every challenge the prover sampled (see `Transcript::recorded`).
    pub challenges: Option<&'a RefCell<Vec<EF>>>,
    /// Receives where the lookups' and the layers' challenges sit among `challenges`
    /// (`Transcript::joined_forks`).
    pub forks: Option<&'a RefCell<Vec<Range<usize>>>>,
    /// Rewrites lookup `k`'s logup-GKR segment (numerators `-1`, denominators
    /// `alpha - combine(..)`) before the GKR proves it.
    pub lookup_segment: Option<SegmentEdit<'a>>,
}

/// The cheat seen by one layer's prover (`None`: honest).
#[derive(Clone, Copy)]
pub struct Hook<'a> {
    cheat: Option<&'a Cheat<'a>>,
    layer: usize,
}

impl<'a> Hook<'a> {
    /// The hook of layer `layer`.
    pub fn new(cheat: Option<&'a Cheat<'a>>, layer: usize) -> Self {
        Self { cheat, layer }
    }

    /// The layer this hook belongs to.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// Whether the prover cheats at all.
    pub fn active(&self) -> bool {
        self.cheat.is_some()
    }

    /// Applies the message edit, if any, to `values`.
    pub fn edit(&self, at: Msg, values: &mut [EF]) {
        if let Some(edit) = self.cheat.and_then(|c| c.message) {
            edit(at, values);
        }
    }

    /// Applies the edit of this layer's single value `v`.
    pub fn value(&self, v: Value, x: &mut EF) {
        let mut one = [*x];
        self.edit(Msg::Value(self.layer, v), &mut one);
        *x = one[0];
    }

    /// Whether this layer's value `v` is to be fixed up to pass its final check.
    pub fn fix(&self, v: Value) -> bool {
        self.cheat.is_some_and(|c| c.fix.contains(&(self.layer, v)))
    }

    /// After a sumcheck whose final check is `fin == a * b` (the verifier's `fin` is the
    /// product of the kernel's final values plus the sumcheck's offset): recomputes `a` or
    /// `b`, whichever is to be fixed, so that the check passes.
    pub fn fix_product(&self, fin: EF, a: (Value, &mut EF), b: (Value, &mut EF)) {
        if !self.fix_factor(fin, a.0, a.1, *b.1) {
            self.fix_factor(fin, b.0, b.1, *a.1);
        }
    }

    /// After a sumcheck whose final check is `fin == x * other`: recomputes `x` (named `v`)
    /// when it is to be fixed. Returns whether it was.
    pub fn fix_factor(&self, fin: EF, v: Value, x: &mut EF, other: EF) -> bool {
        if !self.fix(v) {
            return false;
        }
        *x = other.try_inverse().map_or(fin, |inv| fin * inv);
        true
    }

    /// Runs sumcheck `stage` of this layer on `kernel`. When cheating, the rounds follow the
    /// verifier's `claim` (whatever the true sum) and the messages go through the edit;
    /// returns the final offset (the verifier's final claim minus the kernel's value).
    pub fn sumcheck(
        &self,
        stage: Stage,
        kernel: &mut impl Kernel,
        num_vars: usize,
        claim: impl FnOnce() -> EF,
        t: &mut Transcript,
    ) -> (SumcheckProof, Vec<EF>, EF) {
        let Some(cheat) = self.cheat else {
            let (proof, point) = sumcheck::prove(kernel, num_vars, t);
            return (proof, point, EF::default());
        };
        let delta = claim() - kernel.sum();
        let layer = self.layer;
        let mut edit = |round: usize, msg: &mut [EF]| {
            if let Some(e) = cheat.message {
                e(
                    Msg::Round {
                        layer,
                        stage,
                        round,
                    },
                    msg,
                );
            }
        };
        sumcheck::prove_deviating(kernel, num_vars, delta, &mut edit, t)
    }
}

/// A sumcheck kernel whose true sum a cheating prover knows (to offset it).
pub trait Kernel: RoundKernel {
    fn sum(&self) -> EF;
}

impl Kernel for ProductSum {
    fn sum(&self) -> EF {
        ProductSum::sum(self)
    }
}

impl Kernel for BaseFirst {
    fn sum(&self) -> EF {
        BaseFirst::sum(self)
    }
}

impl Kernel for ZeroCheck {
    fn sum(&self) -> EF {
        ZeroCheck::sum(self)
    }
}
