//! Arbitrary bytes as an input JSON file for the fixture model (dynamic batch, and a fixed
//! batch of 2): parse, quantize every sample and run exact inference, as `zkml run` does; also
//! `check_input` against the fixture proof, as `zkml verify --input` does. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml::zkml_model::{BatchDim, parse_calibration, parse_inputs};
use zkml_fuzz::fixture;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    let model = &f.pk.model;
    let _ = zkml::check_input(&f.pk.vk, &f.proof, text);
    for batch in [BatchDim::Dynamic, BatchDim::Fixed(2)] {
        let mut spec = model.input_spec();
        spec.batch = batch;
        let _ = parse_calibration(text, &spec);
        let Ok(inputs) = parse_inputs(text, &spec) else {
            continue;
        };
        for x in &inputs.samples {
            assert_eq!(x.len(), spec.sample_len);
            let xq = model.quantize_input(x);
            let y = model.forward(&xq);
            let _ = model.dequantize_output(y.last().expect("layers"));
        }
        if let Some(refs) = &inputs.reference_outputs {
            assert_eq!(refs.len(), inputs.samples.len());
        }
    }
});
