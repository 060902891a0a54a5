//! Runs one of the scripts of `tests/peers` with DataDog's Python tracer
//! (`ddtrace`, in the `.venv` that `make peers-install` creates): the
//! reference of the differential tests. Included by each crate's tests
//! (`#[path]`), as test code shared without a crate of its own.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Feeds `input` (JSON) to `tests/peers/<script>` on stdin, with `env` on
/// top of settings that keep ddtrace quiet and offline, and returns the JSON
/// list it prints. Panics, naming the fix, when the venv is missing.
pub(crate) fn run(script: &str, env: &[(&str, &str)], input: &Value) -> Vec<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = root.join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run `make peers-install` (creates .venv from tests/peers/requirements.txt)",
        py.display()
    );
    let mut child = Command::new(py)
        .arg(root.join("tests/peers").join(script))
        .env("DD_TRACE_AGENT_URL", "http://127.0.0.1:9")
        .env("DD_REMOTE_CONFIGURATION_ENABLED", "false")
        .env("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
        .env("DD_TRACE_STARTUP_LOGS", "false")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(input.to_string().as_bytes())
        .expect("write the cases");
    drop(stdin);
    let out = child.wait_with_output().expect("wait for the script");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints a JSON list")
}
