//! Test harness: runs the `example-api` binary as a real process on a port
//! the OS picks, collects its JSON log lines, and stops it.
//!
//! The binary is found next to the test executable (`target/<profile>/`);
//! `make test` builds it first (`cargo build -p example-api`).

pub mod peers;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub mod sentry_peers;

use serde_json::Value;

/// How long to wait for the process to start or for a log line.
pub const WAIT: Duration = Duration::from_secs(15);

/// Path of a workspace binary built next to the running test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build -p {name}` (`make test` does)",
        path.display()
    );
    path
}

#[derive(Default)]
struct Output {
    stdout: Vec<String>,
    stderr: Vec<String>,
    closed: usize,
}

/// A running (or finished) `example-api` process.
pub struct ExampleApi {
    child: Child,
    output: Arc<(Mutex<Output>, Condvar)>,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Runs `example-api` with only `env` (plus `HOST`/`PORT`) in its environment,
/// so variables of the machine running the tests cannot leak in.
fn spawn(env: &[(&str, &str)]) -> (Child, Arc<(Mutex<Output>, Condvar)>) {
    let mut cmd = Command::new(binary("example-api"));
    cmd.env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("RUST_BACKTRACE", "0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn example-api");
    let output = Arc::new((Mutex::new(Output::default()), Condvar::new()));
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    for (stream, is_stdout) in [
        (Box::new(stdout) as Box<dyn std::io::Read + Send>, true),
        (Box::new(stderr), false),
    ] {
        let output = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let (lock, cvar) = &*output;
                let mut out = lock.lock().unwrap();
                if is_stdout {
                    out.stdout.push(line)
                } else {
                    out.stderr.push(line)
                }
                cvar.notify_all();
            }
            let (lock, cvar) = &*output;
            lock.lock().unwrap().closed += 1;
            cvar.notify_all();
        });
    }
    (child, output)
}

impl ExampleApi {
    /// Starts the example and waits until it listens.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let (child, output) = spawn(env);
        let mut api = Self {
            child,
            output,
            addr: "127.0.0.1:1".parse().unwrap(),
        };
        let listening = api.wait_for_log(|l| l["message"] == "listening");
        api.addr = listening["address"].as_str().unwrap().parse().unwrap();
        api
    }

    /// Runs the example expecting it to exit by itself (bad configuration);
    /// returns its exit status, stdout and stderr.
    pub fn run_to_exit(env: &[(&str, &str)]) -> (ExitStatus, String, String) {
        let (mut child, output) = spawn(env);
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("example-api did not exit within {WAIT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (lock, cvar) = &*output;
        let out = cvar
            .wait_timeout_while(lock.lock().unwrap(), WAIT, |o| o.closed < 2)
            .unwrap()
            .0;
        (status, out.stdout.join("\n"), out.stderr.join("\n"))
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every stdout line so far, parsed; panics on a line that is not JSON.
    pub fn logs(&self) -> Vec<Value> {
        let out = self.output.0.lock().unwrap();
        out.stdout
            .iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// Raw stdout lines so far.
    pub fn raw_stdout(&self) -> String {
        self.output.0.lock().unwrap().stdout.join("\n")
    }

    /// Waits for a log line matching `pred`, returning it.
    pub fn wait_for_log(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let (lock, cvar) = &*self.output;
        let deadline = Instant::now() + WAIT;
        let mut out = lock.lock().unwrap();
        loop {
            if let Some(found) = out
                .stdout
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| pred(v))
            {
                return found;
            }
            let now = Instant::now();
            if now > deadline || out.closed == 2 {
                panic!(
                    "no matching log line within {WAIT:?}; stdout:\n{}\nstderr:\n{}",
                    out.stdout.join("\n"),
                    out.stderr.join("\n")
                );
            }
            out = cvar.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    /// The `request completed` line of the request with `request_id`.
    pub fn request_line(&self, request_id: &str) -> Value {
        self.wait_for_log(|l| l["message"] == "request completed" && l["request_id"] == request_id)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let (lock, cvar) = &*self.output;
                let _ = cvar.wait_timeout_while(lock.lock().unwrap(), WAIT, |o| o.closed < 2);
                return status;
            }
            assert!(Instant::now() < deadline, "example-api ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ExampleApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP client with a timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}
