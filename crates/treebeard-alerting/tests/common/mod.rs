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

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, child: &mut Child, timeout: Duration) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("peer exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("peer did not listen on {addr} within {timeout:?}");
}

/// A child process killed on drop.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Prism serving PagerDuty's Events API v2 spec; returns its base URL.
pub fn start_prism() -> (Peer, String) {
    // shared/ sits beside the repository (worktrees and CI clones alike).
    let spec = workspace_root().join("../shared/reference/pagerduty-events-v2.openapi.json");
    assert!(
        spec.exists(),
        "PagerDuty spec not found at {}",
        spec.display()
    );
    let port = free_port();
    let mut child = Command::new(prism())
        .args([
            "mock",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--errors",
        ])
        .arg(&spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(
        SocketAddr::from(([127, 0, 0, 1], port)),
        &mut child,
        Duration::from_secs(60),
    );
    (Peer(child), format!("http://127.0.0.1:{port}"))
}

/// Starts aiosmtpd writing into a Maildir at `dir`; returns its port.
pub fn start_aiosmtpd(dir: &Path) -> (Peer, u16) {
    let port = free_port();
    let mut child = Command::new(venv_python())
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
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(
        SocketAddr::from(([127, 0, 0, 1], port)),
        &mut child,
        Duration::from_secs(30),
    );
    (Peer(child), port)
}
