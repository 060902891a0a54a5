//! Helpers shared by the integration tests: locating and starting the real
//! peers installed by `make peers-install`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The venv Python with the peers installed; fails the test if missing.
pub fn venv_python() -> PathBuf {
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make peers-install` (creates .venv from tests/peers/requirements.txt)",
        python.display()
    );
    python
}

/// The Prism CLI from `tests/peers/node_modules`; fails the test if missing.
pub fn prism() -> PathBuf {
    let bin = workspace_root().join("tests/peers/node_modules/.bin/prism");
    assert!(
        bin.exists(),
        "{} is missing: run `make peers-install` (npm ci --prefix tests/peers)",
        bin.display()
    );
    bin
}

/// A script under `tests/peers/`.
pub fn peer_script(name: &str) -> PathBuf {
    workspace_root().join("tests/peers").join(name)
}

/// Runs a peer Python script; returns stdout, panics with stderr on failure.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(venv_python())
        .arg(peer_script(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A port that was free a moment ago on 127.0.0.1 (for peers that must be
/// told a port rather than handed a socket).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether something listens on `addr`. A connection to a local port with
/// no listener can succeed as a TCP self-connect (the kernel picks the same
/// port as the source): that is not a listener.
pub fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200))
        .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
}

/// Waits until `child` accepts TCP connections on `addr`: `false` if it
/// exited first (most likely the port, free a moment before, was taken in
/// between), so the caller can start it again on another port.
pub fn wait_for_port(addr: SocketAddr, child: &mut Child, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let listening = accepts(addr);
        // Checked after the connect too: another process may hold the port.
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if listening {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("peer did not listen on {addr} within {timeout:?}");
}

/// Starts the peer `spawn(port, stdout, stderr)` makes on a free port,
/// again on another port if it exits before listening (up to 3 tries);
/// returns it and the port.
fn start_on_free_port(
    what: &str,
    timeout: Duration,
    spawn: impl Fn(u16, Stdio, Stdio) -> Child,
) -> (Peer, u16) {
    let mut output = String::new();
    for _ in 0..3 {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let (out, err) = (log.reopen().unwrap(), log.reopen().unwrap());
        let mut child = spawn(port, out.into(), err.into());
        if wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            &mut child,
            timeout,
        ) {
            return (Peer { child, log }, port);
        }
        output = std::fs::read_to_string(log.path()).unwrap_or_default();
    }
    panic!("{what} exited before listening, three times; its last output:\n{output}");
}

/// A child process killed on drop. Its output is kept in a temporary file
/// and printed if the test failed, to tell what the peer saw.
pub struct Peer {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let output = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            eprintln!(
                "--- output of the peer (pid {}) ---\n{output}",
                self.child.id()
            );
        }
    }
}

/// Starts Prism serving PagerDuty's Events API v2 spec; returns its base URL.
pub fn start_prism() -> (Peer, String) {
    // Vendored in the repository (tests/data/README.md says from where), so
    // a clone with nothing beside it runs the tests.
    // This file is shared with the CLI's tests: found from the workspace root.
    let spec = workspace_root()
        .join("crates/treebeard-alerting/tests/data/pagerduty-events-v2.openapi.json");
    assert!(
        spec.exists(),
        "PagerDuty spec not found at {}",
        spec.display()
    );
    let (peer, port) = start_on_free_port("prism", Duration::from_secs(60), |port, out, err| {
        Command::new(prism())
            .args([
                "mock",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--errors",
            ])
            .arg(&spec)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap()
    });
    (peer, format!("http://127.0.0.1:{port}"))
}

/// Starts aiosmtpd writing into a Maildir at `dir`; returns its port.
pub fn start_aiosmtpd(dir: &Path) -> (Peer, u16) {
    start_on_free_port("aiosmtpd", Duration::from_secs(30), |port, out, err| {
        Command::new(venv_python())
            // Its output reaches the log even when it is killed.
            .env("PYTHONUNBUFFERED", "1")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(dir)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap()
    })
}
