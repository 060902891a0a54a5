//! DogStatsD end to end: the example API sends to a real UDP socket bound
//! by the test, and every datagram line must pass a strict DogStatsD
//! grammar; then the same against the real Etsy `statsd` server.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use treebeard_e2e::{ExampleApi, client};

/// One parsed DogStatsD line.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    name: String,
    values: Vec<f64>,
    kind: String,
    sample_rate: Option<f64>,
    tags: Vec<String>,
    timestamp: Option<u64>,
    container: Option<String>,
}

impl Line {
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(key)?.strip_prefix(':'))
    }

    fn has_tags(&self, tags: &[&str]) -> bool {
        tags.iter().all(|t| self.tags.iter().any(|have| have == t))
    }
}

/// Parses one line of the DogStatsD protocol (v1.0-v1.3):
/// `<name>:<value>[:<value>...]|<type>[|@<rate>][|#<tag>,<tag>][|T<unix ts>][|c:<container id>]`.
/// Rejects anything else, with the reason.
fn parse_line(line: &str) -> Result<Line, String> {
    let mut fields = line.split('|');
    let head = fields.next().ok_or("empty line")?;
    let (name, values) = head.split_once(':').ok_or("no ':' after the name")?;
    let name_ok = name.len() <= 200
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !name_ok {
        return Err(format!("invalid metric name {name:?}"));
    }
    let kind = fields.next().ok_or("no type")?.to_owned();
    if !["c", "g", "ms", "h", "d", "s"].contains(&kind.as_str()) {
        return Err(format!("invalid type {kind:?}"));
    }
    let values: Vec<&str> = values.split(':').collect();
    if values.len() > 1 && !["ms", "h", "d"].contains(&kind.as_str()) {
        return Err(format!("several values for type {kind}"));
    }
    let values = values
        .iter()
        .map(|v| {
            v.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && !v.is_empty() && !v.contains(['e', 'E', 'i', 'n']))
                .ok_or_else(|| format!("invalid value {v:?}"))
        })
        .collect::<Result<Vec<f64>, String>>()?;
    let mut parsed = Line {
        name: name.to_owned(),
        values,
        kind,
        sample_rate: None,
        tags: Vec::new(),
        timestamp: None,
        container: None,
    };
    let mut seen_tags = false;
    for field in fields {
        if let Some(rate) = field.strip_prefix('@') {
            let rate: f64 = rate.parse().map_err(|_| format!("invalid rate {rate:?}"))?;
            if !(rate > 0.0 && rate <= 1.0) || parsed.sample_rate.replace(rate).is_some() {
                return Err(format!("bad or repeated sample rate {rate}"));
            }
        } else if let Some(tags) = field.strip_prefix('#') {
            if std::mem::replace(&mut seen_tags, true) {
                return Err("repeated tags field".into());
            }
            for tag in tags.split(',') {
                let key = tag.split(':').next().unwrap_or("");
                if key.is_empty() || tag.contains(['#', ' ', '\t', '\r']) {
                    return Err(format!("invalid tag {tag:?}"));
                }
                parsed.tags.push(tag.to_owned());
            }
        } else if let Some(ts) = field.strip_prefix('T') {
            let ts = ts
                .parse()
                .map_err(|_| format!("invalid timestamp {ts:?}"))?;
            if parsed.timestamp.replace(ts).is_some() {
                return Err("repeated timestamp".into());
            }
        } else if let Some(id) = field.strip_prefix("c:") {
            if id.is_empty() || parsed.container.replace(id.to_owned()).is_some() {
                return Err("empty or repeated container id".into());
            }
        } else {
            return Err(format!("unknown field {field:?}"));
        }
    }
    Ok(parsed)
}

#[test]
fn the_grammar_parser_is_strict() {
    let ok = parse_line("a.b:1:2.5|d|@0.5|#k:v,bare|T1700000000|c:abc").unwrap();
    assert_eq!(ok.values, [1.0, 2.5]);
    assert_eq!(ok.sample_rate, Some(0.5));
    assert_eq!(ok.tags, ["k:v", "bare"]);
    for bad in [
        "a.b:1",
        "a.b:1|x",
        "a.b|c",
        "1ab:1|c",
        "a b:1|c",
        "a.b:1:2|c",
        "a.b:|c",
        "a.b:1|c|@2",
        "a.b:1|c|#",
        "a.b:1|c|#k:v,,x",
        "a.b:1|c|#a:b|#c:d",
        "a.b:1|c|zzz",
        "a.b:NaN|g",
        "a.b:1|c|#a b",
    ] {
        assert!(parse_line(bad).is_err(), "{bad} was accepted");
    }
}

/// Reads datagrams until `done` says the lines seen so far suffice (or the
/// deadline passes); every line must parse.
fn collect(socket: &UdpSocket, done: impl Fn(&[Line]) -> bool) -> (Vec<Line>, Vec<String>) {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 65536];
    // Once `done`, read a few more flushes, so over-counting would show.
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|t| Instant::now() < t) {
        if settle.is_none() && done(&lines) {
            settle = Some(Instant::now() + Duration::from_millis(500));
        }
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let datagram = std::str::from_utf8(&buf[..n]).expect("datagram is UTF-8");
        for line in datagram.split('\n').filter(|l| !l.is_empty()) {
            let parsed = parse_line(line).unwrap_or_else(|e| panic!("invalid line {line:?}: {e}"));
            lines.push(parsed);
            raw.push(line.to_owned());
        }
    }
    (lines, raw)
}

/// Sum of counter values of `name` with all `tags`.
fn count(lines: &[Line], name: &str, tags: &[&str]) -> f64 {
    lines
        .iter()
        .filter(|l| l.name == name && l.kind == "c" && l.has_tags(tags))
        .map(|l| l.values.iter().sum::<f64>())
        .sum()
}

/// Number of distribution values of `name` with all `tags` (scaled by rate).
fn points(lines: &[Line], name: &str, tags: &[&str]) -> f64 {
    lines
        .iter()
        .filter(|l| l.name == name && l.kind == "d" && l.has_tags(tags))
        .map(|l| l.values.len() as f64 / l.sample_rate.unwrap_or(1.0))
        .sum()
}

const CONSTANT_TAGS: &[&str] = &[
    "env:e2e",
    "service:metrics-e2e",
    "version:1.2.3",
    "team:core",
    "region:eu-1",
];

fn env_for(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("APM_PROVIDER", "none".into()),
        ("METRICS_BACKEND", "datadog".into()),
        ("DD_DOGSTATSD_URL", url.into()),
        ("METRICS_FLUSH_INTERVAL", "100ms".into()),
        ("DD_ENV", "e2e".into()),
        ("DD_SERVICE", "metrics-e2e".into()),
        ("DD_VERSION", "1.2.3".into()),
        ("DD_TAGS", "team:core,region:eu-1".into()),
    ]
}

fn start(env: &[(&'static str, String)]) -> ExampleApi {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ExampleApi::start(&env)
}

/// The requests every run sends, and what they must produce.
async fn drive(api: &ExampleApi) {
    let http = client();
    for (path, status) in [
        ("/users/1", 200),
        ("/users/2", 200),
        ("/users/1", 200),
        ("/users/2", 200),
        ("/users/3", 200),
        ("/users/999", 404),
        ("/no/such/path", 404),
        ("/demo/panic", 500),
        ("/demo/panic", 500),
        ("/users/1/recommendations", 200),
        ("/users/1/recommendations", 200),
    ] {
        let res = http.get(api.url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
    }
}

const REQUESTS: &str = "treebeard.api.requests";

#[tokio::test]
async fn dogstatsd_lines_are_valid_tagged_counted_and_free_of_raw_paths() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let url = format!("udp://{}", socket.local_addr().unwrap());
    let api = start(&env_for(&url));
    drive(&api).await;

    let users_ok = [
        "endpoint:/users/{id}",
        "method:GET",
        "status:200",
        "status_class:2xx",
    ];
    let (lines, raw) = collect(&socket, |lines| {
        count(lines, REQUESTS, &users_ok) >= 5.0
            && count(lines, REQUESTS, &["endpoint:/demo/panic"]) >= 2.0
            && count(lines, REQUESTS, &["endpoint:/internal/score"]) >= 1.0
            && points(lines, "treebeard.api.request.duration", &users_ok) >= 5.0
            && points(lines, "treebeard.database.query.duration", &[]) >= 8.0
            && count(lines, "treebeard.recommendations.generated", &[]) >= 1.0
            && lines.iter().any(|l| l.name == "treebeard.runtime.workers")
            && lines.iter().any(|l| l.name == "treebeard.cache.hit_rate")
    });

    // Every line carries the constant tags, and no raw path anywhere.
    for (line, text) in lines.iter().zip(&raw) {
        assert!(
            line.has_tags(CONSTANT_TAGS),
            "constant tags missing: {text}"
        );
        for path in ["/users/1", "/users/2", "/users/3", "/users/999", "/no/such"] {
            assert!(!text.contains(path), "raw path {path} in {text}");
        }
    }

    // Endpoint tags are route templates only: bounded cardinality.
    let templates = [
        "/users/{id}",
        "/users/{id}/recommendations",
        "/internal/score",
        "/demo/panic",
        "unmatched",
    ];
    for line in lines
        .iter()
        .filter(|l| l.name.starts_with("treebeard.api."))
    {
        let endpoint = line.tag("endpoint").expect("endpoint tag");
        assert!(templates.contains(&endpoint), "endpoint {endpoint}");
    }

    assert_eq!(count(&lines, REQUESTS, &users_ok), 5.0);
    assert_eq!(
        count(
            &lines,
            REQUESTS,
            &["endpoint:/users/{id}", "status:404", "status_class:4xx"]
        ),
        1.0
    );
    assert_eq!(
        count(&lines, REQUESTS, &["endpoint:unmatched", "status:404"]),
        1.0
    );
    let panics = [
        "endpoint:/demo/panic",
        "method:GET",
        "status:500",
        "status_class:5xx",
    ];
    assert_eq!(count(&lines, REQUESTS, &panics), 2.0);
    assert_eq!(count(&lines, "treebeard.api.errors", &panics), 2.0);
    assert_eq!(
        count(&lines, "treebeard.api.errors", &["status_class:2xx"]),
        0.0
    );
    assert_eq!(
        count(
            &lines,
            REQUESTS,
            &["endpoint:/users/{id}/recommendations", "status:200"]
        ),
        2.0
    );
    // The example calls its own scoring route once (the second list is cached).
    assert_eq!(
        count(
            &lines,
            REQUESTS,
            &["endpoint:/internal/score", "method:POST"]
        ),
        1.0
    );
    assert_eq!(
        points(&lines, "treebeard.api.request.duration", &users_ok),
        5.0
    );
    for line in lines
        .iter()
        .filter(|l| l.name == "treebeard.api.request.duration")
    {
        assert!(
            line.values.iter().all(|v| (0.0..5.0).contains(v)),
            "seconds: {line:?}"
        );
    }

    // Business metrics of the example.
    assert_eq!(
        count(
            &lines,
            "treebeard.recommendations.generated",
            &["profile_type:high-usage"]
        ),
        1.0
    );
    // Eight user lookups: five users, one unknown, two for recommendations.
    assert_eq!(
        points(
            &lines,
            "treebeard.database.query.duration",
            &["table:users"]
        ),
        8.0
    );
    let hit_rate = lines
        .iter()
        .rfind(|l| l.name == "treebeard.cache.hit_rate" && l.kind == "g")
        .expect("cache.hit_rate gauge");
    assert_eq!(hit_rate.values, [0.5]);

    // Resource and runtime gauges from the first sample.
    let gauges: HashMap<&str, f64> = lines
        .iter()
        .filter(|l| l.kind == "g")
        .map(|l| (l.name.as_str(), l.values[0]))
        .collect();
    assert!(gauges["treebeard.process.memory.rss"] > 1e6, "{gauges:?}");
    assert!(gauges["treebeard.process.open_fds"] >= 3.0);
    assert!(gauges["treebeard.process.threads"] >= 2.0);
    assert!(gauges["treebeard.runtime.workers"] >= 1.0);
    assert!(gauges.contains_key("treebeard.runtime.global_queue_depth"));
    assert!((0.0..=1.0).contains(&gauges["treebeard.runtime.busy_ratio"]));
    let memory_percent = gauges["treebeard.process.memory.percent"];
    assert!(memory_percent > 0.0 && memory_percent < 100.0);
}

#[tokio::test]
async fn exporter_telemetry_reports_packets_and_unix_targets_work() {
    // A Unix datagram socket, as the agent's dsd.socket.
    let dir = std::env::temp_dir().join(format!("tb-dsd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dsd.socket");
    let _ = std::fs::remove_file(&path);
    let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let api = start(&env_for(&format!("unix://{}", path.display())));
    drive(&api).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline
        && !(count(&lines, REQUESTS, &[]) >= 12.0
            && lines
                .iter()
                .any(|l| l.name == "datadog.dogstatsd.client.packets_sent"))
    {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        for line in std::str::from_utf8(&buf[..n]).unwrap().lines() {
            lines.push(parse_line(line).unwrap_or_else(|e| panic!("{line:?}: {e}")));
        }
    }
    assert_eq!(
        count(&lines, REQUESTS, &[]),
        12.0,
        "11 sent, plus the internal call"
    );
    let sent = lines
        .iter()
        .find(|l| l.name == "datadog.dogstatsd.client.packets_sent")
        .expect("exporter telemetry");
    assert!(
        sent.has_tags(CONSTANT_TAGS) && sent.has_tags(&["client_transport:uds"]),
        "{sent:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn nobody_listening_costs_requests_nothing() {
    // A port that was free a moment ago: datagrams to it are refused.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = start(&env_for(&format!("udp://127.0.0.1:{port}")));
    let http = client();
    let mut slowest = Duration::ZERO;
    let until = Instant::now() + Duration::from_millis(1500);
    let mut sent = 0;
    while Instant::now() < until {
        let t = Instant::now();
        let res = http.get(api.url("/users/1")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        slowest = slowest.max(t.elapsed());
        sent += 1;
    }
    assert!(sent > 20, "only {sent} requests in 1.5 s");
    assert!(
        slowest < Duration::from_millis(250),
        "slowest request {slowest:?}"
    );
}

/// The Etsy statsd server of `tests/peers`, on free ports, with its
/// management port.
struct Statsd {
    child: std::process::Child,
    port: u16,
    mgmt_port: u16,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Statsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Statsd {
    fn start() -> Self {
        let peers = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/node_modules/statsd");
        let stats_js = std::path::Path::new(peers).join("stats.js");
        assert!(
            stats_js.exists(),
            "{} is missing: run `make peers-install` (installs the pinned test peers)",
            stats_js.display()
        );
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mgmt_port = free_tcp_port();
        let dir = std::env::temp_dir().join(format!("tb-statsd-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.js");
        std::fs::write(
            &config,
            format!(
                r#"{{ address: "127.0.0.1", port: {port}, mgmt_address: "127.0.0.1", mgmt_port: {mgmt_port},
                   dumpMessages: true, flushInterval: 3600000, backends: ["./backends/console"] }}"#
            ),
        )
        .unwrap();
        let child = std::process::Command::new("node")
            .arg(&stats_js)
            .arg(&config)
            .current_dir(peers)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run node (Node.js is required for the statsd peer)");
        let statsd = Self {
            child,
            port,
            mgmt_port,
            _dir: TempDir(dir),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while statsd.admin("health").is_none() {
            assert!(Instant::now() < deadline, "statsd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        statsd
    }

    /// Sends one management command and returns the answer (up to `END`).
    fn admin(&self, command: &str) -> Option<String> {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.mgmt_port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(format!("{command}\n").as_bytes()).ok()?;
        let mut answer = String::new();
        for line in BufReader::new(stream).lines() {
            let line = line.ok()?;
            if line == "END" || line.starts_with("health:") {
                answer.push_str(&line);
                break;
            }
            answer.push_str(&line);
            answer.push('\n');
        }
        Some(answer)
    }

    /// The `stats` figure `name` (such as `bad_lines_seen`).
    fn stat(&self, name: &str) -> Option<f64> {
        let stats = self.admin("stats")?;
        stats.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim().ends_with(name))
                .then(|| value.trim().parse().ok())
                .flatten()
        })
    }
}

#[tokio::test]
async fn etsy_statsd_sees_no_bad_lines() {
    let statsd = Statsd::start();
    let mut env = env_for(&format!("udp://127.0.0.1:{}", statsd.port));
    // Plain StatsD rejects DogStatsD multi-value lines (`name:1:2|d`): one value per line.
    env.push(("METRICS_HISTOGRAM_RESERVOIR", "1".into()));
    let api = start(&env);
    drive(&api).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let counters = statsd.admin("counters").unwrap_or_default();
        if counters.contains("treebeard.api.requests")
            && counters.contains("treebeard.api.errors")
            && counters.contains("treebeard.recommendations.generated")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "statsd never counted our metrics: {counters}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let a few more flushes (telemetry, gauges, distributions) arrive.
    std::thread::sleep(Duration::from_millis(500));
    let counters = statsd.admin("counters").unwrap_or_default();
    let received: f64 = counters
        .lines()
        .find_map(|l| l.trim().strip_prefix("'statsd.metrics_received': "))
        .and_then(|n| n.trim_end_matches(',').parse().ok())
        .unwrap_or(0.0);
    assert!(received > 20.0, "statsd received only {received} lines");
    assert_eq!(
        statsd.stat("bad_lines_seen"),
        Some(0.0),
        "statsd rejected lines; counters:\n{counters}"
    );
    let gauges = statsd.admin("gauges").unwrap_or_default();
    assert!(gauges.contains("treebeard.runtime.workers"), "{gauges}");
}

#[tokio::test]
async fn dogstatsd_host_beats_the_agent_host_and_runtime_metrics_can_be_switched_off() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    let mut env: Vec<(&'static str, String)> = env_for("")
        .into_iter()
        .filter(|(k, _)| *k != "DD_DOGSTATSD_URL")
        .collect();
    env.extend([
        // The traces' agent, elsewhere: DogStatsD has a host of its own.
        ("DD_AGENT_HOST", "agent.invalid".to_owned()),
        ("DD_DOGSTATSD_HOST", "127.0.0.1".to_owned()),
        ("DD_DOGSTATSD_PORT", port),
        ("DD_RUNTIME_METRICS_ENABLED", "false".to_owned()),
    ]);
    let api = start(&env);
    drive(&api).await;
    let (lines, _) = collect(&socket, |lines| count(lines, REQUESTS, &[]) >= 12.0);
    assert!(count(&lines, REQUESTS, &[]) >= 12.0, "requests arrive");
    // The sampler's first sample is taken at start: none of its gauges came.
    let sampled: Vec<&str> = lines
        .iter()
        .map(|l| l.name.as_str())
        .filter(|n| n.starts_with("treebeard.runtime.") || n.starts_with("treebeard.process."))
        .collect();
    assert!(sampled.is_empty(), "{sampled:?}");
}

#[tokio::test]
async fn with_dd_entity_id_every_line_carries_the_pods_origin_tag() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let url = format!("udp://{}", socket.local_addr().unwrap());
    let mut env = env_for(&url);
    env.push((
        "DD_ENTITY_ID",
        "3d274242-8ee0-11e9-a8a6-1e68d864ef1a".to_owned(),
    ));
    let api = start(&env);
    drive(&api).await;
    let (lines, _) = collect(&socket, |lines| count(lines, REQUESTS, &[]) >= 12.0);
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            line.has_tags(&["dd.internal.entity_id:3d274242-8ee0-11e9-a8a6-1e68d864ef1a"]),
            "{line:?}"
        );
    }
}
