//! Running the binary from the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `zkml ARGS`; returns the exit code, stdout and stderr. Fails the test on a panic
/// (exit 101 or "panicked" on stderr), whatever the command.
pub fn zkml(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zkml"))
        .args(args)
        .output()
        .expect("run zkml");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        !stderr.contains("panicked"),
        "zkml {args:?} panicked: {stderr}"
    );
    let code = out.status.code().unwrap_or(-1);
    assert_ne!(code, 101, "zkml {args:?} exited 101: {stderr}");
    (code, stdout, stderr)
}

/// The bundled models.
pub fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/models")
}

/// A scratch directory for one test, `zkml-NAME-PID` under the temporary directory: created
/// empty, removed when dropped unless the test is failing (its files stay for a look).
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("zkml-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Self(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
