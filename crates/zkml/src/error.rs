//! Typed errors of setup, proving, verifying and the file formats.

use thiserror::Error;
use zkml_proof::gkr::GkrError;
use zkml_proof::pcs::PcsError;
use zkml_proof::sumcheck::SumcheckError;

/// A key or proof file that cannot be read.
#[derive(Debug, Error)]
pub enum FormatError {
    #[error("not a {what} file (wrong magic bytes)")]
    BadMagic { what: &'static str },
    #[error(
        "{what} format version {found} is not supported (this build reads version {supported})"
    )]
    Version {
        what: &'static str,
        found: u8,
        supported: u8,
    },
    #[error("malformed {what}: {why}")]
    Malformed { what: &'static str, why: String },
    #[error("{what} has {count} unexpected trailing bytes")]
    TrailingBytes { what: &'static str, count: usize },
    #[error("verifying key refused: {0}")]
    KeyProof(#[from] KeyProofError),
}

/// Why a verifying key's self-certification failed (see `crate::keyproof`).
#[derive(Debug, Error)]
pub enum KeyProofError {
    #[error("the key carries no key proof")]
    Missing,
    #[error("layer {layer}: public {what} {index} is {value}, out of its range")]
    PublicWeight {
        layer: String,
        what: &'static str,
        index: usize,
        value: i64,
    },
    #[error("key proof shape: {what} is {got}, expected {expected}")]
    Shape {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error(
        "layer {layer}, row {row}: the derived accumulator bound {acc_max} with multiplier \
         {multiplier} exceeds the range the requantization proof supports"
    )]
    DerivedBound {
        layer: String,
        row: usize,
        acc_max: i128,
        multiplier: i64,
    },
    #[error(
        "the weight range lookups do not balance (a weight out of range or a nonzero padding weight)"
    )]
    WeightRange,
    #[error("the bias limb lookups do not balance (a bias outside its bound)")]
    BiasRange,
    #[error("key lookup argument: {0}")]
    Lookup(GkrError),
    #[error("key lookup argument: leaf of segment {segment} does not match its columns or table")]
    LookupLeaf { segment: usize },
    #[error("the bias of layer {layer} does not equal its limbs")]
    BiasIdentity { layer: String },
    #[error("opening of the committed weights in the key proof failed: {0}")]
    WeightOpening(PcsError),
    #[error("opening of the key witness failed: {0}")]
    WitnessOpening(PcsError),
}

/// Why setup refused a model.
#[derive(Debug, Error)]
pub enum SetupError {
    #[error("the model has no layers")]
    EmptyModel,
    #[error("bit width {bits} is not supported (2..=16)")]
    Bits { bits: u32 },
    #[error("layer {layer} takes {got} inputs but the previous layer gives {expected}")]
    Chain {
        layer: String,
        expected: usize,
        got: usize,
    },
    #[error(
        "layer {layer}, row {row}: accumulators up to {acc_max} (the worst case of the fan-in, bit \
         width and bias bound) with multiplier {multiplier} exceed the range the requantization \
         proof supports (|acc * m| < 2^62, clamp excess < 2^24)"
    )]
    AccumulatorRange {
        layer: String,
        row: usize,
        acc_max: i128,
        multiplier: i64,
    },
    #[error("key proof: {0}")]
    KeyProof(PcsError),
    #[error(transparent)]
    Model(#[from] zkml_model::ModelError),
    #[error("layer {layer}: {why} is not supported")]
    Unsupported { layer: String, why: String },
    #[error("the proving key's weights do not match its verifying key")]
    KeyMismatch,
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("weight commitment: {0}")]
    Pcs(#[from] PcsError),
    #[error(
        "committing to the weights would need about {:.1} GiB of memory, over the limit of {:.0} GiB",
        gib(.estimate),
        gib(.limit)
    )]
    MemoryLimit { estimate: u128, limit: u128 },
}

/// Why the prover refused its inputs.
#[derive(Debug, Error)]
pub enum ProveError {
    #[error("no input samples")]
    NoSamples,
    #[error("sample {sample} has {got} values, the model takes {expected}")]
    InputLength {
        sample: usize,
        expected: usize,
        got: usize,
    },
    #[error("sample {sample}, value {index} = {value} is outside the {bits}-bit range")]
    InputRange {
        sample: usize,
        index: usize,
        value: i64,
        bits: u32,
    },
    #[error("this model has a fixed batch of {expected} samples, got {got}")]
    BatchSize { expected: usize, got: usize },
    #[error("witness commitment: {0}")]
    Pcs(#[from] PcsError),
    #[error("{got} samples in one proof; a proof holds at most {max}")]
    TooManySamples { got: usize, max: usize },
    #[error(
        "proving {samples} sample(s) would need about {:.1} GiB of memory, over the limit of \
         {:.0} GiB: prove fewer samples per proof",
        gib(.estimate),
        gib(.limit)
    )]
    MemoryLimit {
        samples: usize,
        estimate: u128,
        limit: u128,
    },
}

fn gib(bytes: &u128) -> f64 {
    *bytes as f64 / f64::from(1u32 << 30)
}

/// Why a proof was refused.
#[derive(Debug, Error)]
pub enum VerifyError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("the proof was made for model {proof}, the verifying key is for model {key}")]
    WrongKey { proof: String, key: String },
    #[error("proof shape: {what} is {got}, expected {expected}")]
    Shape {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("public {which} value {index} = {value} is outside the {bits}-bit range")]
    PublicRange {
        which: &'static str,
        index: usize,
        value: i64,
        bits: u32,
    },
    #[error("lookup argument: {0}")]
    Gkr(#[from] GkrError),
    #[error(
        "lookup argument: the leaf of block {group} does not match its segments' columns and tables"
    )]
    LookupLeaf { group: usize },
    #[error("{stage}: {source}")]
    Sumcheck {
        stage: String,
        source: SumcheckError,
    },
    #[error("layer {layer}: the proof is for another kind of layer")]
    LayerKind { layer: usize },
    #[error("requantization check of layer {layer} failed")]
    Requant { layer: usize },
    #[error("dense layer {layer}: the sumcheck's final product does not match")]
    Dense { layer: usize },
    #[error("conv layer {layer}: a sumcheck's final product does not match")]
    Conv { layer: usize },
    #[error("max-pool layer {layer}: the maximum check failed")]
    MaxPool { layer: usize },
    #[error("average-pool layer {layer}: the window-sum check failed")]
    AvgPool { layer: usize },
    #[error("sum layer {layer}: the accumulator is not the rescaled sum of the inputs")]
    Add { layer: usize },
    #[error(
        "relayout layer {layer}: the wiring check (each output a copy of its input position) failed"
    )]
    Relayout { layer: usize },
    #[error("softmax layer {layer}: the check of the max, sum and division failed")]
    Softmax { layer: usize },
    #[error("log-softmax layer {layer}: the check of the max, sum and log failed")]
    LogSoftmax { layer: usize },
    #[error("argmax layer {layer}: the check of the maximum and its index failed")]
    ArgMax { layer: usize },
    #[error("the claimed output does not match the proven computation")]
    PublicOutput,
    #[error("the claimed input does not match the proven computation")]
    PublicInput,
    #[error("opening of the per-proof witness failed: {0}")]
    WitnessOpening(PcsError),
    #[error("opening of the committed weights failed: {0}")]
    WeightOpening(PcsError),
    #[error("a claimed evaluation of the public weights is wrong (weight column {column})")]
    PublicWeights { column: usize },
    #[error("cannot check the input file: {why}")]
    InputFile { why: String },
    #[error(
        "the proof's input is not the quantization of the given input (sample {sample}, value {index})"
    )]
    InputMismatch { sample: usize, index: usize },
}
