//! Gathers of a 2-D window op (conv, max-pool) as multilinear wiring.
//!
//! Output position `y` at kernel offset `i` reads input row `y * stride + i - pad` when that is
//! inside the real input (else padding). Only REAL output positions read anything: positions
//! in the power-of-two padding of the output gather nothing, so they stay zero.
//!
//! For an output point `rho_y` the table `A_i(y') = sum_{y real} eq(rho_y, y) [src(y, i) = y']`
//! is built by the prover in `O(H)`; its MLE at a point is evaluated by the verifier in
//! `O(OH + H)` per offset: never linear in a whole tensor.

use p3_field::PrimeCharacteristicRing;
use zkml_model::Window;
use zkml_proof::field::EF;
use zkml_proof::mle::eq_table;

use crate::layout::pow2_vars;

/// One spatial axis of a window op.
#[derive(Clone, Copy, Debug)]
pub struct Axis {
    /// Real input and output extents.
    pub n_in: usize,
    pub n_out: usize,
    pub kernel: usize,
    axis: usize,
    window: Window,
}

impl Axis {
    /// Axis 0 (rows) or 1 (columns) of `window` from input `[.., H, W]` to output `[.., OH, OW]`.
    pub fn new(window: Window, axis: usize, in_dims: &[usize], out_dims: &[usize]) -> Self {
        Self {
            n_in: in_dims[1 + axis],
            n_out: out_dims[1 + axis],
            kernel: window.kernel[axis],
            axis,
            window,
        }
    }

    /// Padded extents (as numbers of variables).
    pub fn in_vars(&self) -> usize {
        pow2_vars(self.n_in)
    }
    pub fn out_vars(&self) -> usize {
        pow2_vars(self.n_out)
    }

    /// The input index read by output `o` at offset `k`, if it is real.
    pub fn source(&self, o: usize, k: usize) -> Option<usize> {
        self.window.source(self.axis, o, k, self.n_in)
    }

    /// `A_k(y')` for every padded input index, given `eq(rho, .)` over the padded output.
    pub fn table(&self, k: usize, eq_out: &[EF]) -> Vec<EF> {
        let mut t = vec![EF::ZERO; 1 << self.in_vars()];
        for (o, &e) in eq_out.iter().enumerate().take(self.n_out) {
            if let Some(src) = self.source(o, k) {
                t[src] += e;
            }
        }
        t
    }

    /// The MLE of `A_k` at `point` (verifier side), given `eq(rho, .)` and `eq(point, .)`.
    pub fn eval(&self, k: usize, eq_out: &[EF], eq_point: &[EF]) -> EF {
        (0..self.n_out)
            .filter_map(|o| self.source(o, k).map(|src| eq_out[o] * eq_point[src]))
            .sum()
    }

    /// `sum_{o real} eq(rho, o)`: the weight of the real output positions.
    pub fn real(&self, eq_out: &[EF]) -> EF {
        eq_out[..self.n_out].iter().copied().sum()
    }

    /// `sum_{o real, src(o, k) in padding} eq(rho, o)`.
    pub fn padding(&self, k: usize, eq_out: &[EF]) -> EF {
        (0..self.n_out)
            .filter(|&o| self.source(o, k).is_none())
            .map(|o| eq_out[o])
            .sum()
    }
}

/// The two axes of a window op.
pub struct Grid {
    pub rows: Axis,
    pub cols: Axis,
}

impl Grid {
    pub fn new(window: Window, in_dims: &[usize], out_dims: &[usize]) -> Self {
        Self {
            rows: Axis::new(window, 0, in_dims, out_dims),
            cols: Axis::new(window, 1, in_dims, out_dims),
        }
    }

    /// The spatial gather table `G(y', x') = sum_{i,j} coef[i][j] A_i(y') B_j(x')`, row-major
    /// over the padded input `[H][W]`; `coef` is `kernel_h x kernel_w` row-major.
    pub fn table(&self, coef: &[EF], rho_y: &[EF], rho_x: &[EF]) -> Vec<EF> {
        let (ey, ex) = (eq_table(rho_y), eq_table(rho_x));
        let kw = self.cols.kernel;
        let a: Vec<Vec<EF>> = (0..self.rows.kernel)
            .map(|i| self.rows.table(i, &ey))
            .collect();
        let b: Vec<Vec<EF>> = (0..kw).map(|j| self.cols.table(j, &ex)).collect();
        let width = 1 << self.cols.in_vars();
        let mut g = vec![EF::ZERO; a.first().map_or(0, Vec::len) * width];
        for (i, ai) in a.iter().enumerate() {
            // row combination of the column tables for this i, then an outer product with A_i
            let mut row = vec![EF::ZERO; width];
            for (j, bj) in b.iter().enumerate() {
                let c = coef[i * kw + j];
                row.iter_mut().zip(bj).for_each(|(r, &v)| *r += c * v);
            }
            for (y, &ay) in ai.iter().enumerate().filter(|(_, v)| **v != EF::ZERO) {
                g[y * width..(y + 1) * width]
                    .iter_mut()
                    .zip(&row)
                    .for_each(|(gv, &r)| *gv += ay * r);
            }
        }
        g
    }

    /// The MLE of [`Grid::table`] at `(py, px)` (verifier side).
    pub fn eval(&self, coef: &[EF], rho_y: &[EF], rho_x: &[EF], py: &[EF], px: &[EF]) -> EF {
        let (ey, ex, epy, epx) = (eq_table(rho_y), eq_table(rho_x), eq_table(py), eq_table(px));
        let kw = self.cols.kernel;
        let a: Vec<EF> = (0..self.rows.kernel)
            .map(|i| self.rows.eval(i, &ey, &epy))
            .collect();
        let b: Vec<EF> = (0..kw).map(|j| self.cols.eval(j, &ex, &epx)).collect();
        a.iter()
            .enumerate()
            .map(|(i, &ai)| ai * (0..kw).map(|j| coef[i * kw + j] * b[j]).sum::<EF>())
            .sum()
    }

    /// `sum_{i,j} coef[i][j] * (weight of real outputs whose (i, j) source is padding)`.
    pub fn padding(&self, coef: &[EF], rho_y: &[EF], rho_x: &[EF]) -> EF {
        let (ey, ex) = (eq_table(rho_y), eq_table(rho_x));
        let (ry, rx) = (self.rows.real(&ey), self.cols.real(&ex));
        let kw = self.cols.kernel;
        let mut total = EF::ZERO;
        for i in 0..self.rows.kernel {
            let (py, in_y) = (self.rows.padding(i, &ey), ry - self.rows.padding(i, &ey));
            for j in 0..kw {
                let px = self.cols.padding(j, &ex);
                // real (y, x) with at least one coordinate in padding
                total += coef[i * kw + j] * (py * rx + in_y * px);
            }
        }
        total
    }

    /// Weight of the real output positions at `(rho_y, rho_x)`.
    pub fn real(&self, rho_y: &[EF], rho_x: &[EF]) -> EF {
        self.rows.real(&eq_table(rho_y)) * self.cols.real(&eq_table(rho_x))
    }
}
