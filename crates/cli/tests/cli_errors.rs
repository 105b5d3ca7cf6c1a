//! Exit codes and messages of the binary on bad files and refused proofs: 0 success, 1 a proof
//! refused, 2 bad usage or a bad file, 3 a model the tool does not support; never 101 (a
//! panic), and nothing on stderr may say "panicked".

use std::path::Path;
mod common;

use common::{Scratch, assets, zkml};

fn asset(name: &str) -> String {
    assets().join(name).to_str().unwrap().to_owned()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("cli-errors-{name}"))
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// Keys, input and a valid proof of `mlp_matmul_add` in `dir`: (pk, vk, input, proof).
fn proven(dir: &Path) -> (String, String, String, String) {
    let input = asset("mlp_matmul_add_input.json");
    let (code, out, err) = zkml(&[
        "setup",
        &asset("mlp_matmul_add.onnx"),
        "--out",
        &s(dir),
        "--calibration",
        &input,
    ]);
    assert_eq!(code, 0, "setup: {err}");
    assert!(out.contains("security:"), "{out}");
    let (pk, vk, proof) = (
        s(&dir.join("model.pk")),
        s(&dir.join("model.vk")),
        s(&dir.join("proof.bin")),
    );
    let (code, _, err) = zkml(&["prove", "--pk", &pk, "--input", &input, "--proof", &proof]);
    assert_eq!(code, 0, "prove: {err}");
    (pk, vk, input, proof)
}

#[test]
fn round_trip_succeeds() {
    let dir = scratch("round-trip");
    let (_, vk, input, proof) = proven(&dir);
    let (code, out, err) = zkml(&["verify", "--vk", &vk, "--proof", &proof, "--input", &input]);
    assert_eq!(code, 0, "verify: {err}");
    assert!(out.contains("proof is valid"), "{out}");
    let (code, out, _) = zkml(&["verify", "--vk", &vk, "--proof", &proof, "--json"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"valid\":true"), "{out}");
}

#[test]
fn missing_files_exit_2() {
    let dir = scratch("missing");
    let missing = s(&dir.join("does-not-exist"));
    for args in [
        vec!["inspect", missing.as_str()],
        vec!["setup", missing.as_str(), "--out", missing.as_str()],
        vec!["run", "--pk", missing.as_str(), "--input", missing.as_str()],
        vec![
            "prove",
            "--pk",
            missing.as_str(),
            "--input",
            missing.as_str(),
            "--proof",
            missing.as_str(),
        ],
        vec![
            "verify",
            "--vk",
            missing.as_str(),
            "--proof",
            missing.as_str(),
        ],
    ] {
        let (code, _, err) = zkml(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("does-not-exist"),
            "{args:?} names the file: {err}"
        );
    }
    // a valid key but a missing proof file: a bad file, not a refused proof
    let (_, vk, _, _) = proven(&dir);
    let (code, _, err) = zkml(&["verify", "--vk", &vk, "--proof", &missing]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        vec!["no-such-command"],
        vec!["setup"],
        vec!["setup", "m.onnx", "--out", "d", "--bits", "40"],
        vec!["verify", "--vk", "k"],
    ] {
        let (code, _, err) = zkml(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}

#[test]
fn truncated_or_garbage_onnx_exits_2() {
    let dir = scratch("onnx");
    let bytes = std::fs::read(asset("mlp_matmul_add.onnx")).unwrap();
    let mut files = Vec::new();
    for (name, content) in [
        ("truncated.onnx", bytes[..bytes.len() / 2].to_vec()),
        ("one_byte.onnx", bytes[..1].to_vec()),
        ("empty.onnx", Vec::new()),
        (
            "garbage.onnx",
            (0..600u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        ("text.onnx", b"{\"input_data\": [[1, 2]]}".to_vec()),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        files.push(s(&p));
    }
    files.push(s(&dir)); // a directory, not a file
    let out = s(&dir.join("keys"));
    for f in &files {
        let (code, _, err) = zkml(&["inspect", f]);
        assert_eq!(code, 2, "inspect {f}: {err}");
        assert!(err.starts_with("error: "), "{err}");
        let (code, _, err) = zkml(&["setup", f, "--out", &out]);
        assert_eq!(code, 2, "setup {f}: {err}");
    }
    assert!(!dir.join("keys/model.vk").exists(), "no key written");
}

#[test]
fn unsupported_ops_are_all_listed() {
    let dir = scratch("unsupported");
    let model = asset("unsupported.onnx");
    let (code, out, err) = zkml(&["setup", &model, "--out", &s(&dir)]);
    assert_eq!(code, 3, "an unsupported model exits 3: {out}{err}");
    for node in ["fc2_scaled", "softmax"] {
        assert!(err.contains(node), "setup names {node}: {err}");
    }
    assert!(!dir.join("model.vk").exists(), "no key written");
    // inspect prints the whole summary, then exits 3 as well
    let (code, out, err) = zkml(&["inspect", &model]);
    assert_eq!(code, 3, "{out}{err}");
    for node in ["fc2_scaled", "softmax"] {
        assert!(out.contains(node), "inspect names {node}: {out}");
    }
    assert!(err.contains("2 unsupported op(s)"), "{err}");
    // a supported model inspects with 0
    let (code, out, err) = zkml(&["inspect", &asset("mlp_matmul_add.onnx")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("proven: dense + requantization"), "{out}");
}

#[test]
fn bad_input_json_exits_2() {
    let dir = scratch("inputs");
    let (pk, _, _, _) = proven(&dir);
    let row = |n: usize| {
        (0..n)
            .map(|i| format!("0.{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let cases = [
        ("short", format!("{{\"input_data\": [[{}]]}}", row(12))),
        ("long", format!("{{\"input_data\": [[{}]]}}", row(14))),
        (
            "string",
            format!("{{\"input_data\": [[\"a\",{}]]}}", row(12)),
        ),
        ("null", format!("{{\"input_data\": [[null,{}]]}}", row(12))),
        ("nan", format!("{{\"input_data\": [[NaN,{}]]}}", row(12))),
        (
            "nan_string",
            format!("{{\"input_data\": [[\"NaN\",{}]]}}", row(12)),
        ),
        (
            "too_big_for_f32",
            format!("{{\"input_data\": [[1e39,{}]]}}", row(12)),
        ),
        ("empty", "{\"input_data\": []}".to_string()),
        ("missing", "{\"data\": [[1]]}".to_string()),
        ("not_json", "input_data: [[1, 2]]".to_string()),
        ("not_object", "[[1, 2, 3]]".to_string()),
        (
            "output_rows",
            format!(
                "{{\"input_data\": [[{}]], \"output_data\": [[1],[2]]}}",
                row(13)
            ),
        ),
    ];
    for (name, json) in cases {
        let input = dir.join(format!("{name}.json"));
        std::fs::write(&input, json).unwrap();
        let (code, _, err) = zkml(&["run", "--pk", &pk, "--input", &s(&input)]);
        assert_eq!(code, 2, "run with {name}: {err}");
        let proof = s(&dir.join(format!("{name}.proof")));
        let (code, _, err) = zkml(&[
            "prove",
            "--pk",
            &pk,
            "--input",
            &s(&input),
            "--proof",
            &proof,
        ]);
        assert_eq!(code, 2, "prove with {name}: {err}");
        assert!(
            err.contains(&format!("{name}.json")),
            "names the file: {err}"
        );
        assert!(!Path::new(&proof).exists(), "no proof written for {name}");
    }
}

#[test]
fn corrupted_proof_is_refused_with_1() {
    let dir = scratch("corrupted");
    let (_, vk, _, proof) = proven(&dir);
    let bytes = std::fs::read(&proof).unwrap();
    let bad = dir.join("bad.proof");
    let n = bytes.len();
    for (what, b) in [
        ("flipped byte", {
            let mut b = bytes.clone();
            b[n / 2] ^= 0x10;
            b
        }),
        ("truncated", bytes[..n - 10].to_vec()),
        ("trailing byte", [bytes.as_slice(), &[0]].concat()),
        ("wrong magic", [b"NOTAPRF".as_slice(), &bytes[7..]].concat()),
        ("empty", Vec::new()),
    ] {
        std::fs::write(&bad, b).unwrap();
        let (code, out, err) = zkml(&["verify", "--vk", &vk, "--proof", &s(&bad)]);
        assert_eq!(code, 1, "{what}: {out}{err}");
        assert!(err.contains("proof refused"), "{what}: {err}");
        let (code, out, _) = zkml(&["verify", "--vk", &vk, "--proof", &s(&bad), "--json"]);
        assert_eq!(code, 1, "{what}");
        assert!(out.contains("\"valid\":false"), "{what}: {out}");
    }
}

#[test]
fn corrupted_key_exits_2() {
    let dir = scratch("bad-key");
    let (pk, vk, input, proof) = proven(&dir);
    let bad = dir.join("bad.key");
    for src in [&vk, &pk] {
        let bytes = std::fs::read(src).unwrap();
        std::fs::write(&bad, &bytes[..bytes.len() - 3]).unwrap();
        let (code, _, err) = zkml(&["verify", "--vk", &s(&bad), "--proof", &proof]);
        assert_eq!(code, 2, "{err}");
        let (code, _, err) = zkml(&["run", "--pk", &s(&bad), "--input", &input]);
        assert_eq!(code, 2, "{err}");
    }
    // a proving key whose weights do not match its verifying key
    let mut bytes = std::fs::read(&pk).unwrap();
    let i = bytes.len() / 3;
    bytes[i] ^= 1;
    std::fs::write(&bad, &bytes).unwrap();
    let (code, _, err) = zkml(&["run", "--pk", &s(&bad), "--input", &input]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn another_models_key_refuses_with_1() {
    let dir = scratch("other-key");
    let (_, _, _, proof) = proven(&dir);
    // the same model calibrated on other inputs: other scales, so another key
    let other = dir.join("other");
    let (code, _, err) = zkml(&["setup", &asset("mlp_matmul_add.onnx"), "--out", &s(&other)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = zkml(&[
        "verify",
        "--vk",
        &s(&other.join("model.vk")),
        "--proof",
        &proof,
    ]);
    assert_eq!(code, 1, "{err}");
    // a model of another shape
    let flat = dir.join("flat");
    let (code, _, err) = zkml(&["setup", &asset("mlp_flatten.onnx"), "--out", &s(&flat)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = zkml(&[
        "verify",
        "--vk",
        &s(&flat.join("model.vk")),
        "--proof",
        &proof,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("proof refused"), "{err}");
}

#[test]
fn verify_with_another_input_refuses_with_1() {
    let dir = scratch("other-input");
    let (_, vk, input, proof) = proven(&dir);
    let text = std::fs::read_to_string(&input).unwrap();
    // the same rows with the first value changed well beyond a quantization step
    let changed = text.replacen("0.8042", "-0.5", 1);
    assert_ne!(changed, text);
    let other = dir.join("other.json");
    std::fs::write(&other, changed).unwrap();
    let (code, _, err) = zkml(&[
        "verify",
        "--vk",
        &vk,
        "--proof",
        &proof,
        "--input",
        &s(&other),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not the quantization"), "{err}");
    // fewer rows than the proof has samples
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let one = serde_json::json!({ "input_data": [v["input_data"][0]] });
    std::fs::write(&other, one.to_string()).unwrap();
    let (code, _, err) = zkml(&[
        "verify",
        "--vk",
        &vk,
        "--proof",
        &proof,
        "--input",
        &s(&other),
    ]);
    assert_eq!(code, 1, "{err}");
    // an --input file that cannot be read: the proof cannot be checked against it
    let missing = s(&dir.join("missing.json"));
    let (code, _, err) = zkml(&[
        "verify", "--vk", &vk, "--proof", &proof, "--input", &missing,
    ]);
    assert!(code == 1 || code == 2, "{code}: {err}");
}
