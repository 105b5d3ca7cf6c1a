//! The `zkml` command line: inspect, setup, run, prove, verify, bench, and a demo with no
//! arguments. Exit codes: 0 success, 1 proof refused, 2 bad usage or bad files, 3 a model the
//! tool does not support (unsupported ops or structure; `inspect` lists them all).

mod bench;
mod commands;
mod demo;
mod io;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "zkml",
    version,
    about = "Prove and verify quantized neural-network inference"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Scales {
    PerRow,
    PerLayer,
}

#[derive(Subcommand)]
enum Command {
    /// List a model's ops, shapes and parameters, and every unsupported op.
    Inspect { model: PathBuf },
    /// Quantize a model and commit to its weights: writes DIR/model.pk and DIR/model.vk.
    Setup {
        model: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Calibration inputs (same format as inputs, many rows).
        #[arg(long)]
        calibration: Option<PathBuf>,
        /// Activation and weight bit width.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..=16))]
        bits: u32,
        #[arg(long, value_enum, default_value = "per-row")]
        scales: Scales,
        /// Put the weights in the verifying key instead of committing to them (a public
        /// model): no weight opening in proofs; verifying reads every weight.
        #[arg(long)]
        public_weights: bool,
    },
    /// Quantized inference only.
    Run {
        #[arg(long)]
        pk: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Prove the inference of every input row (all rows in one proof).
    Prove {
        #[arg(long)]
        pk: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        proof: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Benchmark: setup once, then prove and verify REPEATS times (medians).
    Bench {
        model: PathBuf,
        #[arg(long)]
        input: PathBuf,
        /// Calibration inputs (default: the benchmark inputs themselves).
        #[arg(long)]
        calibration: Option<PathBuf>,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Prove N rows in each proof (the input's rows repeated) and report the cost per row.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65536))]
        batch: Option<u32>,
        /// Benchmark a public-weights key (see `setup --public-weights`).
        #[arg(long)]
        public_weights: bool,
        #[arg(long)]
        json: bool,
    },
    /// Verify a proof; prints the outputs it proves.
    Verify {
        #[arg(long)]
        vk: PathBuf,
        #[arg(long)]
        proof: PathBuf,
        /// Also check that the proof's input is the quantization of this file's input.
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// The weights of a key made with or without `--public-weights`.
fn weights(public: bool) -> zkml::Weights {
    match public {
        true => zkml::Weights::Public,
        false => zkml::Weights::Committed,
    }
}

/// A failure with its exit code.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// Bad usage or a bad file: exit 2.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Self {
            code: 2,
            message: message.to_string(),
        }
    }
    /// A refused proof: exit 1.
    pub fn refused(message: impl std::fmt::Display) -> Self {
        Self {
            code: 1,
            message: message.to_string(),
        }
    }
    /// A model the tool does not support: exit 3.
    pub fn unsupported(message: impl std::fmt::Display) -> Self {
        Self {
            code: 3,
            message: message.to_string(),
        }
    }
    /// A model front-end error: 3 when the model has ops, a structure or numbers (a weight or
    /// scale the quantized proof cannot take) the tool does not take, else 2 (an unreadable or
    /// inconsistent file, bad calibration data).
    pub fn model(e: zkml::zkml_model::ModelError) -> Self {
        use zkml::zkml_model::ModelError as E;
        match e {
            E::Unsupported { .. }
            | E::Structure { .. }
            | E::ReluWithoutDense { .. }
            | E::Quantization { .. } => Self::unsupported(e),
            E::Io { .. }
            | E::Onnx { .. }
            | E::Shape { .. }
            | E::Config { .. }
            | E::Calibration { .. }
            | E::Input { .. }
            | E::Reference { .. } => Self::usage(e),
        }
    }
    /// A setup error: 3 for what setup does not support (a graph it cannot lay out, an
    /// accumulator range the requantization proof cannot take), as [`Failure::model`] for
    /// model errors, else 2.
    pub fn setup(e: zkml::SetupError) -> Self {
        match e {
            zkml::SetupError::Unsupported { .. } | zkml::SetupError::AccumulatorRange { .. } => {
                Self::unsupported(e)
            }
            zkml::SetupError::Model(m) => Self::model(m),
            other => Self::usage(other),
        }
    }
}

/// The stack of each worker thread: a main thread's on Linux.
const MAIN_STACK: usize = 8 << 20;

/// Re-executes this program once with glibc's tunable for transparent huge pages in large
/// allocations (`glibc.malloc.hugetlb=1`): the provers' big buffers then fault 2 MiB at a time
/// instead of 4 KiB (LeNet-28 at 64 rows proves in about 0.9x the time, docs/BENCHMARKS.md,
/// T). An allocator that asked for huge pages itself would need `unsafe`, which the workspace
/// forbids. `ZKML_HUGE_PAGES=0` keeps the program as it is, and so does a failed exec.
#[cfg(target_os = "linux")]
fn with_huge_pages() {
    use std::os::unix::process::CommandExt;
    const TUNABLE: &str = "glibc.malloc.hugetlb";
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if tunables.contains(TUNABLE) || std::env::var_os("ZKML_HUGE_PAGES").is_some_and(|v| v == "0") {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let tunables = match tunables.as_str() {
        "" => format!("{TUNABLE}=1"),
        other => format!("{other}:{TUNABLE}=1"),
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    // returns only if the exec failed
    let _ = command.args(args).env("GLIBC_TUNABLES", tunables).exec();
}

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    with_huge_pages();
    // A closed stdout (e.g. `zkml ... | head`) ends the program quietly instead of panicking.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    // The command runs on a worker of the thread pool: the provers' parallel loops then split
    // their work between the workers directly, instead of each one being handed over from the
    // main thread and back (1.6-2x faster proofs of the small models, docs/BENCHMARKS.md, S).
    // The workers get a main thread's stack. Thread counts follow RAYON_NUM_THREADS as before.
    let pool = rayon::ThreadPoolBuilder::new().stack_size(MAIN_STACK);
    if let Err(e) = pool.build_global() {
        eprintln!("warning: thread pool: {e}");
    }
    let result = rayon::scope(|_| run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        None => demo::run(),
        Some(Command::Inspect { model }) => commands::inspect(&model),
        Some(Command::Setup {
            model,
            out,
            calibration,
            bits,
            scales,
            public_weights,
        }) => {
            let scales = match scales {
                Scales::PerRow => zkml::zkml_model::ScaleMode::PerRow,
                Scales::PerLayer => zkml::zkml_model::ScaleMode::PerLayer,
            };
            let weights = weights(public_weights);
            commands::setup(&model, &out, calibration.as_deref(), bits, scales, weights).map(|_| ())
        }
        Some(Command::Run { pk, input, json }) => commands::run(&pk, &input, json),
        Some(Command::Prove {
            pk,
            input,
            proof,
            json,
        }) => commands::prove(&pk, &input, &proof, json).map(|_| ()),
        Some(Command::Bench {
            model,
            input,
            calibration,
            repeats,
            batch,
            public_weights,
            json,
        }) => bench::run(
            &model,
            &input,
            calibration.as_deref(),
            repeats,
            batch.map(|b| b as usize),
            weights(public_weights),
            json,
        ),
        Some(Command::Verify {
            vk,
            proof,
            input,
            json,
        }) => commands::verify(&vk, &proof, input.as_deref(), json),
    }
}
