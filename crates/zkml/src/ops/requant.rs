//! Requantization: `out = clamp(floor((acc * m + 2^31) / 2^32), lo, hi)` (round half up), with
//! ReLU fused as `lo = 0`.
//!
//! Witness per element: `out`, `sigma = [out = hi] - [out = lo]`, the clamp excess
//! `e = |q - out|` (`EXCESS_BITS` bits) and the remainder `r` (`REM_BITS` bits) in limbs
//! ([`Limbs`]: bytes, or 16-bit limbs where a proof requantizes enough values to pay for the
//! 2^16-row table). Lookups prove `(out, sigma)` is a row of the clamp table and every limb is
//! in its range. A zero-check proves
//!
//! `acc * m + 2^31 - 2^32 (out + sigma e) - r = 0` on every element.
//!
//! # Soundness
//! `|acc * m + 2^31| < 2^62` for every input in range, by [`check_derived_bounds`] on public
//! numbers only (fan-in, bit width, the key's bias bound, the multipliers), which setup and
//! the key check on load both run; the key proof (`crate::keyproof`) certifies the weight and
//! bias ranges and the zero padding that bound assumes. The right-hand side is
//! below `(2^15 + 2^24) 2^32 + 2^32 < 2^57`, so the field identity is an integer identity, and
//! with `0 <= r < 2^32` it pins `q = out + sigma e` to the floor quotient; `sigma` then forces
//! `q >= hi` when `out = hi`, `q <= lo` when `out = lo`, and `q = out` otherwise.

use p3_field::PrimeCharacteristicRing;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use zkml_model::REQUANT_SHIFT;
use zkml_proof::field::{EF, F, from_i64};
use zkml_proof::mle::{eq_eval, evaluate, evaluate_padded};
use zkml_proof::sumcheck::{self, SumcheckProof, ZeroCheck};
use zkml_proof::transcript::Transcript;

use crate::cheat::{Hook, Msg, Stage};
use crate::error::VerifyError;
use crate::layout::{Col, LayerShape, Layout, Lookup};
use crate::ops::{ProveCx, VerifyCx, WitnessCx};
use crate::statement::{Claims, Public};
use crate::tables::Table;
use crate::witness::{LayerWitness, field, pad_rows};

/// Bits of the clamp excess `e = |q - out|` (setup bounds it: [`check_derived_bounds`]).
pub const EXCESS_BITS: u32 = 24;
/// Bits of the rounding remainder `r`.
pub const REM_BITS: u32 = REQUANT_SHIFT;

/// How a layer's excess and remainder are split into range-checked limbs: bytes, or 16-bit
/// limbs where the proof requantizes enough values to pay for the 2^16-row table (one choice
/// per proof, [`Limbs::wide_for`]); the excess in as few limbs as the key's bound on it allows
/// (`excess_bits`, from [`check_derived_bounds`] and its siblings). Prover and verifier both
/// derive it from the key and the number of samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limbs {
    pub wide: bool,
    /// The excess is below `2^excess_bits` (at most [`EXCESS_BITS`]).
    pub excess_bits: u32,
}

impl Default for Limbs {
    fn default() -> Self {
        Self {
            wide: false,
            excess_bits: EXCESS_BITS,
        }
    }
}

/// From this many requantized values (samples times padded outputs, over all layers) a proof
/// takes 16-bit limbs: they save two or three committed cells and lookups a value, and cost
/// the 2^16-row table's multiplicities and its part of the lookup argument.
pub const WIDE_FROM: usize = 1 << 15;

impl Limbs {
    /// Whether a proof that requantizes `values` values takes 16-bit limbs.
    pub fn wide_for(values: usize) -> bool {
        values >= WIDE_FROM
    }

    /// Bits of each limb of the excess, least significant first: bytes, or 16-bit limbs and a
    /// byte for the last 8 bits or fewer.
    pub fn excess(self) -> Vec<u32> {
        widths(self.excess_bits, self.wide)
    }

    /// Bits of each limb of the remainder, least significant first.
    pub fn rem(self) -> Vec<u32> {
        widths(REM_BITS, self.wide)
    }

    /// The number of evaluations a zero-check sends: `acc`, `out`, `sigma`, then the limbs.
    pub fn evals(self) -> usize {
        3 + self.excess().len() + self.rem().len()
    }
}

/// Limbs of 8 bits (16 if `wide`, the last one 8 if that is enough) covering `bits` bits.
fn widths(bits: u32, wide: bool) -> Vec<u32> {
    let mut v = Vec::new();
    let mut left = bits;
    while left > 0 {
        let w = if wide && left > 8 { 16 } else { 8 };
        v.push(w);
        left = left.saturating_sub(w);
    }
    v
}

/// The range table of a limb of `bits` bits.
pub fn limb_table(bits: u32) -> Table {
    if bits == 16 {
        Table::Limb16
    } else {
        Table::Limb
    }
}

/// `v` split into limbs of `widths` bits, least significant first.
pub fn split(v: u64, widths: &[u32]) -> impl Iterator<Item = u64> + '_ {
    widths.iter().scan(0u32, move |at, &w| {
        let limb = (v >> *at) & ((1u64 << w) - 1);
        *at += w;
        Some(limb)
    })
}

/// The witness of one requantized element: the excess and remainder whole ([`split`] gives
/// their limbs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decomposed {
    pub out: i64,
    pub sigma: i64,
    pub excess: u64,
    pub rem: u64,
}

/// Activation range of `bits`-bit values with or without ReLU.
pub fn range(relu: bool, bits: u32) -> (i64, i64) {
    let hi = (1i64 << (bits - 1)) - 1;
    (if relu { 0 } else { -(1i64 << (bits - 1)) }, hi)
}

/// Splits a requantization into its witness. Agrees with [`zkml_model::requantize`].
pub fn decompose(acc: i64, m: i64, relu: bool, bits: u32) -> Decomposed {
    let v = i128::from(acc) * i128::from(m) + (1i128 << (REQUANT_SHIFT - 1));
    let q = v >> REQUANT_SHIFT;
    let r = (v - (q << REQUANT_SHIFT)) as u64;
    let (lo, hi) = range(relu, bits);
    let out = q.clamp(i128::from(lo), i128::from(hi)) as i64;
    let sigma = i64::from(out == hi) - i64::from(out == lo);
    let e = (q - i128::from(out)).unsigned_abs() as u64;
    debug_assert!(e < 1 << EXCESS_BITS, "setup bounds the excess");
    Decomposed {
        out,
        sigma,
        excess: e,
        rem: r,
    }
}

/// A row whose accumulators may leave the range the argument supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundViolation {
    pub row: usize,
    pub acc_max: i128,
    pub multiplier: i64,
}

/// The largest `|acc|` of a row that public data allows: `fan_in` weights and inputs of at
/// most `2^(bits-1)` in magnitude and a bias of at most `2^bias_bits - 1`, so
/// `fan_in * 2^(2 bits - 2) + 2^bias_bits - 1`. The key proof certifies the weight and bias
/// ranges and that padding weights are zero, so `fan_in` is the real (unpadded) fan-in.
pub fn derived_acc_max(fan_in: usize, bits: u32, bias_bits: u8) -> i128 {
    // lossless: usize has at most 64 bits, and 2^64 * 2^30 fits an i128
    let fan_in = fan_in as i128;
    (fan_in << (2 * bits - 2)).saturating_add((1i128 << bias_bits.min(100)) - 1)
}

/// Checks that every row of a layer (multiplier `multiplier[o]`, bias bound `bias_bits[o]`)
/// fits the argument (see the module docs) for the bound of [`derived_acc_max`]: `0 <= m`,
/// `acc_max < 2^62`, `acc_max * m + 2^31 < 2^62` and clamp excess
/// `q_max + 2^(bits-1) < 2^24`. Setup refuses a layer that fails, and the verifier checks it
/// again when it loads a key, from the key's public numbers alone.
///
/// # Returns
/// The excess bits of the layer: the least `k` with `q_max + 2^(bits-1) < 2^k` on every row
/// (no more than [`EXCESS_BITS`]), the excess's range in its proofs.
///
/// # Errors
/// The first row that fails, with its bound and multiplier.
pub fn check_derived_bounds(
    fan_in: usize,
    bits: u32,
    bias_bits: &[u8],
    multiplier: &[i64],
) -> Result<u32, BoundViolation> {
    let rows = multiplier.iter().zip(bias_bits);
    check_rows(
        rows.map(|(&m, &b)| (derived_acc_max(fan_in, bits, b), m)),
        bits,
    )
}

/// [`check_derived_bounds`] for an average pool: a window sum of `area` inputs (weights 1, no
/// bias), so `|acc| <= area * 2^(bits-1)`.
///
/// # Errors
/// The first channel that fails.
pub fn check_pool_bounds(
    area: usize,
    bits: u32,
    multiplier: &[i64],
) -> Result<u32, BoundViolation> {
    // lossless: usize has at most 64 bits
    let acc_max = (area as i128) << (bits - 1);
    check_rows(multiplier.iter().map(|&m| (acc_max, m)), bits)
}

/// [`check_derived_bounds`] for a sum `a m_a + b m_b` of two activations (`scales`), so
/// `|acc| <= (m_a + m_b) 2^(bits-1)`.
///
/// # Errors
/// The first channel that fails.
pub fn check_sum_bounds(
    scales: [i64; 2],
    bits: u32,
    multiplier: &[i64],
) -> Result<u32, BoundViolation> {
    let [a, b] = scales.map(|m| i128::from(m).abs());
    let acc_max = (a + b) << (bits - 1);
    check_rows(multiplier.iter().map(|&m| (acc_max, m)), bits)
}

/// The bounds of the module docs for rows `(acc_max, m)`.
fn check_rows(rows: impl Iterator<Item = (i128, i64)>, bits: u32) -> Result<u32, BoundViolation> {
    let x_max = 1i128 << (bits - 1);
    let mut excess_max = 0i128;
    for (row, (acc_max, m)) in rows.enumerate() {
        let v_max = acc_max.saturating_mul(i128::from(m)) + (1 << (REQUANT_SHIFT - 1));
        let q_max = (v_max >> REQUANT_SHIFT) + 1;
        if m < 0 || acc_max >= 1 << 62 || v_max >= 1 << 62 || q_max + x_max >= 1 << EXCESS_BITS {
            return Err(BoundViolation {
                row,
                acc_max,
                multiplier: m,
            });
        }
        excess_max = excess_max.max(q_max + x_max);
    }
    // `e = |q - out| <= q_max + x_max < 2^k`
    Ok(128 - excess_max.leading_zeros())
}

/// Columns of one layer's requantization, each `[samples][rows]` padded, in the base field.
pub struct RequantColumns {
    pub out: Vec<F>,
    pub sigma: Vec<F>,
    /// The excess's limbs, `limbs.excess()` bits each.
    pub excess: Vec<Vec<F>>,
    /// The remainder's limbs, `limbs.rem()` bits each.
    pub rem: Vec<Vec<F>>,
    pub limbs: Limbs,
}

/// The part of a proof of a requantizing layer: the requantization's zero-check and its final
/// evaluations, then the layer's own reduction of the accumulator claim (`inner`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requantized<P> {
    pub requant: SumcheckProof,
    pub requant_evals: RequantEvals,
    pub inner: P,
}

/// The evaluations the prover sends at the end of the zero-check (as many limbs as the
/// proof's [`Limbs`]: the verifier checks the counts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequantEvals {
    pub acc: EF,
    pub out: EF,
    pub sigma: EF,
    pub excess: Vec<EF>,
    pub rem: Vec<EF>,
}

impl RequantEvals {
    /// Inverse of `flat` for `limbs` (a slice of the right length: acc, out, sigma, excess,
    /// rem).
    fn from_flat(v: &[EF], limbs: Limbs) -> Self {
        let at = |i: usize| v.get(i).copied().unwrap_or_default();
        let e = limbs.excess().len();
        Self {
            acc: at(0),
            out: at(1),
            sigma: at(2),
            excess: (0..e).map(|k| at(3 + k)).collect(),
            rem: (0..limbs.rem().len()).map(|k| at(3 + e + k)).collect(),
        }
    }

    fn flat(&self) -> Vec<EF> {
        let mut v = vec![self.acc, self.out, self.sigma];
        v.extend(&self.excess);
        v.extend(&self.rem);
        v
    }
}

/// `sum_k 2^(offset_k) limbs[k]`, limb `k` of `widths[k]` bits.
fn limb_sum(limbs: &[EF], widths: &[u32]) -> EF {
    limbs
        .iter()
        .zip(widths)
        .rev()
        .fold(EF::ZERO, |acc, (&l, &w)| acc * F::from_u64(1 << w) + l)
}

/// The weight of each limb in [`limb_sum`]: `2^(the widths below it)`.
fn limb_weights(widths: &[u32]) -> Vec<F> {
    let mut at = 0;
    widths
        .iter()
        .map(|&w| {
            let weight = F::from_u64(1 << at);
            at += w;
            weight
        })
        .collect()
}

/// Proves the zero-check of one layer. `acc` is `[samples][rows]`, `multiplier` is per row
/// (padded length `2^out_vars`; a conv repeats its channel's multiplier over the positions).
/// Returns the proof, the point and the evaluations there. `hook` is the cheating prover's
/// (tests); the honest prover passes an inactive one.
pub fn prove(
    acc: &[F],
    multiplier: &[F],
    cols: &RequantColumns,
    num_vars: usize,
    hook: Hook<'_>,
    t: &mut Transcript,
) -> (SumcheckProof, Vec<EF>, RequantEvals) {
    let tau = t.sample_vec(num_vars);
    let m_full: Vec<F> = (0..acc.len())
        .map(|i| multiplier[i % multiplier.len()])
        .collect();
    // The identity `acc m + 2^31 - 2^32 (out + sigma sum_k w_k e_k) - sum_k w'_k r_k = 0`
    // is linear in `out`, the excess limbs and the remainder limbs, and so are their MLEs:
    // the kernel runs over `lin = 2^31 - 2^32 out - sum_k w'_k r_k` and `ex = sum_k w_k e_k`
    // (base tables acc, m, sigma, lin, ex; eq(tau) kept out of the tables by [`ZeroCheck`]),
    // and the columns are evaluated at the point afterwards. The round messages are those of
    // the sumcheck over every column and eq.
    let two32 = F::from_u64(1 << 32);
    let weighted = |limbs: &[Vec<F>], weights: &[F], i: usize| -> F {
        (limbs.iter().zip(weights)).map(|(l, &w)| w * l[i]).sum()
    };
    let excess_weights = limb_weights(&cols.limbs.excess());
    let rem_weights = limb_weights(&cols.limbs.rem());
    let (lin, ex): (Vec<F>, Vec<F>) = (0..acc.len())
        .into_par_iter()
        .map(|i| {
            let lin =
                F::from_u64(1 << 31) - two32 * cols.out[i] - weighted(&cols.rem, &rem_weights, i);
            (lin, weighted(&cols.excess, &excess_weights, i))
        })
        .unzip();
    let base = vec![acc.to_vec(), m_full, cols.sigma.clone(), lin, ex];
    let terms = vec![
        (EF::ONE, vec![0, 1]),
        (EF::ONE, vec![3]),
        (-EF::from(two32), vec![2, 4]),
    ];
    let mut kernel = ZeroCheck::new(base, Vec::new(), terms, &tau);
    let (proof, point, _) = hook.sumcheck(Stage::Requant, &mut kernel, num_vars, || EF::ZERO, t);
    // the kernel's tables end at their values at the point
    let values = kernel.values();
    let at_point = |columns: &[Vec<F>]| -> Vec<EF> {
        columns.par_iter().map(|c| evaluate(c, &point)).collect()
    };
    let mut evals = RequantEvals {
        acc: values[0],
        out: evaluate(&cols.out, &point),
        sigma: values[2],
        excess: at_point(&cols.excess),
        rem: at_point(&cols.rem),
    };
    let mut flat = evals.flat();
    if hook.active() {
        hook.edit(Msg::RequantEvals(hook.layer()), &mut flat);
        evals = RequantEvals::from_flat(&flat, cols.limbs);
    }
    t.absorb_ext(&flat);
    (proof, point, evals)
}

/// Verifies the zero-check of layer `layer` and returns its point. The caller must check every
/// evaluation in `evals` (the accumulator by the dense sumcheck, the rest by openings).
///
/// # Errors
/// [`VerifyError::Shape`] when the limb counts are not the layout's, [`VerifyError::Sumcheck`]
/// on a malformed sumcheck, [`VerifyError::Requant`] when the final identity fails.
pub fn verify(
    layer: usize,
    multiplier: &[i64],
    shape: &LayerShape,
    sample_vars: usize,
    proof: &SumcheckProof,
    evals: &RequantEvals,
    t: &mut Transcript,
) -> Result<Vec<EF>, VerifyError> {
    let (num_vars, mult_vars) = (sample_vars + shape.out_vars, shape.mult_vars);
    let (excess_widths, rem_widths) = (shape.limbs.excess(), shape.limbs.rem());
    for (what, expected, got) in [
        ("excess limbs", excess_widths.len(), evals.excess.len()),
        ("remainder limbs", rem_widths.len(), evals.rem.len()),
    ] {
        if expected != got {
            return Err(VerifyError::Shape {
                what,
                expected,
                got,
            });
        }
    }
    let tau = t.sample_vec(num_vars);
    let (point, fin) = sumcheck::verify(EF::ZERO, num_vars, 3, proof, t).map_err(|source| {
        VerifyError::Sumcheck {
            stage: format!("requant zero-check of layer {layer}"),
            source,
        }
    })?;
    t.absorb_ext(&evals.flat());
    let m = field(&multiplier_table(multiplier, shape));
    let m_eval = evaluate_padded(&m, &point[sample_vars..sample_vars + mult_vars]);
    let two32 = EF::from(F::from_u64(1 << 32));
    let body = evals.acc * m_eval + F::from_u64(1 << 31)
        - two32 * (evals.out + evals.sigma * limb_sum(&evals.excess, &excess_widths))
        - limb_sum(&evals.rem, &rem_widths);
    if fin != eq_eval(&tau, &point) * body {
        return Err(VerifyError::Requant { layer });
    }
    Ok(point)
}

/// Layer `l`'s requantization columns besides its output.
pub(crate) fn columns(l: usize, limbs: Limbs) -> Vec<Col> {
    let mut v = vec![Col::Sigma(l)];
    v.extend((0..limbs.excess().len()).map(|k| Col::Excess(l, k)));
    v.extend((0..limbs.rem().len()).map(|k| Col::Rem(l, k)));
    v
}

/// Layer `l`'s lookups: `(out, sigma)` into the clamp table, every limb into its range table.
pub(crate) fn lookups(l: usize, relu: bool, limbs: Limbs) -> Vec<Lookup> {
    let limb = |a, bits| Lookup {
        table: limb_table(bits),
        a,
        b: None,
        fill: 0,
        per_channel: false,
    };
    let mut v = vec![Lookup {
        table: Table::clamp(relu),
        a: Col::Out(l),
        b: Some(Col::Sigma(l)),
        fill: 0,
        per_channel: false,
    }];
    let excess = limbs.excess().into_iter().enumerate();
    v.extend(excess.map(|(k, bits)| limb(Col::Excess(l, k), bits)));
    let rem = limbs.rem().into_iter().enumerate();
    v.extend(rem.map(|(k, bits)| limb(Col::Rem(l, k), bits)));
    v
}

/// The multipliers over their `mult_vars` variables: per dense row or channel as they are
/// (the padding past them is 0), or per output position (an average pool whose divisor
/// varies) laid out padded per dimension like the output.
fn multiplier_table(multiplier: &[i64], shape: &LayerShape) -> Vec<i64> {
    if multiplier.len() > shape.out_dims[0] {
        pad_rows(&[multiplier], &shape.out_dims)
    } else {
        multiplier.to_vec()
    }
}

/// The multiplier of every output row `[padded dims]`: per dense row, per channel, or per
/// position (0 past the real ones).
fn multiplier_rows(multiplier: &[i64], shape: &LayerShape) -> Vec<i64> {
    let rows = 1usize << shape.out_vars;
    let per = rows >> shape.mult_vars;
    let table = multiplier_table(multiplier, shape);
    (0..rows)
        .map(|r| table.get(r / per).copied().unwrap_or(0))
        .collect()
}

/// The witness of a requantizing layer from the model's accumulators; counts its lookups.
pub(crate) fn witness(cx: &WitnessCx<'_>, counts: &mut [(Table, Vec<u64>)]) -> LayerWitness {
    let acc_rows: Vec<&[i64]> = cx
        .traces
        .iter()
        .map(|t| t.acc.as_deref().unwrap_or_default())
        .collect();
    let acc = pad_rows(&acc_rows, &cx.shape.out_dims);
    let (multiplier, _, relu) = cx.layer.requantization().unwrap_or((&[], 1, false));
    let m = multiplier_rows(multiplier, cx.shape);
    let decs: Vec<Decomposed> = acc
        .par_iter()
        .enumerate()
        .map(|(k, &a)| decompose(a, m[k % m.len()], relu, cx.bits))
        .collect();
    let limbs = cx.shape.limbs;
    let (excess_widths, rem_widths) = (limbs.excess(), limbs.rem());
    let excess = limb_columns(&decs, |dc| dc.excess, &excess_widths);
    let rem = limb_columns(&decs, |dc| dc.rem, &rem_widths);
    let slot = |table: Table| counts.iter().position(|(t, _)| *t == table);
    let clamp = slot(Table::clamp(relu));
    let widths = excess_widths.iter().chain(&rem_widths);
    let limb_slots: Vec<Option<usize>> = widths.map(|&bits| slot(limb_table(bits))).collect();
    for dc in &decs {
        if let Some(i) = clamp {
            counts[i].1[Table::clamp(relu).index_of(cx.bits, dc.out)] += 1;
        }
        let parts = split(dc.excess, &excess_widths).chain(split(dc.rem, &rem_widths));
        for (limb, &at) in parts.zip(&limb_slots) {
            if let Some(i) = at {
                // lossless: a limb is below 2^16
                counts[i].1[limb as usize] += 1;
            }
        }
    }
    let out: Vec<i64> = decs.iter().map(|dc| dc.out).collect();
    let cols = RequantColumns {
        out: field(&out),
        sigma: decs.iter().map(|dc| from_i64(dc.sigma)).collect(),
        excess,
        rem,
        limbs,
    };
    LayerWitness {
        acc: field(&acc),
        cols,
        diffs: Vec::new(),
        out,
        aux: Vec::new(),
        rows: Vec::new(),
    }
}

/// The limb columns of one part (`part` of each element, split into `widths`).
fn limb_columns(
    decs: &[Decomposed],
    part: impl Fn(&Decomposed) -> u64,
    widths: &[u32],
) -> Vec<Vec<F>> {
    let mut columns = vec![Vec::with_capacity(decs.len()); widths.len()];
    for dc in decs {
        for (column, limb) in columns.iter_mut().zip(split(part(dc), widths)) {
            column.push(F::from_u64(limb));
        }
    }
    columns
}

/// Proves layer `cx.l`'s requantization and queues the claims it leaves on its columns;
/// returns the zero-check, its point and the evaluations there (the accumulator's is left to
/// the layer's own proof).
pub(crate) fn prove_step(
    cx: &ProveCx<'_>,
    claims: &mut Claims,
    t: &mut Transcript,
) -> (SumcheckProof, Vec<EF>, RequantEvals) {
    let lw = &cx.w.layers[cx.l];
    let m = field(&multiplier_rows(
        &cx.pk.vk.layers[cx.l].multiplier,
        cx.shape,
    ));
    let nv = cx.layout.sample_vars + cx.shape.out_vars;
    let (proof, point, evals) = prove(&lw.acc, &m, &lw.cols, nv, cx.hook, t);
    // the checks against public data only fail for a forged witness (tests); the verifier refuses it
    column_claims(cx.layout, cx.public, claims, cx.l, &point, &evals).ok();
    (proof, point, evals)
}

/// Verifies layer `cx.l`'s requantization and queues the claims it leaves on its columns;
/// returns the point at which the caller must prove the accumulator `evals.acc`.
///
/// # Errors
/// As [`verify`], and [`VerifyError::PublicOutput`] when the last layer's output disagrees
/// with the public one.
pub(crate) fn verify_step(
    cx: &VerifyCx<'_>,
    proof: &SumcheckProof,
    evals: &RequantEvals,
    claims: &mut Claims,
    t: &mut Transcript,
) -> Result<Vec<EF>, VerifyError> {
    let sv = cx.layout.sample_vars;
    let point = verify(cx.l, cx.multiplier, cx.shape, sv, proof, evals, t)?;
    column_claims(cx.layout, cx.public, claims, cx.l, &point, evals)?;
    Ok(point)
}

/// Queues the claims of layer `l`'s zero-check on its committed (or public) columns.
fn column_claims(
    layout: &Layout,
    public: &Public,
    claims: &mut Claims,
    l: usize,
    point: &[EF],
    ev: &RequantEvals,
) -> Result<(), VerifyError> {
    claims.column(layout, public, Col::Out(l), point.to_vec(), ev.out)?;
    claims.column(layout, public, Col::Sigma(l), point.to_vec(), ev.sigma)?;
    for (k, &v) in ev.excess.iter().enumerate() {
        claims.column(layout, public, Col::Excess(l, k), point.to_vec(), v)?;
    }
    for (k, &v) in ev.rem.iter().enumerate() {
        claims.column(layout, public, Col::Rem(l, k), point.to_vec(), v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_bound_is_the_worst_case_and_refuses_what_does_not_fit() {
        // 8 bits, fan-in 100, |b| < 2^10: 100 * 2^14 + 2^10 - 1
        assert_eq!(derived_acc_max(100, 8, 10), 100 * 16384 + 1023);
        // q_max = floor((acc_max 2^20 + 2^31) / 2^32) + 1 = 401: the excess is below
        // 401 + 128 < 2^10 (the row of multiplier 0: below 1 + 128 < 2^8)
        assert_eq!(
            check_derived_bounds(100, 8, &[10, 10], &[1 << 20, 0]),
            Ok(10)
        );
        assert_eq!(check_derived_bounds(100, 8, &[10], &[0]), Ok(8));
        // q_max = acc_max * m / 2^32 reaches 2^24
        let m = (1i64 << 56) / 1_639_423;
        let err = check_derived_bounds(100, 8, &[10, 10], &[1, m]).unwrap_err();
        assert_eq!(err.row, 1);
        assert_eq!(err.acc_max, 1_639_423);
        // the same multiplier passes on a row whose bias bound is smaller
        assert!(check_derived_bounds(100, 8, &[10, 0], &[1, m / 2]).is_ok());
        assert!(check_derived_bounds(100, 8, &[10], &[-1]).is_err());
        assert!(check_derived_bounds(1, 8, &[62], &[0]).is_err());
    }

    /// The clamp-excess limit, exactly: the largest multiplier with `q_max + 2^(bits-1) < 2^24`
    /// (`q_max = floor((acc_max m + 2^31) / 2^32) + 1`, computed here from the definition) is
    /// accepted and the next one refused, at several bit widths and bias bounds.
    #[test]
    fn the_excess_limit_is_exact() {
        for (fan_in, bits, b) in [(12usize, 8u32, 10u8), (100, 4, 3), (9, 12, 16), (1, 16, 0)] {
            let a = fan_in as i128 * (1i128 << (2 * bits - 2)) + (1i128 << b) - 1;
            assert_eq!(derived_acc_max(fan_in, bits, b), a);
            let fits = |m: i128| ((a * m + (1 << 31)) >> 32) + 1 + (1i128 << (bits - 1)) < 1 << 24;
            let (mut lo, mut hi) = (0i128, 1i128 << 62);
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if fits(mid) { lo = mid } else { hi = mid }
            }
            let m = i64::try_from(lo).unwrap();
            assert_eq!(
                check_derived_bounds(fan_in, bits, &[b], &[m]),
                Ok(EXCESS_BITS),
                "{bits} bits, m {m}"
            );
            let err = check_derived_bounds(fan_in, bits, &[b], &[m + 1]).unwrap_err();
            assert_eq!((err.row, err.acc_max, err.multiplier), (0, a, m + 1));
        }
    }

    /// Bytes, or 16-bit limbs with a byte for the last 8 bits or fewer, covering the bits.
    #[test]
    fn limbs_cover_their_bits() {
        let limbs = |wide, excess_bits| Limbs { wide, excess_bits };
        for (bits, bytes, wide) in [
            (1, vec![8], vec![8]),
            (8, vec![8], vec![8]),
            (9, vec![8, 8], vec![16]),
            (16, vec![8, 8], vec![16]),
            (17, vec![8, 8, 8], vec![16, 8]),
            (24, vec![8, 8, 8], vec![16, 8]),
        ] {
            assert_eq!(limbs(false, bits).excess(), bytes, "{bits}");
            assert_eq!(limbs(true, bits).excess(), wide, "{bits}");
        }
        assert_eq!(limbs(false, 9).rem(), [8; 4]);
        assert_eq!(limbs(true, 9).rem(), [16; 2]);
        assert_eq!(limbs(true, 9).evals(), 3 + 1 + 2);
        assert!(!Limbs::wide_for(WIDE_FROM - 1) && Limbs::wide_for(WIDE_FROM));
    }

    #[test]
    fn decomposition_agrees_with_the_model_and_recomposes() {
        for &(acc, m) in &[
            (0i64, 0i64),
            (1000, 1 << 20),
            (-1000, 1 << 20),
            (123_456, 77_777),
            (-99_999, 3 << 28),
        ] {
            for relu in [false, true] {
                let d = decompose(acc, m, relu, 8);
                assert_eq!(d.out, zkml_model::requantize(acc, m, relu, 8));
                let (e, r) = (i128::from(d.excess), i128::from(d.rem));
                let lhs = i128::from(acc) * i128::from(m) + (1 << 31);
                assert_eq!(
                    lhs,
                    (i128::from(d.out) + i128::from(d.sigma) * e) * (1 << 32) + r
                );
                // both limb splits recompose, each limb within its bits
                for wide in [false, true] {
                    let limbs = Limbs {
                        wide,
                        excess_bits: EXCESS_BITS,
                    };
                    for (v, widths) in [(d.excess, limbs.excess()), (d.rem, limbs.rem())] {
                        let parts: Vec<u64> = split(v, &widths).collect();
                        let back = limb_sum(
                            &parts.iter().map(|&p| EF::from_u64(p)).collect::<Vec<_>>(),
                            &widths,
                        );
                        assert_eq!(back, EF::from_u64(v));
                        assert!(parts.iter().zip(&widths).all(|(&p, &w)| p < 1 << w));
                    }
                }
            }
        }
    }
}
