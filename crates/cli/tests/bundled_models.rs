//! Every bundled model goes through `setup`, `prove` and `verify --input` with the binary, and
//! the verified outputs equal those of plain quantized inference (`run`).

use std::path::Path;
mod common;

use common::{Scratch, assets, zkml};

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn round_trip(stem: &str, input: &str) -> serde_json::Value {
    round_trip_with(&assets(), stem, input, input)
}

/// `setup`, `run`, `prove`, `verify` of `base/stem.onnx` on `base/input`.
fn round_trip_in(base: &Path, stem: &str, input: &str) {
    round_trip_with(base, stem, input, input);
}

/// [`round_trip_in`], calibrated on `base/calibration`; returns `verify --json`'s output.
fn round_trip_with(base: &Path, stem: &str, input: &str, calibration: &str) -> serde_json::Value {
    round_trip_flags(base, stem, input, calibration, &[])
}

/// [`round_trip_with`], passing `flags` to `setup`.
fn round_trip_flags(
    base: &Path,
    stem: &str,
    input: &str,
    calibration: &str,
    flags: &[&str],
) -> serde_json::Value {
    let tag = flags.join("");
    let dir = Scratch::new(&format!("test-{stem}{tag}"));
    let (model, input) = (base.join(format!("{stem}.onnx")), base.join(input));
    let calibration = base.join(calibration);
    let (pk, vk, proof) = (
        dir.join("model.pk"),
        dir.join("model.vk"),
        dir.join("proof.bin"),
    );
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let setup = [
        "setup",
        &s(&model),
        "--out",
        &s(&dir),
        "--calibration",
        &s(&calibration),
    ];
    let (code, setup_out, err) = zkml(&[&setup[..], flags].concat());
    assert_eq!(code, 0, "{stem} setup: {err}");
    let public = setup_out.contains("weights:   public");
    assert_eq!(public, flags.contains(&"--public-weights"), "{setup_out}");
    let (code, run_out, err) = zkml(&["run", "--pk", &s(&pk), "--input", &s(&input), "--json"]);
    assert_eq!(code, 0, "{stem} run: {err}");
    let (code, prove_out, err) = zkml(&[
        "prove",
        "--pk",
        &s(&pk),
        "--input",
        &s(&input),
        "--proof",
        &s(&proof),
        "--json",
    ]);
    assert_eq!(code, 0, "{stem} prove: {err}");
    assert!(json(&prove_out)["proof_bytes"].as_u64().unwrap() > 0);
    let (code, verify_out, err) = zkml(&[
        "verify",
        "--vk",
        &s(&vk),
        "--proof",
        &s(&proof),
        "--input",
        &s(&input),
        "--json",
    ]);
    assert_eq!(code, 0, "{stem} verify: {err}");
    let verified = json(&verify_out);
    assert_eq!(verified["valid"], true);
    // run, prove and verify print the same outputs, the first and every one by name
    for key in ["outputs", "outputs_by_name"] {
        assert_eq!(
            verified[key],
            json(&run_out)[key],
            "{stem}: proven {key} differ from inference"
        );
        assert_eq!(verified[key], json(&prove_out)[key], "{stem}: {key}");
    }
    verified
}

#[test]
fn gemm_pytorch_style_digits_mlp() {
    round_trip("digits_mlp_7x50", "digits_mlp_7x50_input.json");
}

#[test]
fn matmul_add_keras_style_with_dynamic_batch() {
    round_trip("mlp_matmul_add", "mlp_matmul_add_input.json");
}

#[test]
fn flatten_of_a_1x1x8x8_input() {
    round_trip("mlp_flatten", "mlp_flatten_input.json");
}

#[test]
fn fixed_batch_of_four() {
    round_trip("mlp_batch4", "mlp_batch4_input.json");
}

#[test]
fn dropout_identity_reshape() {
    round_trip("mlp_dropout_identity", "mlp_dropout_identity_input.json");
}

#[test]
fn batch_of_many_digits_in_one_proof() {
    round_trip("digits_mlp_5x100", "digits_mlp_5x100_test.json");
}

#[test]
fn bench_reports_the_phases_and_the_cost_per_row_of_a_batch() {
    let (model, input) = (
        assets().join("digits_mlp_7x50.onnx"),
        assets().join("digits_mlp_7x50_input.json"),
    );
    let (model, input) = (model.to_str().unwrap(), input.to_str().unwrap());
    let args = [
        "bench",
        model,
        "--input",
        input,
        "--repeats",
        "1",
        "--batch",
        "6",
    ];
    let (code, out, err) = zkml(&[&args[..], &["--json"]].concat());
    assert_eq!(code, 0, "bench: {err}");
    let report = json(&out);
    assert_eq!(report["samples"], 6);
    let (prove, per_row) = (
        report["prove_ms"].as_f64(),
        report["prove_ms_per_sample"].as_f64(),
    );
    assert!((prove.unwrap() / 6.0 - per_row.unwrap()).abs() < 1e-3 * prove.unwrap() + 1e-6);
    let phases = report["prove_phases_ms"].as_object().unwrap();
    let names: Vec<&str> = phases.keys().map(String::as_str).collect();
    for phase in ["inference", "commit", "lookups+layers", "open"] {
        assert!(names.contains(&phase), "{phase} not in {names:?}");
    }
    // the 16,510 parameters padded to powers of two; six rows' witness
    let weight_cells = report["weight_cells"].as_u64().unwrap();
    assert!((16_510..4 * 16_510).contains(&weight_cells), "{report}");
    assert!(
        report["witness_cells"].as_u64().unwrap() > 6 * 64,
        "{report}"
    );
    let (code, out, err) = zkml(&args);
    assert_eq!(code, 0, "bench: {err}");
    assert!(
        out.contains("per sample") && out.contains("(6 samples in one proof)"),
        "{out}"
    );
    let (code, _, err) = zkml(&[&args[..6], &["--batch", "0"]].concat());
    assert_eq!(code, 2, "a batch of 0 is bad usage: {err}");
}

#[test]
fn demo_runs() {
    let (code, out, err) = zkml(&[]);
    assert_eq!(code, 0, "demo: {err}");
    assert!(out.contains("proof is valid"), "{out}");
}

#[test]
fn cnn_trained_on_digits_batch_of_many() {
    round_trip("digits_cnn", "digits_cnn_test.json");
}

#[test]
fn public_weights_prove_the_same_outputs() {
    let (stem, input) = ("digits_cnn", "digits_cnn_test.json");
    let public = round_trip_flags(&assets(), stem, input, input, &["--public-weights"]);
    let committed = round_trip(stem, input);
    assert!(public["outputs"].as_array().is_some_and(|o| !o.is_empty()));
    assert_eq!(public["outputs"], committed["outputs"]);
}

#[test]
fn lenet_style_cnn_on_28x28() {
    round_trip("lenet_28", "lenet_28_input.json");
}

#[test]
fn cnn_with_padding_stride_two_and_batchnorm() {
    round_trip("cnn_pad_stride_bn", "cnn_pad_stride_bn_input.json");
}

#[test]
fn cifar_style_cnn_with_264k_parameters() {
    round_trip("cifar_cnn_264k", "cifar_cnn_264k_input.json");
}

#[test]
fn an_nhwc_input_is_permuted_alike_by_prover_and_verifier() {
    // tf2onnx's layout: Transpose to NCHW first (the input's permutation), a conv, Transpose
    // back before Flatten (folded into the dense layer); `verify --input` permutes the file too
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    round_trip_in(&fixtures, "nhwc_cnn", "nhwc_cnn_input.json");
}

#[test]
fn a_reshape_between_window_ops_is_proven_as_a_permutation() {
    // activations are laid out padded per dimension: a window op reading a Reshape of another
    // window op's output reads it through a relayout layer (a proven permutation)
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // (and a sum of a dense layer's reshaped output with a conv's: one is relaid out)
    for stem in [
        "reshape_conv_conv",
        "reshape_conv_pool",
        "reshape_vars",
        "dense_plus_conv",
    ] {
        round_trip_in(&fixtures, stem, &format!("{stem}_input.json"));
    }
}

#[test]
fn a_model_without_weights_proves() {
    // a lone MaxPool: no weight commitment at all, the output is still proven from the input
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    round_trip_in(&fixtures, "maxpool_only", "maxpool_only_input.json");
}

/// Argmax of each row of a JSON array of rows.
fn argmaxes(rows: &serde_json::Value) -> Vec<usize> {
    let row = |r: &serde_json::Value| -> Vec<f64> {
        r.as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let r = row(r);
            (0..r.len()).fold(0, |best, k| if r[k] > r[best] { k } else { best })
        })
        .collect()
}

/// A ResNet-8-style and a MobileNet-style CNN trained on the digits (upscaled to 16x16), set up
/// with 200 training rows and proven on 50 held-out digits in one proof (the proven outputs are
/// those of inference): the verified argmax agrees with onnxruntime's float argmax on at least
/// 46 of them.
#[test]
fn residual_and_mobilenet_digits_models_agree_with_float_on_held_out_digits() {
    for stem in ["digits_resnet", "digits_mobilenet"] {
        let test = format!("{stem}_test.json");
        let calibration = format!("{stem}_calibration.json");
        let out = round_trip_with(&assets(), stem, &test, &calibration);
        let verified = argmaxes(&out["outputs"]);
        let text = std::fs::read_to_string(assets().join(&test)).unwrap();
        let float = argmaxes(&json(&text)["output_data"]);
        assert_eq!(verified.len(), 50, "{stem}");
        let agree = verified.iter().zip(&float).filter(|(a, b)| a == b).count();
        eprintln!("{stem}: verified argmax agrees with float on {agree}/50");
        assert!(agree >= 46, "{stem}: {agree}/50");
    }
}

/// Keras models trained on the digits (`assets/scripts/make_keras_fixtures.py`: an MLP with a
/// Rescaling layer, CNNs with BatchNorm, average pooling (padding "same": border windows divided by fewer
/// inputs), a residual network, separable and
/// 1-D convolutions, a conv after a dense layer through Reshape; NHWC), exported by tf2onnx
/// (`from_keras` at opsets 13 and 17, Keras 3's `model.export`): each is set up, proven on 50
/// held-out digits in one proof and verified, and the verified argmax agrees with
/// onnxruntime's float argmax on at least 46 of them.
#[test]
fn keras_exports_agree_with_float_on_held_out_digits() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras");
    let stems = [
        "mlp_rescale_fk13",
        "mlp_rescale_k3",
        "mlp_norm_fk13",
        "cnn_bn_fk13",
        "cnn_bn_fk17",
        "cnn_bn_k3",
        "cnn_s2d_fk13",
        "cnn_s2d_k3",
        "avgpool_valid_fk13",
        "avgpool_valid_k3",
        "avgpool_same_fk13",
        "avgpool_same_k3",
        "resnet_fk13",
        "resnet_fk17",
        "resnet_k3",
        "separable_fk13",
        "separable_k3",
        "unflatten_fk13",
        "unflatten_k3",
        "conv1d_fk13",
        "conv1d_k3",
    ];
    for stem in stems {
        let model = stem.rsplit_once('_').unwrap().0;
        let own = format!("{model}_calibration.json");
        let calibration = if dir.join(&own).exists() {
            own
        } else {
            "digits_calibration.json".to_string()
        };
        let test = format!("{stem}_test.json");
        let out = round_trip_with(&dir, stem, &test, &calibration);
        let verified = argmaxes(&out["outputs"]);
        let text = std::fs::read_to_string(dir.join(&test)).unwrap();
        let float = argmaxes(&json(&text)["output_data"]);
        assert_eq!(verified.len(), 50, "{stem}");
        let agree = verified.iter().zip(&float).filter(|(a, b)| a == b).count();
        assert!(agree >= 46, "{stem}: {agree}/50");
    }
}

/// Models with other activations, trained on the digits (`assets/scripts/
/// make_activation_fixtures.py`: PyTorch's legacy exporter at opsets 17 and 20 and its dynamo
/// exporter, Keras through tf2onnx and `model.export`): Sigmoid, Tanh, GELU (Erf and tanh
/// forms, the opset-20 `Gelu` node), SiLU/Swish, ReLU6, LeakyReLU, ELU, SELU, Softplus, Mish,
/// HardSigmoid, HardSwish, a CNN with Tanh, PReLU with a slope per feature and per channel
/// (a CNN), Softmax and LogSoftmax of each row of a hidden [6, 8] tensor, Softmax heads (PyTorch and Keras), LogSoftmax
/// heads, label heads (`argmax(-1)`) and both at once (two graph outputs), all PyTorch, and
/// scikit-learn's classifiers (label and probabilities). Each is set
/// up, proven on 50 held-out digits in one proof and verified; the verified argmax agrees with
/// onnxruntime's on at least 46.
#[test]
fn activation_exports_agree_with_float_on_held_out_digits() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/activations");
    // scikit-learn's classifiers: below
    let later = |s: &str| s.starts_with("skl_");
    let mut stems: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".onnx").map(str::to_string))
        .filter(|s| !later(s))
        .collect();
    stems.sort();
    assert_eq!(stems.len(), 53, "{stems:?}");
    for stem in &stems {
        let test = format!("{stem}_test.json");
        let out = round_trip_with(&dir, stem, &test, "digits_calibration.json");
        let text = std::fs::read_to_string(dir.join(&test)).unwrap();
        // a label head (ArgMax) outputs the class itself; the others scores per class
        let classes = |rows: &serde_json::Value| match stem.contains("argmax") {
            true => rows
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[0].as_f64().unwrap() as usize)
                .collect(),
            false => argmaxes(rows),
        };
        let verified = classes(&out["outputs"]);
        let float = classes(&json(&text)["output_data"]);
        assert_eq!(verified.len(), 50, "{stem}");
        let agree = verified.iter().zip(&float).filter(|(a, b)| a == b).count();
        assert!(agree >= 46, "{stem}: {agree}/50");
        // two graph outputs (probabilities, label; named by the exporter): the label proven
        if stem.contains("two_outputs") {
            let named = out["outputs_by_name"].as_object().unwrap();
            assert_eq!(named.len(), 2, "{stem}");
            let label = named
                .values()
                .find(|v| v[0].as_array().unwrap().len() == 1)
                .unwrap();
            let label: Vec<u64> = (0..50)
                .map(|i| label[i][0].as_f64().unwrap() as u64)
                .collect();
            let doc = json(&text);
            let want: Vec<u64> = (0..50)
                .map(|i| doc["label_data"][i].as_u64().unwrap())
                .collect();
            assert_eq!(label, want, "{stem}");
        }
    }
    // scikit-learn's MLPClassifier (zipmap=False): two graph outputs, the label (ArgMax) and
    // the probabilities (Softmax), both proven; the label agrees with onnxruntime's, and so does
    // the probabilities' argmax
    for stem in ["skl_tanh", "skl_logistic", "skl_relu"] {
        let test = format!("{stem}_test.json");
        let out = round_trip_with(&dir, stem, &test, "digits_calibration.json");
        let doc = json(&std::fs::read_to_string(dir.join(&test)).unwrap());
        let labels = |rows: &serde_json::Value| -> Vec<usize> {
            let rows = rows.as_array().unwrap();
            rows.iter()
                .map(|r| r[0].as_f64().unwrap() as usize)
                .collect()
        };
        let verified = labels(&out["outputs"]);
        assert_eq!(verified, labels(&out["outputs_by_name"]["label"]), "{stem}");
        let agree = verified
            .iter()
            .zip(labels(&doc["output_data"]))
            .filter(|(a, b)| **a == *b)
            .count();
        assert!(agree >= 46, "{stem}: {agree}/50");
        let probs = argmaxes(&out["outputs_by_name"]["probabilities"]);
        let float = argmaxes(&doc["probabilities_data"]);
        let agree = probs.iter().zip(&float).filter(|(a, b)| a == b).count();
        assert!(agree >= 46, "{stem} probabilities: {agree}/50");
    }
    // with ZipMap the probabilities are a map per sample: refused (exit 3), saying how to
    // export a tensor instead
    let model = dir.join("skl_tanh_zipmap.onnx");
    let (code, _, err) = zkml(&["inspect", model.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("\"zipmap\": False"), "{err}");
}
