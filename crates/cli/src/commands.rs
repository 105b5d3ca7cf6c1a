//! The subcommands.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use serde_json::json;
use zkml::zkml_model::{self as model, QuantConfig, QuantizedModel, ScaleMode};
use zkml::{Proof, ProvingKey, VerifyingKey};

use crate::Failure;
use crate::io::{ms, read, read_text, size, write};

/// Calibration samples drawn when no `--calibration` file is given.
const RANDOM_CALIBRATION: usize = 64;

/// Prints the summary; exits 3 (after printing) when the model has unsupported ops.
pub fn inspect(path: &Path) -> Result<(), Failure> {
    let graph = model::import_onnx(path).map_err(Failure::model)?;
    println!("{}", graph.summary());
    match graph.unsupported().len() {
        0 => Ok(()),
        n => Err(Failure::unsupported(format!(
            "{n} unsupported op(s) (listed above): setup would refuse this model"
        ))),
    }
}

/// Quantizes and commits; writes `out/model.pk` and `out/model.vk`. Returns the proving key.
pub fn setup(
    path: &Path,
    out: &Path,
    calibration: Option<&Path>,
    bits: u32,
    scales: ScaleMode,
    weights: zkml::Weights,
) -> Result<ProvingKey, Failure> {
    let start = Instant::now();
    // a bar over the phases: import, quantize, zkml's setup phases, write
    let bar = phase_bar(zkml::SETUP_PHASES.len() + 3, true);
    let step = |phase: &'static str| {
        if let Some(b) = &bar {
            b.set_message(phase);
            b.inc(1);
        }
    };
    step("import the model");
    let graph = model::import_onnx(path).map_err(Failure::model)?;
    step("quantize");
    let calib = match calibration {
        Some(f) => model::load_calibration(f, &graph.input_spec()).map_err(Failure::usage)?,
        None => {
            let note = || {
                eprintln!(
                    "note: no --calibration file: activation scales come from {RANDOM_CALIBRATION} random inputs in [-1, 1]; \
                     pass real inputs for better accuracy"
                );
            };
            match &bar {
                Some(b) => b.suspend(note),
                None => note(),
            }
            model::random_calibration(&graph, RANDOM_CALIBRATION, 0)
        }
    };
    let quantized =
        model::quantize(&graph, &calib, &QuantConfig { bits, scales }).map_err(Failure::model)?;
    let pk =
        zkml::setup_with(quantized, weights, &mut |phase| step(phase)).map_err(Failure::setup)?;
    step("write the keys");
    write(&out.join("model.pk"), &pk.to_bytes())?;
    write(&out.join("model.vk"), &pk.vk.to_bytes())?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let security = zkml::security(&pk.vk, 1);
    println!(
        "model:     {} ({} layers, {} parameters)",
        path.display(),
        pk.vk.layers.len(),
        graph.param_count()
    );
    println!(
        "keys:      {} and {}",
        out.join("model.pk").display(),
        out.join("model.vk").display()
    );
    if weights == zkml::Weights::Public {
        println!("weights:   public (in the verifying key; proofs open no weight commitment)");
    }
    println!("vk digest: {}", pk.vk.digest());
    println!("security:  {security}");
    println!("setup:     {}", ms(start.elapsed()));
    Ok(pk)
}

/// A bar over `len` phases on stderr, with the elapsed time, where `show` and stderr is a
/// terminal.
fn phase_bar(len: usize, show: bool) -> Option<indicatif::ProgressBar> {
    (show && std::io::stderr().is_terminal()).then(|| {
        // (cleared when dropped: an error's message is not printed after a half bar)
        let b = indicatif::ProgressBar::new(len as u64)
            .with_finish(indicatif::ProgressFinish::AndClear);
        let style = indicatif::ProgressStyle::with_template("{bar:30} {elapsed:>4} {msg}");
        b.set_style(style.expect("template"));
        b.enable_steady_tick(std::time::Duration::from_millis(250));
        b
    })
}

fn load_pk(path: &Path) -> Result<ProvingKey, Failure> {
    ProvingKey::from_bytes(&read(path)?)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn load_vk(path: &Path) -> Result<VerifyingKey, Failure> {
    VerifyingKey::from_bytes(&read(path)?)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn load_inputs(path: &Path, m: &QuantizedModel) -> Result<model::Inputs, Failure> {
    model::parse_inputs(&read_text(path)?, &m.input_spec())
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

/// Per sample, every graph output by name (the first is `outputs`).
type NamedRows = Vec<Vec<(String, Vec<f32>)>>;

/// The first output of each sample, and every output by name (`outputs_by_name`).
fn by_name(rows: &NamedRows) -> (Vec<Vec<f32>>, serde_json::Map<String, serde_json::Value>) {
    let first = rows.iter().map(|r| r[0].1.clone()).collect();
    let mut named = serde_json::Map::new();
    for (k, (name, _)) in rows
        .first()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .enumerate()
    {
        let values: Vec<&Vec<f32>> = rows.iter().map(|r| &r[k].1).collect();
        named.insert(name.clone(), json!(values));
    }
    (first, named)
}

/// One sample's outputs as text: the first with its argmax, then every other by name.
fn print_sample(i: usize, row: &[(String, Vec<f32>)]) {
    let y = &row[0].1;
    println!("sample {i}: argmax {} outputs {y:?}", argmax(y));
    for (name, v) in &row[1..] {
        println!("          {name}: {v:?}");
    }
}

pub fn run(pk: &Path, input: &Path, as_json: bool) -> Result<(), Failure> {
    let pk = load_pk(pk)?;
    let inputs = load_inputs(input, &pk.model)?;
    let rows: NamedRows = inputs
        .samples
        .iter()
        .map(|x| {
            let y = pk.model.forward(&pk.model.quantize_input(x));
            pk.model.output_rows(y.last().expect("layers"))
        })
        .collect();
    let (outputs, named) = by_name(&rows);
    let comparison = inputs
        .reference_outputs
        .as_ref()
        .map(|refs| compare(&outputs, refs));
    if as_json {
        let mut doc = json!({ "outputs": outputs, "outputs_by_name": named });
        if let Some((err, agree)) = comparison {
            doc["max_abs_error"] = json!(err);
            doc["argmax_agreement"] = json!(agree);
        }
        println!("{doc}");
    } else {
        for (i, row) in rows.iter().enumerate() {
            print_sample(i, row);
        }
        if let Some((err, agree)) = comparison {
            println!(
                "vs output_data: max abs error {err:.4}, argmax agrees on {agree}/{}",
                outputs.len()
            );
        }
    }
    Ok(())
}

/// Max absolute error and argmax agreement against reference outputs.
fn compare(outputs: &[Vec<f32>], refs: &[Vec<f32>]) -> (f32, usize) {
    let err = outputs
        .iter()
        .zip(refs)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f32::max);
    let agree = outputs
        .iter()
        .zip(refs)
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count();
    (err, agree)
}

/// Proves every row of `input` in one proof; returns the proof.
pub fn prove(pk: &Path, input: &Path, proof_path: &Path, as_json: bool) -> Result<Proof, Failure> {
    let pk = load_pk(pk)?;
    let inputs = load_inputs(input, &pk.model)?;
    let xq: Vec<Vec<i64>> = inputs
        .samples
        .iter()
        .map(|x| pk.model.quantize_input(x))
        .collect();
    let bar = phase_bar(4, !as_json);
    // the key proves once: its weight prover data is opened without a copy
    let vk = as_json.then(|| pk.vk.clone());
    let start = Instant::now();
    let (proof, timings) = zkml::prove_once(pk, &xq, &mut |phase| {
        if let Some(b) = &bar {
            b.set_message(phase);
            b.inc(1);
        }
    })
    .map_err(Failure::usage)?;
    let total = start.elapsed();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let bytes = proof.to_bytes();
    write(proof_path, &bytes)?;
    if let Some(vk) = vk {
        let phases: serde_json::Map<String, serde_json::Value> = timings
            .phases
            .iter()
            .map(|(n, d)| ((*n).to_string(), json!(d.as_secs_f64() * 1e3)))
            .collect();
        // the proven outputs (a padded batch's extra rows left out)
        let len = vk.output_len();
        let rows: NamedRows = proof
            .output
            .chunks(len.max(1))
            .take(xq.len())
            .map(|y| vk.output_rows(y))
            .collect();
        let (outputs, named) = by_name(&rows);
        println!(
            "{}",
            json!({ "proof": proof_path, "samples": xq.len(), "prove_ms": total.as_secs_f64() * 1e3,
                    "phases_ms": phases, "proof_bytes": bytes.len(), "outputs": outputs,
                    "outputs_by_name": named })
        );
    } else {
        println!("proved {} sample(s) in {}", xq.len(), ms(total));
        for (name, d) in &timings.phases {
            println!("  {name:<14} {}", ms(*d));
        }
        println!("proof: {} ({})", proof_path.display(), size(bytes.len()));
    }
    Ok(proof)
}

pub fn verify(
    vk: &Path,
    proof_path: &Path,
    input: Option<&Path>,
    as_json: bool,
) -> Result<(), Failure> {
    let start = Instant::now();
    // loading checks the key (its key proof included): reported apart from the proof's check
    let vk = load_vk(vk)?;
    let key_check = start.elapsed();
    let bytes = read(proof_path)?;
    let input_text = input.map(read_text).transpose()?;
    let start = Instant::now();
    let result = Proof::from_bytes(&bytes)
        .map_err(zkml::VerifyError::from)
        .and_then(|proof| {
            let outputs = zkml::verify(&vk, &proof)?;
            if let Some(text) = &input_text {
                zkml::check_input(&vk, &proof, text)?;
            }
            Ok(outputs)
        });
    let elapsed = start.elapsed();
    match result {
        Ok(outputs) => {
            let rows: NamedRows = outputs.iter().map(|y| vk.output_rows(y)).collect();
            let (deq, named) = by_name(&rows);
            if as_json {
                println!(
                    "{}",
                    json!({
                        "valid": true,
                        "verify_ms": elapsed.as_secs_f64() * 1e3,
                        "key_check_ms": key_check.as_secs_f64() * 1e3,
                        "outputs": deq,
                        "outputs_by_name": named
                    })
                );
            } else {
                println!(
                    "proof is valid ({}; loading and checking the key: {})",
                    ms(elapsed),
                    ms(key_check)
                );
                for (i, row) in rows.iter().enumerate() {
                    print_sample(i, row);
                }
            }
            Ok(())
        }
        Err(e) => {
            if as_json {
                println!("{}", json!({ "valid": false, "error": e.to_string() }));
            }
            Err(Failure::refused(format!("proof refused: {e}")))
        }
    }
}
