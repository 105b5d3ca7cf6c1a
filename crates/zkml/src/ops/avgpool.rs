//! Average pooling: `acc(s, c, y, x) = sum_{i,j} X(s, c, y sh + i - pt, x sw + j - pl)` over
//! the in-range window positions (padding reads 0), then the shared requantization by the
//! channel's multiplier `~ s_in / (kh kw s_out)`.
//!
//! The window sum is the conv wiring with every coefficient 1 and no channel mixing:
//! `acc(rho) = sum_{s, c, y', x'} X(s, c, y', x') eq(rho_s, s) eq(rho_c, c) G(y', x')` with `G`
//! the spatial gather table ([`Grid::table`]) of unit coefficients, which the verifier
//! evaluates per axis. One sumcheck, ending in a claim on the input. Output positions in the
//! power-of-two padding gather nothing, so they are zero, as the accumulator column is.
//!
//! Prover cost: `O(S C H W)` for the wiring table and the sumcheck.

use p3_field::PrimeCharacteristicRing;
use serde::{Deserialize, Serialize};
use zkml_proof::field::{EF, F};
use zkml_proof::mle::{eq_eval, eq_table};
use zkml_proof::sumcheck::{self, BaseFirst, SumcheckProof};
use zkml_proof::transcript::Transcript;

use crate::cheat::{Hook, Stage, Value};
use crate::error::VerifyError;
use crate::keys::VkLayer;
use crate::layout::{LayerShape, pow2_vars};
use crate::ops::LayerProof;
use crate::ops::conv::outer;
use crate::ops::requant::BoundViolation;
use crate::ops::requant::Requantized;
use crate::ops::{
    KeyCx, KeyFault, LayerKind, LayerOp, ProveCx, VerifyCx, requant, window_kind, window_ok,
};
use crate::statement::Claims;
use crate::wiring::Grid;

window_kind! {
    /// The average-pool layer kind: a window-sum sumcheck, then the shared requantization.
    AvgPool, zkml_model::AvgPoolLayer
}

impl LayerKind for AvgPool {
    fn prove(&self, cx: &ProveCx<'_>, claims: &mut Claims, t: &mut Transcript) -> LayerProof {
        let (requant, point, requant_evals) = requant::prove_step(cx, claims, t);
        let sv = cx.layout.sample_vars;
        let acc = requant_evals.acc;
        let (pool, input_point) = prove(cx.shape, cx.input(0), sv, &point, acc, cx.hook, t);
        cx.input_claim(claims, 0, input_point, pool.input);
        Requantized {
            requant,
            requant_evals,
            inner: pool,
        }
        .into()
    }

    fn verify(
        &self,
        cx: &VerifyCx<'_>,
        proof: &LayerProof,
        claims: &mut Claims,
        t: &mut Transcript,
    ) -> Result<(), VerifyError> {
        let Requantized {
            requant,
            requant_evals,
            inner: pool,
        } = cx.proof::<Requantized<AvgPoolProof>>(proof)?;
        let point = requant::verify_step(cx, requant, requant_evals, claims, t)?;
        let sv = cx.layout.sample_vars;
        let input_point = verify(cx.l, cx.shape, requant_evals.acc, &point, sv, pool, t)?;
        claims.layer_input(cx.layout, cx.public, (cx.l, 0), input_point, pool.input)
    }

    fn check_key(&self, cx: &KeyCx<'_>) -> Result<usize, KeyFault> {
        let ok = window_ok(cx.layer, self.in_shape, self.out_shape, self.window)
            && self.in_shape[0] == self.out_shape[0];
        // one multiplier per channel, or per output position where the divisor varies
        let l = cx.layer;
        let per_position = l.multiplier.len() == l.n_out;
        ok.then_some(if per_position {
            l.n_out
        } else {
            self.out_shape[0]
        })
        .ok_or(KeyFault::Shape)
    }

    fn own_dims(&self, _n_in: usize) -> Option<(Vec<usize>, Vec<usize>)> {
        Some((self.in_shape.to_vec(), self.out_shape.to_vec()))
    }

    fn check_bounds(
        &self,
        l: &VkLayer,
        bits: u32,
        _bias_bits: &[u8],
    ) -> Result<u32, BoundViolation> {
        let area = self.window.kernel[0] * self.window.kernel[1];
        requant::check_pool_bounds(area, bits, &l.multiplier)
    }

    fn sz_terms(&self, shape: &LayerShape, sample_vars: usize) -> usize {
        // requantization (eq point, then degree-3 rounds), the degree-2 wiring sumcheck
        4 * (sample_vars + shape.out_vars) + 2 * (sample_vars + shape.in_vars)
    }
}

/// An average-pool layer's proof: the wiring sumcheck and the input at its end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvgPoolProof {
    pub wiring: SumcheckProof,
    pub input: EF,
}

fn grid(shape: &LayerShape) -> Grid {
    let LayerOp::AvgPool(p) = &shape.op else {
        unreachable!("average-pool layer")
    };
    Grid::new(p.window, &shape.in_dims, &shape.out_dims)
}

/// Unit coefficients for every kernel offset.
fn ones(g: &Grid) -> Vec<EF> {
    vec![EF::ONE; g.rows.kernel * g.cols.kernel]
}

/// The output point split as `(rho_s, rho_c, rho_y, rho_x)`.
fn split<'a>(shape: &LayerShape, g: &Grid, sv: usize, point: &'a [EF]) -> [&'a [EF]; 4] {
    let (rho_s, rest) = point.split_at(sv);
    let (rho_c, rest) = rest.split_at(pow2_vars(shape.out_dims[0]));
    let (rho_y, rho_x) = rest.split_at(g.rows.out_vars());
    [rho_s, rho_c, rho_y, rho_x]
}

/// Proves `acc(point) = acc`, the window sums of `x` (`[S][C][H][W]`, padded); returns the
/// proof and the point of its input claim. `hook` is the cheating prover's (tests); the honest
/// prover passes an inactive one.
pub fn prove(
    shape: &LayerShape,
    x: &[F],
    sample_vars: usize,
    point: &[EF],
    acc: EF,
    hook: Hook<'_>,
    t: &mut Transcript,
) -> (AvgPoolProof, Vec<EF>) {
    let g = grid(shape);
    let [rho_s, rho_c, rho_y, rho_x] = split(shape, &g, sample_vars, point);
    let spatial = g.table(&ones(&g), rho_y, rho_x);
    let wire = outer(&eq_table(rho_s), &eq_table(rho_c), &spatial);
    let mut k = BaseFirst::new(vec![x.to_vec()], vec![wire], vec![(EF::ONE, vec![0, 1])]);
    let nv = sample_vars + shape.in_vars;
    let (wiring, input_point, offset) = hook.sumcheck(Stage::Wiring, &mut k, nv, || acc, t);
    let (mut input, wire_eval) = {
        let values = k.values();
        (values[0], values[1])
    };
    let fin = input * wire_eval + offset;
    hook.value(Value::Input, &mut input);
    hook.fix_factor(fin, Value::Input, &mut input, wire_eval);
    t.absorb_ext(&[input]);
    (AvgPoolProof { wiring, input }, input_point)
}

/// Verifies an average-pool proof against `acc(point) = acc`; returns the point of the input
/// claim `X(point) = proof.input` it leaves.
///
/// # Errors
/// [`VerifyError::Sumcheck`] on a malformed sumcheck, [`VerifyError::AvgPool`] when the final
/// product does not match.
pub fn verify(
    layer: usize,
    shape: &LayerShape,
    acc: EF,
    point: &[EF],
    sample_vars: usize,
    proof: &AvgPoolProof,
    t: &mut Transcript,
) -> Result<Vec<EF>, VerifyError> {
    let g = grid(shape);
    let [rho_s, rho_c, rho_y, rho_x] = split(shape, &g, sample_vars, point);
    let nv = sample_vars + shape.in_vars;
    let (in_point, fin) =
        sumcheck::verify(acc, nv, 2, &proof.wiring, t).map_err(|source| VerifyError::Sumcheck {
            stage: format!("average-pool layer {layer} wiring sumcheck"),
            source,
        })?;
    t.absorb_ext(&[proof.input]);
    let (ps, rest) = in_point.split_at(sample_vars);
    let (pc, rest) = rest.split_at(pow2_vars(shape.in_dims[0]));
    let (py, px) = rest.split_at(g.rows.in_vars());
    let wire = eq_eval(rho_s, ps) * eq_eval(rho_c, pc) * g.eval(&ones(&g), rho_y, rho_x, py, px);
    if fin != proof.input * wire {
        return Err(VerifyError::AvgPool { layer });
    }
    Ok(in_point)
}
