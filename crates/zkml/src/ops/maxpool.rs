//! Max-pooling: `out = max_k G_k` over the window offsets `k = (i, j)`, where `G_k` gathers the
//! input (padding reads `PAD = -2^(bits-1)`, which never wins over a real value).
//!
//! Witness: `out` and, per offset, `D_k = out - G_k` in byte limbs (range checks: `D_k >= 0`).
//! A zero-check shows `prod_k D_k = 0` (some offset attains the max). With `lambda` drawn
//! after, `sum_k lambda^k (out - D_k)(rho) = sum_k lambda^k G_k(rho)` is reduced by a wiring
//! sumcheck to one claim on the input. Output positions in the power-of-two padding are zero.

use p3_field::PrimeCharacteristicRing;
use serde::{Deserialize, Serialize};
use zkml_proof::field::{EF, F, from_i64};
use zkml_proof::mle::{eq_eval, eq_table, evaluate};
use zkml_proof::sumcheck::{self, BaseFirst, SumcheckProof, ZeroCheck};
use zkml_proof::transcript::Transcript;

use crate::cheat::{Hook, Msg, Stage, Value};
use crate::error::VerifyError;
use crate::layout::{Col, LayerShape, Lookup, diff_limbs, pow2_vars};
use crate::ops::LayerProof;
use crate::ops::conv::outer;
use crate::ops::{
    KeyCx, KeyFault, LayerKind, LayerOp, ProveCx, VerifyCx, WitnessCx, window_kind, window_ok,
};
use crate::statement::Claims;
use crate::tables::Table;
use crate::wiring::Grid;
use crate::witness::{LayerWitness, pad_rows};

window_kind! {
    /// The max-pool layer kind (no requantization).
    MaxPool, zkml_model::MaxPoolLayer
}

impl LayerKind for MaxPool {
    fn columns(&self, l: usize, shape: &LayerShape, bits: u32) -> Vec<Col> {
        let g = grid(shape);
        (0..g.rows.kernel * g.cols.kernel)
            .flat_map(|k| (0..diff_limbs(bits)).map(move |t| Col::Diff(l, k, t)))
            .collect()
    }

    fn lookups(&self, l: usize, shape: &LayerShape, bits: u32) -> Vec<Lookup> {
        self.columns(l, shape, bits)
            .into_iter()
            .map(|a| Lookup {
                table: Table::Limb,
                a,
                b: None,
                fill: 0,
                per_channel: false,
            })
            .collect()
    }

    fn witness(&self, cx: &WitnessCx<'_>, counts: &mut [(Table, Vec<u64>)]) -> LayerWitness {
        let out_rows: Vec<&[i64]> = cx.traces.iter().map(|t| t.out.as_slice()).collect();
        let out = pad_rows(&out_rows, &cx.shape.out_dims);
        let gathers = match cx.layer {
            zkml_model::QuantLayer::MaxPool(p) => gathers(p, &cx.inputs, cx.bits),
            _ => Vec::new(),
        };
        let limbs = diff_limbs(cx.bits);
        let mut limb_counts = counts.iter_mut().find(|(t, _)| *t == Table::Limb);
        let diffs = gathers
            .iter()
            .map(|g| {
                // phantom positions (padding of the layout) gather 0 and hold out = 0
                let d: Vec<u64> = pad_rows(g, &cx.shape.out_dims)
                    .iter()
                    .zip(&out)
                    .map(|(&v, &o)| (o - v) as u64)
                    .collect();
                (0..limbs)
                    .map(|t| {
                        d.iter()
                            .map(|&v| {
                                let limb = (v >> (8 * t)) & 0xFF;
                                if let Some((_, c)) = limb_counts.as_mut() {
                                    c[limb as usize] += 1;
                                }
                                F::from_u64(limb)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        LayerWitness::unrequantized(out, diffs)
    }

    fn prove(&self, cx: &ProveCx<'_>, claims: &mut Claims, t: &mut Transcript) -> LayerProof {
        let lw = &cx.w.layers[cx.l];
        let (sv, bits) = (cx.layout.sample_vars, cx.layout.bits);
        let (out, diffs) = (&lw.cols.out, &lw.diffs);
        let (pp, pc) = prove(cx.shape, bits, out, diffs, cx.input(0), sv, cx.hook, t);
        // the checks against public data only fail for a forged witness (tests); the verifier refuses it
        queue_claims(cx.layout, cx.public, claims, cx.l, &pc, &pp).ok();
        pp.into()
    }

    fn verify(
        &self,
        cx: &VerifyCx<'_>,
        proof: &LayerProof,
        claims: &mut Claims,
        t: &mut Transcript,
    ) -> Result<(), VerifyError> {
        let pp = cx.proof(proof)?;
        let (sv, bits) = (cx.layout.sample_vars, cx.layout.bits);
        let pc = verify(cx.l, cx.shape, bits, sv, pp, t)?;
        queue_claims(cx.layout, cx.public, claims, cx.l, &pc, pp)
    }

    fn check_key(&self, cx: &KeyCx<'_>) -> Result<usize, KeyFault> {
        // no requantization
        (window_ok(cx.layer, self.in_shape, self.out_shape, self.window)
            && self.in_shape[0] == self.out_shape[0])
            .then_some(0)
            .ok_or(KeyFault::Shape)
    }

    fn own_dims(&self, _n_in: usize) -> Option<(Vec<usize>, Vec<usize>)> {
        Some((self.in_shape.to_vec(), self.out_shape.to_vec()))
    }

    fn sz_terms(&self, shape: &LayerShape, sample_vars: usize) -> usize {
        let g = grid(shape);
        let (k, nv) = (g.rows.kernel * g.cols.kernel, sample_vars + shape.out_vars);
        // the zero-check's eq point, then nv rounds of a product of k differences (degree
        // k + 1), the powers of lambda that combine the k gathers (degree k - 1), the wiring
        // sumcheck (degree 2 over the samples and the input)
        nv + (k + 1) * nv + k.saturating_sub(1) + 2 * (sample_vars + shape.in_vars)
    }
}

/// Per window offset `k = (i, j)`, per sample: the gathered input `[C][OH][OW]` (the padding
/// value where the window reads padding), from the model's own window.
fn gathers(p: &zkml_model::MaxPoolLayer, inputs: &[&[i64]], bits: u32) -> Vec<Vec<Vec<i64>>> {
    let [c, h, w] = p.in_shape;
    let [_, oh, ow] = p.out_shape;
    let [kh, kw] = p.window.kernel;
    let pad = pad_value(bits);
    (0..kh * kw)
        .map(|k| {
            let (i, j) = (k / kw, k % kw);
            inputs
                .iter()
                .map(|x| {
                    let mut g = Vec::with_capacity(c * oh * ow);
                    for ch in 0..c {
                        for y in 0..oh {
                            for xx in 0..ow {
                                let sy = p.window.source(0, y, i, h);
                                let sx = p.window.source(1, xx, j, w);
                                g.push(match (sy, sx) {
                                    (Some(sy), Some(sx)) => x[(ch * h + sy) * w + sx],
                                    _ => pad,
                                });
                            }
                        }
                    }
                    g
                })
                .collect()
        })
        .collect()
}

/// Queues the claims a max-pool proof leaves on its columns and its input.
fn queue_claims(
    layout: &crate::layout::Layout,
    public: &crate::statement::Public,
    claims: &mut Claims,
    l: usize,
    pc: &PoolClaims,
    pp: &PoolProof,
) -> Result<(), VerifyError> {
    claims.column(layout, public, Col::Out(l), pc.point.clone(), pp.out)?;
    for (k, limbs) in pp.diffs.iter().enumerate() {
        for (t, &v) in limbs.iter().enumerate() {
            claims.column(layout, public, Col::Diff(l, k, t), pc.point.clone(), v)?;
        }
    }
    claims.layer_input(layout, public, (l, 0), pc.input_point.clone(), pp.input)
}

/// A max-pool layer's proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolProof {
    pub zerocheck: SumcheckProof,
    pub out: EF,
    /// `diffs[k][t]`: limb `t` of `D_k` at the zero-check point.
    pub diffs: Vec<Vec<EF>>,
    pub wiring: SumcheckProof,
    pub input: EF,
}

/// The claims a verified pool proof leaves: `out` and the limbs at `point`, the input at
/// `input_point`.
pub struct PoolClaims {
    pub point: Vec<EF>,
    pub input_point: Vec<EF>,
}

/// The padding value of a `bits`-bit max-pool.
pub fn pad_value(bits: u32) -> i64 {
    -(1i64 << (bits - 1))
}

fn grid(shape: &LayerShape) -> Grid {
    let LayerOp::MaxPool(p) = &shape.op else {
        unreachable!("max-pool layer")
    };
    Grid::new(p.window, &shape.in_dims, &shape.out_dims)
}

fn recombine(limbs: &[EF]) -> EF {
    limbs
        .iter()
        .rev()
        .fold(EF::ZERO, |acc, &l| acc * F::from_u64(256) + l)
}

/// `sum_k lambda^k (out - D_k) - PAD * (weight of real channels) * padding(lambda^k)`: the
/// claimed value of `sum_k lambda^k (gather of the input)`.
fn wiring_claim(
    shape: &LayerShape,
    bits: u32,
    g: &Grid,
    out: EF,
    diffs: &[EF],
    coef: &[EF],
    rho: &[EF],
) -> EF {
    let cv = pow2_vars(shape.out_dims[0]);
    let (rho_c, rest) = rho.split_at(cv);
    let (rho_y, rho_x) = rest.split_at(g.rows.out_vars());
    let real_c: EF = eq_table(rho_c)[..shape.out_dims[0]].iter().copied().sum();
    let gathered: EF = coef.iter().zip(diffs).map(|(&c, &d)| c * (out - d)).sum();
    gathered - real_c * from_i64(pad_value(bits)) * g.padding(coef, rho_y, rho_x)
}

fn powers(lambda: EF, n: usize) -> Vec<EF> {
    std::iter::successors(Some(EF::ONE), |&p| Some(p * lambda))
        .take(n)
        .collect()
}

/// Proves one `bits`-bit max-pool layer: `out` and `diffs[k][t]` are the committed columns,
/// `x` the input (`[S][C][H][W]` padded). `hook` is the cheating prover's (tests); the honest
/// prover passes an inactive one.
#[allow(clippy::too_many_arguments)]
pub fn prove(
    shape: &LayerShape,
    bits: u32,
    out: &[F],
    diffs: &[Vec<Vec<F>>],
    x: &[F],
    sample_vars: usize,
    hook: Hook<'_>,
    t: &mut Transcript,
) -> (PoolProof, PoolClaims) {
    let g = grid(shape);
    let nv = sample_vars + shape.out_vars;
    let tau = t.sample_vec(nv);
    let d_tables: Vec<Vec<F>> = diffs
        .iter()
        .map(|limbs| {
            (0..out.len())
                .map(|i| {
                    limbs
                        .iter()
                        .rev()
                        .fold(F::ZERO, |a, l| a * F::from_u64(256) + l[i])
                })
                .collect()
        })
        .collect();
    let k = diffs.len();
    let mut zc = ZeroCheck::new(
        d_tables,
        Vec::new(),
        vec![(EF::ONE, (0..k).collect())],
        &tau,
    );
    let (zerocheck, rho, _) = hook.sumcheck(Stage::ZeroCheck, &mut zc, nv, || EF::ZERO, t);
    let mut out_eval = evaluate(out, &rho);
    hook.value(Value::Out, &mut out_eval);
    let mut diff_evals: Vec<Vec<EF>> = diffs
        .iter()
        .map(|limbs| limbs.iter().map(|l| evaluate(l, &rho)).collect())
        .collect();
    for (i, d) in diff_evals.iter_mut().enumerate() {
        hook.edit(Msg::Diffs(hook.layer(), i), d);
    }
    t.absorb_ext(&[out_eval]);
    diff_evals.iter().for_each(|d| t.absorb_ext(d));
    let coef = powers(t.sample(), k);
    let (rho_s, rest) = rho.split_at(sample_vars);
    let cv = pow2_vars(shape.out_dims[0]);
    let (rho_c, rest) = rest.split_at(cv);
    let (rho_y, rho_x) = rest.split_at(g.rows.out_vars());
    let spatial = g.table(&coef, rho_y, rho_x);
    let wire = outer(&eq_table(rho_s), &eq_table(rho_c), &spatial);
    let mut k2 = BaseFirst::new(vec![x.to_vec()], vec![wire], vec![(EF::ONE, vec![0, 1])]);
    let claim = || {
        let d: Vec<EF> = diff_evals.iter().map(|l| recombine(l)).collect();
        wiring_claim(shape, bits, &g, out_eval, &d, &coef, &rho[sample_vars..])
    };
    let nv = sample_vars + shape.in_vars;
    let (wiring, input_point, offset) = hook.sumcheck(Stage::Wiring, &mut k2, nv, claim, t);
    let (mut input, wire_eval) = {
        let values = k2.values();
        (values[0], values[1])
    };
    let fin = input * wire_eval + offset;
    hook.value(Value::Input, &mut input);
    hook.fix_factor(fin, Value::Input, &mut input, wire_eval);
    t.absorb_ext(&[input]);
    let proof = PoolProof {
        zerocheck,
        out: out_eval,
        diffs: diff_evals,
        wiring,
        input,
    };
    (
        proof,
        PoolClaims {
            point: rho,
            input_point,
        },
    )
}

/// Verifies layer `layer`'s max-pool proof; returns the claims it leaves.
///
/// # Errors
/// [`VerifyError::Shape`] on a wrong number of evaluations, [`VerifyError::Sumcheck`] on a
/// malformed sumcheck, [`VerifyError::MaxPool`] when a final check fails.
pub fn verify(
    layer: usize,
    shape: &LayerShape,
    bits: u32,
    sample_vars: usize,
    proof: &PoolProof,
    t: &mut Transcript,
) -> Result<PoolClaims, VerifyError> {
    let g = grid(shape);
    let k = g.rows.kernel * g.cols.kernel;
    let limbs = crate::layout::diff_limbs(bits);
    if proof.diffs.len() != k || proof.diffs.iter().any(|d| d.len() != limbs) {
        return Err(VerifyError::Shape {
            what: "max-pool difference evaluations",
            expected: k * limbs,
            got: proof.diffs.iter().map(Vec::len).sum(),
        });
    }
    let nv = sample_vars + shape.out_vars;
    let tau = t.sample_vec(nv);
    let stage = |what: &str| format!("max-pool layer {layer} {what}");
    let (rho, fin) =
        sumcheck::verify(EF::ZERO, nv, k + 1, &proof.zerocheck, t).map_err(|source| {
            VerifyError::Sumcheck {
                stage: stage("zero-check"),
                source,
            }
        })?;
    t.absorb_ext(&[proof.out]);
    proof.diffs.iter().for_each(|d| t.absorb_ext(d));
    let d: Vec<EF> = proof.diffs.iter().map(|l| recombine(l)).collect();
    if fin != eq_eval(&tau, &rho) * d.iter().copied().product::<EF>() {
        return Err(VerifyError::MaxPool { layer });
    }
    let coef = powers(t.sample(), k);
    let claim = wiring_claim(shape, bits, &g, proof.out, &d, &coef, &rho[sample_vars..]);
    let (in_point, fin) = sumcheck::verify(claim, sample_vars + shape.in_vars, 2, &proof.wiring, t)
        .map_err(|source| VerifyError::Sumcheck {
            stage: stage("wiring sumcheck"),
            source,
        })?;
    t.absorb_ext(&[proof.input]);
    let cv = pow2_vars(shape.out_dims[0]);
    let (rho_s, rest) = rho.split_at(sample_vars);
    let (rho_c, rest) = rest.split_at(cv);
    let (rho_y, rho_x) = rest.split_at(g.rows.out_vars());
    let (ps, rest) = in_point.split_at(sample_vars);
    let (pc, rest) = rest.split_at(cv);
    let (py, px) = rest.split_at(g.rows.in_vars());
    let wire = eq_eval(rho_s, ps) * eq_eval(rho_c, pc) * g.eval(&coef, rho_y, rho_x, py, px);
    if fin != proof.input * wire {
        return Err(VerifyError::MaxPool { layer });
    }
    Ok(PoolClaims {
        point: rho,
        input_point: in_point,
    })
}
