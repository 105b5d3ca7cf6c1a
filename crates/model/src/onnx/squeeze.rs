//! Squeeze and Unsqueeze: axes of size 1 removed or inserted. The data order is kept, so each
//! is a Reshape (tf2onnx writes `GlobalAveragePool -> Squeeze` for Keras' global pooling and
//! `Unsqueeze -> Conv -> Squeeze` for its 1-D convolutions).

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::ops::{Built, Refusal, const_input, shape_error, unsupported};
use super::proto::attr_ints;
use crate::graph::{BatchDim, Op};

pub(crate) fn squeeze(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let shape = known_shape(ctx)?;
    let out_shape = match axes(node, ctx)? {
        None if ctx.batch == BatchDim::Fixed(1) => {
            return unsupported("no axes on a batch of 1: the batch axis would go too");
        }
        None => shape.iter().copied().filter(|&d| d != 1).collect(),
        Some(axes) => {
            let axes = per_sample(&axes, shape.len() + 1)?;
            if let Some(&a) = axes.iter().find(|&&a| shape[a] != 1) {
                let detail = format!("axis {} has size {}, not 1", a + 1, shape[a]);
                return shape_error(node, detail);
            }
            (0..shape.len())
                .filter(|a| !axes.contains(a))
                .map(|a| shape[a])
                .collect()
        }
    };
    reshaped(out_shape)
}

pub(crate) fn unsqueeze(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let shape = known_shape(ctx)?;
    let Some(axes) = axes(node, ctx)? else {
        return unsupported("no axes given");
    };
    let rank = shape.len() + axes.len();
    let axes = per_sample(&axes, rank + 1)?;
    let mut rest = shape.iter();
    let out_shape = (0..rank)
        .map(|a| match axes.contains(&a) {
            true => Some(1),
            false => rest.next().copied(),
        })
        .collect::<Option<Vec<usize>>>();
    match out_shape {
        Some(s) => reshaped(s),
        None => shape_error(node, format!("axes {axes:?} repeat")),
    }
}

fn known_shape(ctx: &Ctx) -> Result<Vec<usize>, Refusal> {
    ctx.shape
        .clone()
        .map_or_else(|| unsupported("per-sample input shape unknown"), Ok)
}

/// The axes (attribute before opset 13, a constant input since), if given.
fn axes(node: &NodeProto, ctx: &Ctx) -> Result<Option<Vec<i64>>, Refusal> {
    if let Some(a) = attr_ints(node, "axes") {
        return Ok(Some(a.to_vec()));
    }
    if node.input.get(1).is_none_or(|n| n.is_empty()) {
        return Ok(None);
    }
    const_input(node, ctx, 1)?
        .ints()
        .map(Some)
        .map_err(|e| Refusal::Unsupported(format!("axes: {e}")))
}

/// Axes of a tensor of full rank `rank` (batch first) as per-sample axes, sorted; the batch
/// axis and out-of-range or repeated axes are refused.
fn per_sample(axes: &[i64], rank: usize) -> Result<Vec<usize>, Refusal> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let full = if a < 0 { a + rank as i64 } else { a };
        match usize::try_from(full) {
            Ok(0) => return unsupported("an axis is the batch axis"),
            Ok(f) if f < rank && !out.contains(&(f - 1)) => out.push(f - 1),
            _ => return unsupported(format!("axes {axes:?} for rank {rank}")),
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn reshaped(out_shape: Vec<usize>) -> Result<Built, Refusal> {
    if out_shape.is_empty() {
        return unsupported("a scalar per sample");
    }
    Ok(Built::Op {
        op: Op::Reshape,
        out_shape: Some(out_shape),
    })
}

#[cfg(test)]
mod tests {
    use super::super::cnn_tests::{float_matches_tract, ints_attr, onnx_model, rand_vals, tensor};
    use super::super::tests::{gap_reasons, import, ints, node};

    fn kinds(g: &crate::graph::Graph) -> Vec<&str> {
        g.nodes.iter().map(|n| n.op.kind()).collect()
    }

    #[test]
    fn a_squeeze_after_global_pooling_is_a_reshape() {
        // tf2onnx's GlobalAveragePooling2D: GlobalAveragePool -> Squeeze([2, 3]) -> MatMul
        let nodes = vec![
            node("Conv", "conv", &["x", "w"], "c", vec![]),
            node("GlobalAveragePool", "gap", &["c"], "g", vec![]),
            node("Squeeze", "sq", &["g", "axes"], "s", vec![]),
            node("Gemm", "fc", &["s", "fc"], "y", vec![]),
        ];
        let inits = vec![
            tensor("w", &[3, 2, 3, 3], rand_vals(1, 54, -1.0, 1.0)),
            ints("axes", &[2, 3]),
            tensor("fc", &[3, 4], rand_vals(2, 12, -0.5, 0.5)),
        ];
        let mut m = onnx_model(&[1, 2, 5, 5], nodes, inits);
        let g = float_matches_tract(&m, &[1, 2, 5, 5]);
        assert_eq!(kinds(&g), ["Conv", "AvgPool", "Reshape", "Dense"]);
        assert_eq!(g.nodes[2].out_shape, Some(vec![3]));
        // negative axes count from the end (tract 0.23.9 panics on these: not compared)
        m.graph.as_mut().unwrap().initializer[1] = ints("axes", &[-1, 2]);
        assert_eq!(import(&m).unwrap().nodes[2].out_shape, Some(vec![3]));
    }

    #[test]
    fn a_keras_1d_conv_is_a_2d_conv_between_unsqueeze_and_squeeze() {
        // Conv1D as tf2onnx writes it: Unsqueeze([2]) -> Conv k1x3 -> Squeeze([2])
        let nodes = vec![
            node("Unsqueeze", "un", &["x", "two"], "u", vec![]),
            node(
                "Conv",
                "conv",
                &["u", "w"],
                "c",
                vec![ints_attr("kernel_shape", &[1, 3])],
            ),
            node("Squeeze", "sq", &["c", "two"], "s", vec![]),
            node("Relu", "r", &["s"], "r", vec![]),
            node("Flatten", "f", &["r"], "f", vec![]),
            node("Gemm", "fc", &["f", "fc"], "y", vec![]),
        ];
        let inits = vec![
            ints("two", &[2]),
            tensor("w", &[4, 2, 1, 3], rand_vals(3, 24, -1.0, 1.0)),
            tensor("fc", &[4 * 6, 3], rand_vals(4, 72, -0.5, 0.5)),
        ];
        let g = float_matches_tract(&onnx_model(&[1, 2, 8], nodes, inits), &[1, 2, 8]);
        assert_eq!(
            kinds(&g),
            ["Reshape", "Conv", "Reshape", "Relu", "Reshape", "Dense"]
        );
        assert_eq!(g.nodes[0].out_shape, Some(vec![2, 1, 8]));
        assert_eq!(g.nodes[2].out_shape, Some(vec![4, 6]));
    }

    #[test]
    fn squeezing_the_batch_axis_or_no_axes_is_a_gap() {
        for (inputs, reason) in [
            (vec!["r", "zero"], "the batch axis"),
            (vec!["r", "five"], "axes [5] for rank 4"),
        ] {
            let relu = node("Relu", "r", &["x"], "r", vec![]);
            let sq = node("Squeeze", "sq", &inputs, "y", vec![]);
            let m = onnx_model(
                &[1, 2, 1, 3],
                vec![relu, sq],
                vec![ints("zero", &[0]), ints("five", &[5])],
            );
            let gaps = gap_reasons(&import(&m).unwrap());
            assert_eq!(gaps.len(), 1, "{gaps:?}");
            assert!(gaps[0].1.contains(reason), "{gaps:?}");
        }
    }

    #[test]
    fn squeezing_an_axis_that_is_not_1_is_a_shape_error() {
        let relu = node("Relu", "r", &["x"], "r", vec![]);
        let sq = node("Squeeze", "sq", &["r", "one"], "y", vec![]);
        let m = onnx_model(&[1, 2, 1, 3], vec![relu, sq], vec![ints("one", &[1])]);
        let err = import(&m).unwrap_err().to_string();
        assert!(err.contains("axis 1 has size 2, not 1"), "{err}");
    }
}
