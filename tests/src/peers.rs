//! Real third-party peers the tests talk to, installed by `make peers-install`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A program of the peers' venv, or a failing test that says how to get it.
pub fn venv_bin(name: &str) -> PathBuf {
    let path = workspace_root().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make peers-install`",
        path.display()
    );
    path
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// DataDog's APM test agent (`ddapm-test-agent`), on free ports, with its
/// trace checks on. One per test, so no test sees another's traces.
pub struct TestAgent {
    child: Option<Child>,
    /// Trace port.
    pub port: u16,
    /// OTLP/HTTP port.
    pub otlp_port: u16,
    grpc_port: u16,
    snapshots: PathBuf,
    /// Also listens for traces on this Unix socket, when set.
    uds: Option<PathBuf>,
}

impl TestAgent {
    /// Starts an agent and waits until `/info` answers.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// Starts an agent that also takes traces on a Unix socket (see
    /// [`Self::uds_url`]); its HTTP port still answers the test queries.
    pub fn start_with_uds() -> Self {
        let agent = Self::launch(true);
        let deadline = Instant::now() + Duration::from_secs(30);
        while agent.uds.as_ref().is_some_and(|p| !p.exists()) {
            assert!(Instant::now() < deadline, "ddapm-test-agent made no socket");
            std::thread::sleep(Duration::from_millis(100));
        }
        agent
    }

    fn launch(with_uds: bool) -> Self {
        let snapshots = std::env::temp_dir().join(format!(
            "treebeard-agent-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&snapshots).unwrap();
        let mut agent = Self {
            child: None,
            port: free_port(),
            otlp_port: free_port(),
            grpc_port: free_port(),
            uds: with_uds.then(|| snapshots.join("apm.socket")),
            snapshots,
        };
        agent.spawn_retrying(true);
        agent
    }

    /// `unix://<socket path>`, for an agent from [`Self::start_with_uds`].
    pub fn uds_url(&self) -> Option<String> {
        self.uds.as_ref().map(|p| format!("unix://{}", p.display()))
    }

    /// Starts the agent process. A port picked by [`free_port`] can be
    /// taken before the agent binds it (an outgoing connection may get it
    /// as its local port): when the agent exits early, it is started again,
    /// on fresh ports if `may_move`, else on the same ones.
    fn spawn(&mut self) {
        self.spawn_retrying(false);
    }

    fn spawn_retrying(&mut self, may_move: bool) {
        let log = self.snapshots.join("agent.log");
        for attempt in 1..=5 {
            if self.try_spawn(&log) {
                return;
            }
            if may_move {
                self.port = free_port();
                self.otlp_port = free_port();
                self.grpc_port = free_port();
            }
            std::thread::sleep(Duration::from_millis(200 * attempt));
        }
        panic!(
            "ddapm-test-agent did not start; its last output:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// One start; false when the process exited before listening.
    fn try_spawn(&mut self, log: &std::path::Path) -> bool {
        let output = std::fs::File::create(log).unwrap();
        let mut child = Command::new(venv_bin("ddapm-test-agent"))
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--otlp-http-port",
                &self.otlp_port.to_string(),
                "--otlp-grpc-port",
                &self.grpc_port.to_string(),
            ])
            .arg("--snapshot-dir")
            .arg(&self.snapshots)
            .args(
                self.uds
                    .iter()
                    .flat_map(|p| [std::ffi::OsStr::new("--trace-uds-socket"), p.as_os_str()]),
            )
            // These two make it forward everything it receives to that
            // agent, which must never be itself or a real one.
            .env_remove("DD_TRACE_AGENT_URL")
            .env_remove("DD_AGENT_URL")
            // Its --enabled-checks flag does not parse: the variable does.
            .env(
                "ENABLED_CHECKS",
                "trace_count_header,meta_tracer_version_header,trace_content_length",
            )
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .expect("start ddapm-test-agent");
        let deadline = Instant::now() + Duration::from_secs(30);
        // A connect to a port nobody listens on can succeed as a TCP
        // self-connect (source port = destination port): not the agent.
        let listening = |port: u16| {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
        };
        while !listening(self.port) {
            if child.try_wait().ok().flatten().is_some() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "ddapm-test-agent did not start in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child = Some(child);
        true
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the agent (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Every trace received so far: a list of traces, each a list of spans.
    /// Panics when the agent's checks failed (it answers 400 then).
    pub async fn traces(&self) -> Vec<Vec<Value>> {
        let res = reqwest::get(format!("{}/test/session/traces", self.url()))
            .await
            .unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert!(
            status.is_success(),
            "test agent rejected the traces ({status}): {body}"
        );
        serde_json::from_str(&body).unwrap()
    }

    /// Makes the agent answer trace payloads with these sampling rates, as
    /// a real agent's `rate_by_service` (`{"service:a,env:b": 0.5}`).
    pub async fn set_rates(&self, rates: &serde_json::Value) {
        let encoded: String = rates
            .to_string()
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let url = format!(
            "{}/test/session/start?agent_sample_rate_by_service={encoded}",
            self.url()
        );
        let res = reqwest::get(url).await.unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    }

    /// Raw requests received so far (with their headers).
    pub async fn requests(&self) -> Vec<Value> {
        reqwest::get(format!("{}/test/session/requests", self.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until the spans of trace `trace_id` satisfy `done`, returning them.
    pub async fn wait_for_trace(
        &self,
        trace_id: u64,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        self.wait_for_spans(|s| s["trace_id"].as_u64() == Some(trace_id), done)
            .await
    }

    /// Waits until the spans matching `filter` satisfy `done`, returning them.
    pub async fn wait_for_spans(
        &self,
        filter: impl Fn(&Value) -> bool,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans: Vec<Value> = self
                .traces()
                .await
                .into_iter()
                .flatten()
                .filter(|s| filter(s))
                .collect();
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "spans did not arrive in time; have: {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.snapshots);
    }
}

/// The span of `spans` named `name` with `resource`, or a panic listing them.
pub fn span<'a>(spans: &'a [Value], name: &str, resource: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name && s["resource"] == resource)
        .unwrap_or_else(|| panic!("no span {name} / {resource} in {spans:#?}"))
}
