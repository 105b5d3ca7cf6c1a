//! Relayout: each output position copies one input position or is zero, no requantization (a
//! Transpose, a Reshape read in another layout, one input of a Concat placed at its offset, a
//! nearest-neighbour Resize).
//!
//! For each real C-order output index `j` that copies, the shape says which input index
//! `src(j)` it holds ([`LayerShape::gather`]; several outputs may copy one input); the output is
//! written padded per dimension of `out_dims`, the input read padded per dimension of
//! `in_dims`. At a random point `rho = (rho_s, rho_o)` the
//! prover sends `out(rho)`, and one sumcheck shows
//! `out(rho) = sum_{s, x} X(s, x) eq(rho_s, s) G(x)` with `G(x) = sum_{j: pad_in(src(j)) = x}
//! eq(rho_o, pad_out(j))`, which the verifier evaluates in `O(n)`. Output positions in the
//! power-of-two padding, or that copy nothing, appear in no sum, so the identity (in `rho`)
//! also shows they are zero. It leaves claims on the output column at `rho` and on the input at the sumcheck's
//! point.

use p3_field::PrimeCharacteristicRing;
use serde::{Deserialize, Serialize};
use zkml_model::{Placement, relayout};
use zkml_proof::field::EF;
use zkml_proof::mle::{eq_eval, eq_table, evaluate};
use zkml_proof::sumcheck::{self, BaseFirst, SumcheckProof};
use zkml_proof::transcript::Transcript;

use crate::cheat::{Stage, Value};
use crate::error::VerifyError;
use crate::layout::padded_index;
use crate::layout::{Col, LayerShape, Lookup};
use crate::ops::LayerProof;
use crate::ops::{KeyCx, KeyFault, LayerKind, ProveCx, VerifyCx, WitnessCx};
use crate::statement::Claims;
use crate::tables::Table;
use crate::witness::{LayerWitness, pad_rows};

/// The relayout layer kind: `transpose(reshape(x, view), perm)` (an empty `perm`: a reshape),
/// read as `in_dims`, placed in `out_dims` as `place` says; no requantization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Relayout {
    pub in_dims: Vec<usize>,
    pub out_dims: Vec<usize>,
    pub view: Vec<usize>,
    pub perm: Vec<usize>,
    pub place: Placement,
}

impl From<&zkml_model::RelayoutLayer> for Relayout {
    fn from(r: &zkml_model::RelayoutLayer) -> Self {
        Self {
            in_dims: r.in_dims.clone(),
            out_dims: r.out_dims.clone(),
            view: r.view.clone(),
            perm: r.perm.clone(),
            place: r.place.clone(),
        }
    }
}

impl LayerKind for Relayout {
    fn columns(&self, _l: usize, _shape: &LayerShape, _bits: u32) -> Vec<Col> {
        Vec::new()
    }

    fn lookups(&self, _l: usize, _shape: &LayerShape, _bits: u32) -> Vec<Lookup> {
        // a permutation of values already in range
        Vec::new()
    }

    fn witness(&self, cx: &WitnessCx<'_>, _counts: &mut [(Table, Vec<u64>)]) -> LayerWitness {
        let rows: Vec<&[i64]> = cx.traces.iter().map(|t| t.out.as_slice()).collect();
        LayerWitness::unrequantized(pad_rows(&rows, &cx.shape.out_dims), Vec::new())
    }

    fn prove(&self, cx: &ProveCx<'_>, claims: &mut Claims, t: &mut Transcript) -> LayerProof {
        let sv = cx.layout.sample_vars;
        let rho = t.sample_vec(sv + cx.shape.out_vars);
        let mut out = evaluate(&cx.w.layers[cx.l].cols.out, &rho);
        cx.hook.value(Value::Out, &mut out);
        t.absorb_ext(&[out]);
        let (rho_s, rho_o) = rho.split_at(sv);
        let table = gather_table(cx.shape, &eq_table(rho_o));
        let wire: Vec<EF> = eq_table(rho_s)
            .iter()
            .flat_map(|&e| table.iter().map(move |&g| e * g))
            .collect();
        let mut k = BaseFirst::new(
            vec![cx.input(0).to_vec()],
            vec![wire],
            vec![(EF::ONE, vec![0, 1])],
        );
        let nv = sv + cx.shape.in_vars;
        let (wiring, input_point, offset) = cx.hook.sumcheck(Stage::Wiring, &mut k, nv, || out, t);
        let (mut input, wire_eval) = {
            let values = k.values();
            (values[0], values[1])
        };
        let fin = input * wire_eval + offset;
        cx.hook.value(Value::Input, &mut input);
        cx.hook.fix_factor(fin, Value::Input, &mut input, wire_eval);
        t.absorb_ext(&[input]);
        // fails only for a forged witness (tests): the verifier refuses it
        claims
            .column(cx.layout, cx.public, Col::Out(cx.l), rho, out)
            .ok();
        cx.input_claim(claims, 0, input_point, input);
        RelayoutProof { out, wiring, input }.into()
    }

    fn verify(
        &self,
        cx: &VerifyCx<'_>,
        proof: &LayerProof,
        claims: &mut Claims,
        t: &mut Transcript,
    ) -> Result<(), VerifyError> {
        let p: &RelayoutProof = cx.proof(proof)?;
        let sv = cx.layout.sample_vars;
        let rho = t.sample_vec(sv + cx.shape.out_vars);
        t.absorb_ext(&[p.out]);
        let nv = sv + cx.shape.in_vars;
        let (in_point, fin) = sumcheck::verify(p.out, nv, 2, &p.wiring, t).map_err(|source| {
            VerifyError::Sumcheck {
                stage: format!("relayout layer {} wiring sumcheck", cx.l),
                source,
            }
        })?;
        t.absorb_ext(&[p.input]);
        let (rho_s, rho_o) = rho.split_at(sv);
        let (ps, px) = in_point.split_at(sv);
        let wire = eq_eval(rho_s, ps) * gather_eval(cx.shape, &eq_table(rho_o), &eq_table(px));
        if fin != p.input * wire {
            return Err(VerifyError::Relayout { layer: cx.l });
        }
        claims.column(cx.layout, cx.public, Col::Out(cx.l), rho, p.out)?;
        claims.layer_input(cx.layout, cx.public, (cx.l, 0), in_point, p.input)
    }

    fn check_key(&self, cx: &KeyCx<'_>) -> Result<usize, KeyFault> {
        let numel = |dims: &[usize]| dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let Self {
            in_dims,
            out_dims,
            view,
            perm,
            place,
        } = self;
        // no requantization
        (relayout::shape_error(in_dims, out_dims, view, perm, place).is_none()
            && numel(view) == Some(cx.layer.n_in)
            && numel(out_dims) == Some(cx.layer.n_out))
        .then_some(0)
        .ok_or(KeyFault::Shape)
    }

    fn own_dims(&self, _n_in: usize) -> Option<(Vec<usize>, Vec<usize>)> {
        Some((self.in_dims.clone(), self.out_dims.clone()))
    }

    fn gather(&self, in_dims: &[usize], out_dims: &[usize]) -> Vec<(usize, usize)> {
        relayout::sources(&self.view, &self.perm, &self.place, out_dims)
            .into_iter()
            .enumerate()
            .filter_map(|(j, s)| Some((padded_index(out_dims, j), padded_index(in_dims, s?))))
            .collect()
    }

    fn sz_terms(&self, shape: &LayerShape, sample_vars: usize) -> usize {
        // the output's MLE at rho (degree 1 per variable), the degree-2 wiring sumcheck
        (sample_vars + shape.out_vars) + 2 * (sample_vars + shape.in_vars)
    }
}

/// A relayout layer's proof: the output at the random point, the wiring sumcheck and the
/// input at its end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayoutProof {
    pub out: EF,
    pub wiring: SumcheckProof,
    pub input: EF,
}

/// `G(x)` for every padded input index `x`, given `eq(rho_o, .)` over the padded output.
fn gather_table(shape: &LayerShape, eq_out: &[EF]) -> Vec<EF> {
    let mut g = vec![EF::ZERO; 1 << shape.in_vars];
    for &(o, i) in &shape.gather {
        g[i] += eq_out[o];
    }
    g
}

/// `G` at a point, given `eq(rho_o, .)` and `eq(point, .)` (verifier side, `O(n)`).
fn gather_eval(shape: &LayerShape, eq_out: &[EF], eq_in: &[EF]) -> EF {
    shape
        .gather
        .iter()
        .map(|&(o, i)| eq_out[o] * eq_in[i])
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{dims_vars, padded_index};
    use crate::ops::LayerOp;
    use zkml_proof::field::F;

    fn shape(in_dims: &[usize], out_dims: &[usize], sources: &[usize]) -> LayerShape {
        let gather = sources
            .iter()
            .enumerate()
            .map(|(j, &s)| (padded_index(out_dims, j), padded_index(in_dims, s)))
            .collect();
        LayerShape {
            op: LayerOp::Relayout(Relayout {
                in_dims: in_dims.to_vec(),
                out_dims: out_dims.to_vec(),
                view: Vec::new(),
                perm: Vec::new(),
                place: Placement::default(),
            }),
            in_dims: in_dims.to_vec(),
            out_dims: out_dims.to_vec(),
            in_vars: dims_vars(in_dims).iter().sum(),
            out_vars: dims_vars(out_dims).iter().sum(),
            mult_vars: 0,
            relu: false,
            inputs: vec![0],
            gather,
            limbs: Default::default(),
        }
    }

    #[test]
    fn the_gather_table_at_a_point_is_its_evaluation() {
        // [6] -> [2][3], transposed: out[c][p] = in[p * 2 + c]
        let s = shape(&[6], &[2, 3], &[0, 2, 4, 1, 3, 5]);
        let rho: Vec<EF> = (0..s.out_vars)
            .map(|i| EF::from(F::from_u64(7 + i as u64)))
            .collect();
        let x: Vec<EF> = (0..s.in_vars)
            .map(|i| EF::from(F::from_u64(3 + i as u64)))
            .collect();
        let (eq_out, eq_in) = (eq_table(&rho), eq_table(&x));
        let table = gather_table(&s, &eq_out);
        assert_eq!(evaluate(&table, &x), gather_eval(&s, &eq_out, &eq_in));
        // at a boolean point: output (1, 2) (padded 1 * 4 + 2) holds input 5
        let mut eq_o = vec![EF::ZERO; 8];
        eq_o[6] = EF::ONE;
        let g = gather_table(&s, &eq_o);
        assert_eq!(g.iter().position(|&v| v == EF::ONE), Some(5));
    }
}
