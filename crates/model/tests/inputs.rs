//! Input JSON parsing: the formats and every error.

use zkml_model::{BatchDim, InputSpec, ModelError, parse_calibration, parse_inputs};

fn spec(batch: BatchDim, sample_len: usize, output_len: Option<usize>) -> InputSpec {
    InputSpec {
        batch,
        sample_len,
        output_len,
    }
}

fn err(json: &str, spec: &InputSpec) -> String {
    match parse_inputs(json, spec) {
        Err(ModelError::Input { detail }) => detail,
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn one_sample_per_row() {
    let s = spec(BatchDim::Fixed(1), 3, Some(2));
    let json = r#"{"input_data": [[1, 2.5, -3], [0, 0, 0]], "output_data": [[1, 2], [3, 4]], "labels": [1, 2]}"#;
    let inputs = parse_inputs(json, &s).unwrap();
    assert_eq!(inputs.samples, vec![vec![1.0, 2.5, -3.0], vec![0.0; 3]]);
    assert_eq!(
        inputs.reference_outputs,
        Some(vec![vec![1.0, 2.0], vec![3.0, 4.0]])
    );
    let dynamic = parse_inputs(
        r#"{"input_data": [[1, 2, 3]]}"#,
        &spec(BatchDim::Dynamic, 3, None),
    )
    .unwrap();
    assert_eq!(dynamic.samples.len(), 1);
    assert!(dynamic.reference_outputs.is_none());
}

#[test]
fn fixed_batch_row_holds_the_whole_tensor() {
    let s = spec(BatchDim::Fixed(2), 2, Some(1));
    let inputs = parse_inputs(
        r#"{"input_data": [[1, 2, 3, 4]], "output_data": [[5, 6]]}"#,
        &s,
    )
    .unwrap();
    assert_eq!(inputs.samples, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
    assert_eq!(inputs.reference_outputs, Some(vec![vec![5.0], vec![6.0]]));
    let e = err(r#"{"input_data": [[1, 2, 3, 4], [1, 2, 3, 4]]}"#, &s);
    assert!(
        e.contains("fixed batch of 2") && e.contains("2 rows"),
        "{e}"
    );
    let e = err(r#"{"input_data": [[1, 2]]}"#, &s);
    assert!(
        e.contains("expected 4 values") && e.contains("got 2"),
        "{e}"
    );
}

#[test]
fn errors_name_row_and_column() {
    let s = spec(BatchDim::Fixed(1), 3, Some(2));
    let e = err(r#"{"input_data": [[1, 2, 3], [1, 2]]}"#, &s);
    assert!(
        e.contains("row 1") && e.contains("expected 3") && e.contains("got 2"),
        "{e}"
    );
    let e = err(r#"{"input_data": [[1, "x", 3]]}"#, &s);
    assert!(
        e.contains("row 0 column 1") && e.contains("not a number"),
        "{e}"
    );
    let e = err(r#"{"input_data": [[1, null, 3]]}"#, &s);
    assert!(e.contains("column 1"), "{e}");
    let e = err(r#"{"input_data": [[1, 1e39, 3]]}"#, &s);
    assert!(e.contains("not a finite f32"), "{e}");
    let e = err(r#"{"input_data": [[1, NaN, 3]]}"#, &s);
    assert!(e.contains("not valid JSON"), "{e}");
    let e = err(r#"{"input_data": []}"#, &s);
    assert!(e.contains("empty"), "{e}");
    let e = err(r#"{"output_data": [[1, 2]]}"#, &s);
    assert!(e.contains("missing input_data"), "{e}");
    let e = err(r#"{"input_data": [1, 2, 3]}"#, &s);
    assert!(e.contains("row 0 is not a list"), "{e}");
    let e = err(r#"[[1, 2, 3]]"#, &s);
    assert!(e.contains("object"), "{e}");
    let e = err(
        r#"{"input_data": [[1, 2, 3]], "output_data": [[1, 2], [3, 4]]}"#,
        &s,
    );
    assert!(e.contains("output_data has 2 rows"), "{e}");
    let e = err(
        r#"{"input_data": [[1, 2, 3]], "output_data": [[1, 2, 3]]}"#,
        &s,
    );
    assert!(
        e.contains("output_data row 0") && e.contains("expected 2"),
        "{e}"
    );
}

#[test]
fn calibration_takes_many_rows() {
    let s = spec(BatchDim::Fixed(2), 2, None);
    let samples = parse_calibration(r#"{"input_data": [[1, 2, 3, 4], [5, 6]]}"#, &s).unwrap();
    assert_eq!(
        samples,
        vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]
    );
    let e = parse_calibration(r#"{"input_data": [[1, 2], [1, 2, 3]]}"#, &s).unwrap_err();
    assert!(e.to_string().contains("row 1"), "{e}");
}
