//! Multilinear extensions stored as evaluation tables (MSB-first, see the crate docs) and
//! eq tables.

use p3_field::{ExtensionField, Field, PrimeCharacteristicRing};
use rayon::prelude::*;

use crate::field::{EF, F};

/// `eq(a, b) = prod_k (a_k b_k + (1 - a_k)(1 - b_k))`.
pub fn eq_eval(a: &[EF], b: &[EF]) -> EF {
    debug_assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| x * y + (EF::ONE - x) * (EF::ONE - y))
        .product()
}

/// The table `eq(r, i)` for every `i` in `{0,1}^n`, MSB-first, scaled by `scale`: with
/// `r = hi || lo`, entry `i 2^|lo| + j` is `scale eq(hi, i) eq(lo, j)`, one product per entry,
/// the rows in parallel.
pub fn eq_table_scaled(r: &[EF], scale: EF) -> Vec<EF> {
    let (hi, lo) = r.split_at(r.len().div_ceil(2));
    let (eq_hi, eq_lo) = (expand(hi, scale), expand(lo, EF::ONE));
    let mut out = vec![EF::ZERO; eq_hi.len() * eq_lo.len()];
    out.par_chunks_mut(eq_lo.len())
        .with_min_len(ROWS_PER_TASK)
        .zip(eq_hi.par_iter())
        .for_each(|(row, &h)| row.iter_mut().zip(&eq_lo).for_each(|(o, &l)| *o = h * l));
    out
}

/// [`eq_table_scaled`] one variable at a time (for the halves of its point).
fn expand(r: &[EF], scale: EF) -> Vec<EF> {
    let mut t = Vec::with_capacity(1 << r.len());
    t.push(scale);
    for &ri in r {
        // each existing entry v splits into (v (1 - ri), v ri), the new bit least significant
        let mut next = Vec::with_capacity(t.len() * 2);
        for &v in &t {
            let hi = v * ri;
            next.push(v - hi);
            next.push(hi);
        }
        t = next;
    }
    t
}

/// The table `eq(r, i)` for every `i` in `{0,1}^n`, MSB-first.
pub fn eq_table(r: &[EF]) -> Vec<EF> {
    eq_table_scaled(r, EF::ONE)
}

/// Evaluates the MLE of `table` (length `2^point.len()`) at `point`.
/// Values may be in the base field or the extension. Computed as `sum_i eq(hi, i) sum_j
/// eq(lo, j) table[i 2^|lo| + j]` with `point = hi || lo`: one product by an extension element
/// per entry (folding variable by variable takes two, half of them between extension
/// elements), the rows in parallel.
pub fn evaluate<T: Field>(table: &[T], point: &[EF]) -> EF
where
    EF: ExtensionField<T>,
{
    assert_eq!(
        table.len(),
        1 << point.len(),
        "table length must be 2^num_vars"
    );
    let (hi, lo) = point.split_at(point.len().div_ceil(2));
    let (eq_hi, eq_lo) = (eq_table(hi), eq_table(lo));
    table
        .par_chunks(eq_lo.len())
        .with_min_len(ROWS_PER_TASK)
        .zip(eq_hi.par_iter())
        .map(|(row, &e)| e * row.iter().zip(&eq_lo).map(|(&v, &l)| l * v).sum::<EF>())
        .sum()
}

/// Rows of an [`evaluate`] or [`eq_table_scaled`] table per parallel task (a row has about
/// `sqrt(len)` entries).
const ROWS_PER_TASK: usize = 32;

/// Pairs of entries per parallel task of [`fold_first`] and [`sum_out_first`].
const PAIRS_PER_TASK: usize = 2048;

/// Evaluates the MLE of a vector of length `n <= 2^point.len()`, zero-padded to `2^point.len()`.
pub fn evaluate_padded(values: &[F], point: &[EF]) -> EF {
    assert!(values.len() <= 1 << point.len());
    // sum_i v_i eq(point, i), computed by a walk that skips the zero padding
    let eq = eq_table(point);
    values.iter().zip(&eq).map(|(&v, &e)| e * v).sum()
}

/// Folds the first (most significant) variable of `table` at `r`, halving its length.
pub fn fold_first(table: &mut Vec<EF>, r: EF) {
    let h = table.len() / 2;
    let (lo, hi) = table.split_at_mut(h);
    lo.par_iter_mut()
        .with_min_len(PAIRS_PER_TASK)
        .zip(hi.par_iter())
        .for_each(|(a, &b)| *a += r * (b - *a));
    table.truncate(h);
}

/// `e[i] += e[i + half]`, then halves `e`: sums out the first variable of an eq table
/// (`eq(r, .)` becomes `eq(r[1..], .)`).
pub fn sum_out_first(e: &mut Vec<EF>) {
    let h = e.len() / 2;
    let (lo, hi) = e.split_at_mut(h);
    lo.par_iter_mut()
        .with_min_len(PAIRS_PER_TASK)
        .zip(hi.par_iter())
        .for_each(|(a, &b)| *a += b);
    e.truncate(h);
}

/// Number of variables of a power-of-two length (panics otherwise: callers pad first).
pub fn num_vars(len: usize) -> usize {
    assert!(len.is_power_of_two(), "length {len} is not a power of two");
    len.trailing_zeros() as usize
}

/// Pads `v` with `fill` to the next power of two (at least 1).
pub fn pad_pow2<T: Copy>(mut v: Vec<T>, fill: T) -> Vec<T> {
    let n = v.len().max(1).next_power_of_two();
    v.resize(n, fill);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(v: &[u64]) -> Vec<EF> {
        v.iter().map(|&x| EF::from_u64(x)).collect()
    }

    #[test]
    fn evaluate_on_hypercube_is_lookup_and_msb_first() {
        let t: Vec<F> = (0..8u64).map(|i| F::from_u64(i * i + 3)).collect();
        for i in 0..8u64 {
            let p = pt(&[(i >> 2) & 1, (i >> 1) & 1, i & 1]);
            assert_eq!(evaluate(&t, &p), EF::from(t[i as usize]));
        }
    }

    #[test]
    fn eq_table_matches_eq_eval_and_sums_to_one() {
        let r = pt(&[3, 5, 7]);
        let t = eq_table(&r);
        assert_eq!(t.iter().copied().sum::<EF>(), EF::ONE);
        for (i, &v) in t.iter().enumerate() {
            let b = pt(&[(i as u64 >> 2) & 1, (i as u64 >> 1) & 1, i as u64 & 1]);
            assert_eq!(v, eq_eval(&r, &b));
        }
        let vals: Vec<F> = (0..8u64).map(F::from_u64).collect();
        assert_eq!(evaluate(&vals, &r), evaluate_padded(&vals, &r));
    }
}
