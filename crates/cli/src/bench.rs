//! `zkml bench`: setup once, then prove and verify several times; medians (of the whole prove
//! and of each of its phases), proof size, peak memory, the ratio of proving to plain quantized
//! inference and, with `--batch N`, the cost per row of an N-row proof.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use zkml::zkml_model::{self as model, QuantConfig, ScaleMode};

use crate::Failure;
use crate::io::{ms, read_text, size};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Peak resident memory of this process (Linux `VmHWM`), in bytes.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

pub fn run(
    path: &Path,
    input: &Path,
    calibration: Option<&Path>,
    repeats: usize,
    batch: Option<usize>,
    weights: zkml::Weights,
    as_json: bool,
) -> Result<(), Failure> {
    let repeats = repeats.max(1);
    let graph = model::import_onnx(path).map_err(Failure::model)?;
    let spec = graph.input_spec();
    let inputs = model::parse_inputs(&read_text(input)?, &spec).map_err(Failure::usage)?;
    let calib = match calibration {
        Some(f) => model::load_calibration(f, &spec).map_err(Failure::usage)?,
        None => inputs.samples.clone(),
    };
    let start = Instant::now();
    let quantized = model::quantize(
        &graph,
        &calib,
        &QuantConfig {
            bits: 8,
            scales: ScaleMode::PerRow,
        },
    )
    .map_err(Failure::model)?;
    let pk = zkml::setup_with(quantized, weights, &mut |_| {}).map_err(Failure::setup)?;
    let setup = start.elapsed();
    let mut xq: Vec<Vec<i64>> = inputs
        .samples
        .iter()
        .map(|x| pk.model.quantize_input(x))
        .collect();
    if let Some(n) = batch {
        xq = xq.iter().cycle().take(n).cloned().collect();
    }

    // plain inference: enough iterations for a stable median
    let infer_once = || {
        let t = Instant::now();
        for x in &xq {
            std::hint::black_box(pk.model.forward(x));
        }
        t.elapsed()
    };
    let inference = median((0..(repeats * 20).max(50)).map(|_| infer_once()).collect());

    let (mut prove_t, mut verify_t, mut proof_bytes) = (Vec::new(), Vec::new(), 0);
    let mut phase_t: Vec<(&'static str, Vec<Duration>)> = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        let (proof, timings) =
            zkml::prove_with_progress(&pk, &xq, &mut |_| {}).map_err(Failure::usage)?;
        prove_t.push(t.elapsed());
        for (i, (name, d)) in timings.phases.into_iter().enumerate() {
            match phase_t.get_mut(i) {
                Some((_, ds)) => ds.push(d),
                None => phase_t.push((name, vec![d])),
            }
        }
        proof_bytes = proof.to_bytes().len();
        let t = Instant::now();
        zkml::verify(&pk.vk, &proof)
            .map_err(|e| Failure::refused(format!("own proof refused: {e}")))?;
        verify_t.push(t.elapsed());
    }
    let (prove, verify) = (median(prove_t), median(verify_t));
    let phases: Vec<(&str, Duration)> =
        phase_t.into_iter().map(|(n, ds)| (n, median(ds))).collect();
    let ratio = prove.as_secs_f64() / inference.as_secs_f64().max(1e-9);
    let per_row = prove / u32::try_from(xq.len()).unwrap_or(u32::MAX).max(1);
    let peak = peak_rss();
    // committed cells of one proof (each column padded to a power of two): the witness and,
    // unless the key holds them, the weights
    let cells = |vars: &[usize]| vars.iter().map(|&v| 1u64 << v).sum::<u64>();
    let witness_cells = cells(
        &zkml::layout::Layout::new(&pk.vk, xq.len())
            .commit_shape()
            .column_vars,
    );
    let weight_cells: u64 = match pk.vk.public_weights {
        Some(_) => 0,
        None => pk
            .vk
            .weight_shapes()
            .iter()
            .map(|s| cells(&s.column_vars))
            .sum(),
    };
    if as_json {
        let phases_ms: serde_json::Map<String, serde_json::Value> = phases
            .iter()
            .map(|(n, d)| ((*n).to_string(), json!(d.as_secs_f64() * 1e3)))
            .collect();
        println!(
            "{}",
            json!({
                "model": path, "samples": xq.len(), "repeats": repeats, "params": graph.param_count(),
                "setup_ms": setup.as_secs_f64() * 1e3, "prove_ms": prove.as_secs_f64() * 1e3,
                "prove_ms_per_sample": per_row.as_secs_f64() * 1e3, "prove_phases_ms": phases_ms,
                "verify_ms": verify.as_secs_f64() * 1e3, "inference_ms": inference.as_secs_f64() * 1e3,
                "prove_over_inference": ratio, "proof_bytes": proof_bytes, "peak_rss_bytes": peak,
                "security_bits": zkml::security(&pk.vk, xq.len()).bits,
                "witness_cells": witness_cells, "weight_cells": weight_cells,
            })
        );
    } else {
        println!(
            "model {} ({} samples, {} parameters), medians of {repeats}",
            path.display(),
            xq.len(),
            graph.param_count()
        );
        println!("  setup      {}", ms(setup));
        println!(
            "  prove      {}  ({ratio:.0}x plain quantized inference, {})",
            ms(prove),
            ms(inference)
        );
        let profile: Vec<String> = phases
            .iter()
            .map(|(n, d)| format!("{n} {}", ms(*d)))
            .collect();
        println!("  phases     {}", profile.join(", "));
        if xq.len() > 1 {
            println!(
                "  per sample {}  ({} samples in one proof)",
                ms(per_row),
                xq.len()
            );
        }
        println!("  verify     {}", ms(verify));
        println!("  proof      {}", size(proof_bytes));
        println!("  committed  {witness_cells} witness cells, {weight_cells} weight cells");
        if let Some(p) = peak {
            println!("  peak RSS   {}", size(p as usize));
        }
    }
    Ok(())
}
