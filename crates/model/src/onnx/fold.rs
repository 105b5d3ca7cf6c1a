//! Constant folding through tract: every tensor whose value does not depend on the graph input
//! (shape arithmetic such as `Shape -> Gather -> Unsqueeze -> Concat`, tf2onnx's
//! `Shape -> Cast -> Slice -> Concat`, `ConstantOfShape`, weights transposed by an op) becomes a
//! constant, so that the walk sees one data input and a Reshape gets a known target.
//!
//! tract analyses the model (obstinately: past ops it cannot take) with the input's per-sample
//! shape fixed and its batch as written in the file. A dynamic batch is analysed three times:
//! as a symbol (exact; a value holding the symbol stays symbolic, so that a Reshape target
//! `[N, -1]` keeps the batch), and with two concrete batches for the values tract cannot keep
//! symbolic (a `Cast` of a shape): a value equal in both is a constant, an element equal to the
//! batch in both is the batch, any other difference makes the tensor batch-dependent, which its
//! users refuse. When tract cannot read the model at all, nothing is folded and the reason is
//! kept for the messages of the ops that needed a folded value.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::{
    DatumType, InferenceFact, InferenceModelExt, Symbol, SymbolScope, TDim, Tensor, TractResult,
};
use tract_onnx::tract_hir::internal::tvec;

use super::proto::Const;
use crate::graph::BatchDim;

/// The two batch sizes of the concrete analyses of a dynamic-batch model.
const PROBES: [i64; 2] = [5, 7];

/// What constant folding found.
#[derive(Default)]
pub(crate) struct Folded {
    /// Values of tensors produced by nodes (initializers and the input are not in it), by
    /// ONNX tensor name.
    pub consts: HashMap<String, Const>,
    /// Tensors whose value tract knows but that depend on the batch size in another way than
    /// being it.
    pub batch_dependent: HashSet<String>,
    /// Why tract could not analyse the model, if it could not.
    pub failure: Option<String>,
    /// The symbol that stands for a dynamic batch in symbolic values.
    pub batch: Option<Symbol>,
}

/// The input's batch in one analysis.
#[derive(Clone, Copy)]
enum Batch {
    Value(i64),
    /// A symbol of the model's own scope, returned by the analysis.
    Symbol,
}

/// The values of one analysis, by ONNX name, and the batch symbol it used.
type Values = Result<(HashMap<String, Tensor>, Option<Symbol>), String>;

/// Fold every input-independent tensor of `proto` with tract.
///
/// `input` is the name of the graph input, `batch` its batch dimension and `sample` its
/// per-sample shape; `dir` is where external tensor data lives.
pub(crate) fn fold(
    proto: &ModelProto,
    dir: Option<&str>,
    input: &str,
    batch: BatchDim,
    sample: &[usize],
) -> Folded {
    let refusal = unproduced_output(proto)
        .map(|o| format!("no node produces the graph output {o:?}"))
        .or_else(|| oversized_generator(proto, dir));
    if let Some(failure) = refusal {
        return Folded {
            failure: Some(failure),
            ..Folded::default()
        };
    }
    // shapes the file writes for inner tensors and outputs (with its own batch symbol) would
    // contradict a concrete batch: tract infers them instead
    let mut bare = proto.clone();
    if let Some(g) = bare.graph.as_mut() {
        g.value_info.clear();
        g.output.iter_mut().for_each(|o| o.r#type = None);
    }
    let values = |b: Batch| analyse(&bare, dir, input, b, sample);
    match batch {
        BatchDim::Fixed(n) => match values(Batch::Value(n as i64)) {
            Ok((v, _)) => Folded {
                consts: v.into_iter().map(|(k, t)| (k, Const::new(t))).collect(),
                ..Folded::default()
            },
            Err(e) => Folded {
                failure: Some(e),
                ..Folded::default()
            },
        },
        BatchDim::Dynamic => {
            let symbolic = values(Batch::Symbol);
            let probes = PROBES.map(|p| values(Batch::Value(p)));
            dynamic(symbolic, probes)
        }
    }
}

/// Merge the symbolic and the two concrete analyses of a dynamic-batch model.
fn dynamic(symbolic: Values, probes: [Values; 2]) -> Folded {
    let [a, b] = probes;
    let failure = [&symbolic, &a, &b]
        .into_iter()
        .find_map(|r| r.as_ref().err().cloned());
    let (symbolic, symbol) = symbolic.unwrap_or_default();
    let symbol = symbol.unwrap_or_else(|| SymbolScope::default().sym("N"));
    let (a, b) = (a.unwrap_or_default().0, b.unwrap_or_default().0);
    let mut folded = Folded {
        batch: Some(symbol.clone()),
        ..Folded::default()
    };
    if symbolic.is_empty() && a.is_empty() {
        folded.failure = failure;
    }
    for (name, t) in symbolic {
        folded.consts.insert(name, Const::new(t));
    }
    for (name, ta) in a {
        if folded.consts.contains_key(&name) {
            continue;
        }
        match b.get(&name).and_then(|tb| merge(&ta, tb, &symbol)) {
            Some(t) => {
                folded.consts.insert(name, Const::new(t));
            }
            None => {
                folded.batch_dependent.insert(name);
            }
        }
    }
    folded
}

/// One value from the two concrete analyses: itself when equal, a symbolic tensor when the
/// only differences are elements equal to the batch in both, else `None`.
fn merge(a: &Tensor, b: &Tensor, batch: &Symbol) -> Option<Tensor> {
    if a == b {
        return Some(a.clone());
    }
    if a.shape() != b.shape() || !a.datum_type().is_integer() {
        return None;
    }
    let ints = |t: &Tensor| -> Option<Vec<i64>> {
        let t = t.cast_to::<i64>().ok()?;
        Some(
            t.to_plain_array_view::<i64>()
                .ok()?
                .iter()
                .copied()
                .collect(),
        )
    };
    let dims: Option<Vec<TDim>> = ints(a)?
        .into_iter()
        .zip(ints(b)?)
        .map(|(x, y)| match (x, y) {
            _ if x == y => Some(TDim::Val(x)),
            _ if [x, y] == PROBES => Some(TDim::Sym(batch.clone())),
            _ => None,
        })
        .collect();
    tract_onnx::prelude::tract_ndarray::ArrayD::from_shape_vec(a.shape(), dims?)
        .ok()
        .map(Tensor::from)
}

/// The values tract finds for the tensors produced by nodes, by ONNX name; a `TDim` tensor
/// becomes `I64` when every element is a number. A panic in tract (it is not written for
/// untrusted files) is an error here, not a crash.
fn analyse(
    proto: &ModelProto,
    dir: Option<&str>,
    input: &str,
    batch: Batch,
    sample: &[usize],
) -> Values {
    match quietly(|| analyse_unguarded(proto, dir, input, batch, sample)) {
        Ok(result) => result.map_err(|e| format!("{e:#}")),
        Err(_) => Err("tract panicked on this model".into()),
    }
}

/// Serialises the panic-hook swaps of [`quietly`].
static HOOK_SWAP: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f`, catching a panic from this thread without printing it (the hook in place, e.g.
/// the CLI's or a fuzzer's that aborts, is bypassed for this thread only and restored after).
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    type Hook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>;
    let _guard = HOOK_SWAP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let me = std::thread::current().id();
    let previous: std::sync::Arc<Hook> = std::sync::Arc::new(std::panic::take_hook());
    let others = std::sync::Arc::clone(&previous);
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != me {
            others(info);
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    drop(std::panic::take_hook());
    let restored: Hook = match std::sync::Arc::try_unwrap(previous) {
        Ok(hook) => hook,
        Err(shared) => Box::new(move |info| shared(info)),
    };
    std::panic::set_hook(restored);
    result
}

fn analyse_unguarded(
    proto: &ModelProto,
    dir: Option<&str>,
    input: &str,
    batch: Batch,
    sample: &[usize],
) -> TractResult<(HashMap<String, Tensor>, Option<Symbol>)> {
    let parsed = tract_onnx::onnx().parse(proto, dir)?;
    let mut model = parsed.model;
    let (first, symbol) = match batch {
        Batch::Value(n) => (TDim::Val(n), None),
        Batch::Symbol => {
            let s = model.symbols.sym("N");
            (TDim::Sym(s.clone()), Some(s))
        }
    };
    let ix = model
        .inputs
        .iter()
        .position(|o| model.outlet_label(*o) == Some(input) || model.node(o.node).name == input)
        .unwrap_or(0);
    let dt = tract_onnx::tract_hir::infer::Factoid::concretize(&model.input_fact(ix)?.datum_type)
        .unwrap_or(DatumType::F32);
    let mut dims = tvec![first];
    dims.extend(sample.iter().map(|&d| TDim::Val(d as i64)));
    model.set_input_fact(ix, InferenceFact::dt_shape(dt, dims))?;
    // obstinate: facts stay as far as tract got; an error only means some values are unknown
    let _ = model.analyse(true);
    let initializers: HashSet<&str> = proto
        .graph
        .iter()
        .flat_map(|g| &g.initializer)
        .map(|t| t.name.as_str())
        .collect();
    let mut values = HashMap::new();
    for (name, outlet) in &parsed.outlets_by_name {
        if name == input || initializers.contains(name.as_str()) {
            continue;
        }
        let fact = model.outlet_fact(*outlet)?;
        let Some(t) = tract_onnx::tract_hir::infer::Factoid::concretize(&fact.value) else {
            continue;
        };
        values.insert(name.clone(), numeric((*t).clone()));
    }
    Ok((values, symbol))
}

/// A `TDim` tensor whose elements are all numbers as `I64`; any other tensor unchanged.
fn numeric(t: Tensor) -> Tensor {
    if t.datum_type() != DatumType::TDim {
        return t;
    }
    let ints: Option<Vec<i64>> = t
        .to_plain_array_view::<TDim>()
        .ok()
        .and_then(|v| v.iter().map(TDim::as_i64).collect());
    ints.and_then(|v| Tensor::from_shape(t.shape(), &v).ok())
        .unwrap_or(t)
}

/// Most values a generator op may make from a constant size for folding to run: tract
/// evaluates before it checks its own budget, so a file could otherwise make import allocate
/// without bound.
const MAX_GENERATED: u64 = 1 << 24;

/// A generator op (`ConstantOfShape`, `Expand`, `Tile`, `Range`, `OneHot`) whose size input is
/// an initializer or a Constant asking for more than [`MAX_GENERATED`] values. Sizes computed
/// from shapes are bounded by the input's size limit.
fn oversized_generator(proto: &ModelProto, dir: Option<&str>) -> Option<String> {
    let g = proto.graph.as_ref()?;
    let value = |name: &str| -> Option<Vec<i64>> {
        let c = match g.initializer.iter().find(|t| t.name == name) {
            Some(t) => super::proto::load_const(t, dir).ok()?,
            None => {
                let n = g
                    .node
                    .iter()
                    .find(|n| n.op_type == "Constant" && n.output.iter().any(|o| o == name))?;
                super::proto::constant_node_value(n, dir).ok()?
            }
        };
        let t = c.tensor.cast_to::<f64>().ok()?;
        let v = t.to_plain_array_view::<f64>().ok()?;
        Some(v.iter().map(|&x| x.clamp(-9e15, 9e15) as i64).collect())
    };
    let product = |v: &[i64]| {
        v.iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d.unsigned_abs()))
            .unwrap_or(u64::MAX)
    };
    g.node.iter().find_map(|n| {
        let input = |i: usize| n.input.get(i).and_then(|name| value(name));
        let size = match n.op_type.as_str() {
            "ConstantOfShape" => input(0).map(|v| product(&v)),
            "Expand" => input(1).map(|v| product(&v)),
            "Tile" => input(1).map(|v| {
                let data = input(0).map_or(1, |d| d.len() as u64);
                product(&v).saturating_mul(data)
            }),
            "OneHot" => input(1).map(|v| product(&v)),
            "Range" => match (input(0), input(1), input(2)) {
                (Some(a), Some(b), Some(d)) => {
                    let (a, b, d) = (a.first()?, b.first()?, d.first()?);
                    Some(b.abs_diff(*a) / d.unsigned_abs().max(1))
                }
                _ => None,
            },
            _ => None,
        }?;
        (size > MAX_GENERATED).then(|| {
            format!(
                "node {:?} ({}) would make {size} values (more than {MAX_GENERATED})",
                n.name, n.op_type
            )
        })
    })
}

/// A graph output that no node, input or initializer produces (tract's parser would panic).
fn unproduced_output(proto: &ModelProto) -> Option<String> {
    let g = proto.graph.as_ref()?;
    let known = |name: &str| {
        g.node.iter().any(|n| n.output.iter().any(|o| o == name))
            || g.input.iter().any(|i| i.name == name)
            || g.initializer.iter().any(|t| t.name == name)
    };
    g.output
        .iter()
        .find(|o| !known(&o.name))
        .map(|o| o.name.clone())
}
