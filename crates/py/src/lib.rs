//! `zkml._zkml`: the native module of the `zkml` Python package (`python/zkml/`).
//!
//! A thin face over the `zkml` crate, like the command line: the same key and proof files, the
//! same error messages. Arrays cross the boundary as little-endian `f32` bytes with a shape;
//! numpy lives on the Python side. Every call that can take long runs on a thread of its own
//! with the GIL released, and stops waiting when Ctrl-C arrives.
//!
//! - [`errors`]: the failure kinds (as the CLI's exit codes) and the Python exceptions they raise.
//! - [`background`]: long work off the interpreter's thread; panics and signals at the boundary.
//! - [`arrays`]: float rows in and out, checked against the model's input shape.
//! - [`keys`]: `setup`, `inspect`, and the `ProvingKey`, `VerifyingKey` and `Proof` classes.

use pyo3::prelude::*;

mod arrays;
mod background;
mod errors;
mod keys;

#[pymodule]
fn _zkml(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(keys::setup, m)?)?;
    m.add_function(wrap_pyfunction!(keys::inspect, m)?)?;
    m.add_class::<keys::ProvingKey>()?;
    m.add_class::<keys::VerifyingKey>()?;
    m.add_class::<keys::Proof>()?;
    m.add_function(wrap_pyfunction!(panic_in_background, m)?)?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// For the tests: a panic in background work must come back as `zkml.InternalError`.
#[pyfunction]
#[pyo3(name = "_panic_in_background")]
fn panic_in_background(py: Python<'_>) -> PyResult<()> {
    background::run(py, || -> errors::Result<()> {
        std::panic::panic_any("a panic on purpose (zkml._zkml._panic_in_background)".to_string())
    })
}
