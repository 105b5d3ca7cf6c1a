//! `zkml` with no arguments: setup, prove and verify a bundled model, and print a short report.

use std::path::PathBuf;

use zkml::zkml_model::ScaleMode;

use crate::Failure;
use crate::commands;

const MODEL: &str = "digits_mlp_5x100";

/// `assets/models` of the source tree, or of the current directory.
fn models_dir() -> Result<PathBuf, Failure> {
    let built_in = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/models"));
    [built_in, PathBuf::from("assets/models")]
        .into_iter()
        .find(|d| d.join(format!("{MODEL}.onnx")).exists())
        .map(|d| d.canonicalize().unwrap_or(d))
        .ok_or_else(|| Failure::usage("bundled models not found: run from the repository root"))
}

pub fn run() -> Result<(), Failure> {
    let dir = models_dir()?;
    let model = dir.join(format!("{MODEL}.onnx"));
    let calibration = dir.join(format!("{MODEL}_calibration.json"));
    let input = dir.join(format!("{MODEL}_input.json"));
    let out = std::env::temp_dir().join("zkml-demo");
    println!("ZKML demo: {MODEL} (an MLP trained on scikit-learn's digits)\n");
    println!("== setup");
    commands::setup(
        &model,
        &out,
        Some(&calibration),
        8,
        ScaleMode::PerRow,
        zkml::Weights::Committed,
    )?;
    println!("\n== prove");
    let proof_path = out.join("proof.bin");
    commands::prove(&out.join("model.pk"), &input, &proof_path, false)?;
    println!("\n== verify (also checks that the proof's input is the quantized input file)");
    commands::verify(&out.join("model.vk"), &proof_path, Some(&input), false)?;
    println!(
        "\nkeys and proof are in {}; README.md lists the commands",
        out.display()
    );
    Ok(())
}
