//! Sentry peers: the Spotlight sidecar (a real Sentry envelope receiver)
//! and Sentry's own event normaliser (`sentry-relay`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn require(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing ({what}): run `make peers-install`",
        path.display()
    );
    path
}

/// A running Spotlight sidecar writing what it receives to a file.
pub struct Spotlight {
    child: Child,
    out: PathBuf,
    _dir: TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Spotlight {
    /// Starts it on a port the OS picks.
    pub fn start() -> Self {
        let peers = workspace_root().join("tests/peers");
        require(
            peers.join("node_modules/@spotlightjs/spotlight"),
            "npm peers in tests/peers/node_modules",
        );
        let dir = TempDir::new();
        let out = dir.0.join("envelopes.jsonl");
        let mut child = Command::new("node")
            .arg(peers.join("spotlight.mjs"))
            .arg(&out)
            .current_dir(&peers)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run node");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(start) = line.find("{\"port\":") {
                    let end = line[start..].find('}').unwrap() + start + 1;
                    let v: Value = serde_json::from_str(&line[start..end]).unwrap();
                    let _ = tx.send(v["port"].as_u64().unwrap() as u16);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("Spotlight did not report its port");
        Self {
            child,
            out,
            _dir: dir,
            port,
        }
    }

    /// The DSN to give the example: the sidecar's envelope endpoint.
    pub fn dsn(&self) -> String {
        format!("http://public@127.0.0.1:{}/0", self.port)
    }

    /// Every event item received so far.
    pub fn events(&self) -> Vec<Value> {
        self.items("event")
    }

    /// Every item of type `ty` (`event`, `transaction`, ...) received so far.
    pub fn items(&self, ty: &str) -> Vec<Value> {
        let Ok(text) = std::fs::read_to_string(&self.out) else {
            return Vec::new();
        };
        let mut items = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let envelope: String = serde_json::from_str(line).unwrap();
            items.extend(parse_items(&envelope, ty));
        }
        items
    }

    /// Waits until `pred` holds for the events received, returning them.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.wait_for_items("event", what, pred)
    }

    /// Waits until `pred` holds for the items of type `ty` received,
    /// returning them.
    pub fn wait_for_items(
        &self,
        ty: &str,
        what: &str,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let items = self.items(ty);
            if pred(&items) {
                return items;
            }
            assert!(
                Instant::now() < deadline,
                "Spotlight never got {what}; {ty} items: {items:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Spotlight {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The items of type `ty` of an envelope (header line, then item header
/// and payload lines; payloads here are single-line JSON).
pub fn parse_items(envelope: &str, ty: &str) -> Vec<Value> {
    let mut lines = envelope.lines().skip(1);
    let mut items = Vec::new();
    while let Some(header) = lines.next() {
        if header.trim().is_empty() {
            continue;
        }
        let header: Value = serde_json::from_str(header).unwrap();
        let Some(payload) = lines.next() else { break };
        if header["type"] == ty {
            items.push(serde_json::from_str(payload).unwrap());
        }
    }
    items
}

/// Runs `sentry-relay`'s `StoreNormalizer` over `events`: the errors it
/// reports, one list per event.
pub fn normalizer_errors(events: &[Value]) -> Vec<Value> {
    let python = require(
        workspace_root().join(".venv/bin/python"),
        "the Python peers venv",
    );
    let mut child = Command::new(python)
        .arg(workspace_root().join("tests/peers/validate_sentry.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for event in events {
            writeln!(stdin, "{event}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "validate_sentry.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["errors"].clone())
        .collect()
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("treebeard-spotlight-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
