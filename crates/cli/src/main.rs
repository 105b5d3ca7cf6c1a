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

/// glibc's malloc tunables this program runs with on Linux (docs/BENCHMARKS.md, T and AA):
/// - `hugetlb=1`: large buffers fault 2 MiB at a time instead of 4 KiB (LeNet-28 at 64 rows
///   proves in about 0.9x the time).
/// - `top_pad` 8 MiB, `trim_threshold` 256 MiB, `mmap_threshold` 4 MiB: the heap grows in
///   steps of 8 MiB (huge pages) and keeps what a proof frees, so a small proof's buffers
///   are faulted in once, not once per allocation; buffers from 4 MiB on are still mapped
///   (zeroed by the kernel). A fresh 5x100 MLP proof takes about 0.6x the time; the CNNs',
///   LeNet's and VGG-16's proofs, setup and verify take what they took, within the noise.
#[cfg(target_os = "linux")]
const MALLOC_TUNABLES: [(&str, &str); 4] = [
    ("glibc.malloc.hugetlb", "1"),
    ("glibc.malloc.top_pad", "8388608"),
    ("glibc.malloc.trim_threshold", "268435456"),
    ("glibc.malloc.mmap_threshold", "4194304"),
];

/// Re-executes this program once with [`MALLOC_TUNABLES`] added to `GLIBC_TUNABLES` (one the
/// caller set keeps the caller's value). Setting them from inside would need `unsafe`
/// (`mallopt`), which the workspace forbids. `ZKML_HUGE_PAGES=0` keeps glibc's defaults, and
/// so does a failed exec.
#[cfg(target_os = "linux")]
fn with_malloc_tunables() {
    use std::os::unix::process::CommandExt;
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    let Some(tunables) = add_malloc_tunables(&tunables) else {
        return;
    };
    if std::env::var_os("ZKML_HUGE_PAGES").is_some_and(|v| v == "0") {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    // returns only if the exec failed
    let _ = command.args(args).env("GLIBC_TUNABLES", tunables).exec();
}

/// `tunables` with those of [`MALLOC_TUNABLES`] it does not name appended, or `None` when it
/// names them all.
#[cfg(target_os = "linux")]
fn add_malloc_tunables(tunables: &str) -> Option<String> {
    let named = |name: &str| {
        tunables
            .split(':')
            .any(|t| t.split_once('=').is_some_and(|(n, _)| n == name))
    };
    let missing: Vec<String> = MALLOC_TUNABLES
        .iter()
        .filter(|(name, _)| !named(name))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(
        std::iter::once(tunables.to_string())
            .filter(|t| !t.is_empty())
            .chain(missing)
            .collect::<Vec<_>>()
            .join(":"),
    )
}

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    with_malloc_tunables();
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::add_malloc_tunables;

    #[test]
    fn malloc_tunables_are_added_once_and_keep_the_callers_values() {
        let all = add_malloc_tunables("").unwrap();
        assert_eq!(
            all,
            "glibc.malloc.hugetlb=1:glibc.malloc.top_pad=8388608:\
             glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=4194304"
        );
        // the restarted program finds them all and does not restart again
        assert_eq!(add_malloc_tunables(&all), None);
        // the caller's own value stays, the others are appended after the caller's
        assert_eq!(
            add_malloc_tunables("glibc.malloc.top_pad=1:glibc.cpu.x86_shstk=off").unwrap(),
            "glibc.malloc.top_pad=1:glibc.cpu.x86_shstk=off:glibc.malloc.hugetlb=1:\
             glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=4194304"
        );
        // a name is matched whole, not as a prefix of another
        assert!(
            add_malloc_tunables("glibc.malloc.top_pad_x=1")
                .unwrap()
                .contains("glibc.malloc.top_pad=8388608")
        );
    }
}
