//! Everything under `deploy/`: the Dockerfile passes `hadolint`, the
//! Kubernetes manifests `kubernetes-validate --strict`, the Compose file the
//! Compose Specification's JSON schema (`check-jsonschema`, which vendors
//! it with its licence), and all of the YAML `yamllint -d relaxed` (all from
//! the test peers' venv: `make peers-install`). Each validator is also shown
//! to reject a broken copy, so a passing run means something. Then what the
//! validators cannot know: the API key is never literal, the app and the
//! agent share the socket directory, the app waits for a healthy agent, the
//! image's health check really answers on `/health`, and the grace periods
//! outlast the flush budget of `crates/treebeard`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../treebeard-alerting/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_yaml_ng::Value;

/// The Helm chart's values: YAML, but not a Kubernetes object.
const HELM_VALUES: &str = "datadog-values.yaml";

fn deploy_dir() -> PathBuf {
    common::workspace_root().join("deploy")
}

fn files_in(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| extensions.iter().any(|x| e == *x))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {extensions:?} in {}", dir.display());
    files
}

/// The Kubernetes objects: `deploy/kubernetes/*.yaml` but the Helm values.
fn manifests() -> Vec<PathBuf> {
    files_in(&deploy_dir().join("kubernetes"), &["yaml"])
        .into_iter()
        .filter(|p| !p.ends_with(HELM_VALUES))
        .collect()
}

/// Every YAML file under `deploy/` (Compose, manifests, Helm values).
fn all_yaml() -> Vec<PathBuf> {
    let mut files = files_in(&deploy_dir(), &["yaml", "yml"]);
    files.extend(files_in(&deploy_dir().join("kubernetes"), &["yaml", "yml"]));
    files
}

/// Runs a tool of the venv on `files`.
fn run(tool: &str, args: &[&str], files: &[PathBuf]) -> Output {
    let bin = common::venv_python().with_file_name(tool);
    assert!(
        bin.exists(),
        "{} is missing: run `make peers-install` (tests/peers/requirements.txt pins it)",
        bin.display()
    );
    std::process::Command::new(&bin)
        .args(args)
        .args(files)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a tool of the venv on `files`; fails with its output.
fn check(tool: &str, args: &[&str], files: &[PathBuf]) {
    let out = run(tool, args, files);
    assert!(out.status.success(), "{tool} failed:\n{}", text(&out));
}

const HADOLINT: (&str, &[&str]) = ("hadolint", &["--failure-threshold", "warning"]);
const KUBERNETES_VALIDATE: (&str, &[&str]) = ("kubernetes-validate", &["--strict", "--quiet"]);
const COMPOSE_SCHEMA: (&str, &[&str]) = (
    "check-jsonschema",
    &["--builtin-schema", "vendor.compose-spec"],
);
const YAMLLINT: (&str, &[&str]) = ("yamllint", &["-d", "relaxed", "--strict"]);

#[test]
fn deploy_yaml_passes_yamllint() {
    check(YAMLLINT.0, YAMLLINT.1, &all_yaml());
}

#[test]
fn manifests_pass_kubernetes_validate_strict() {
    check(KUBERNETES_VALIDATE.0, KUBERNETES_VALIDATE.1, &manifests());
}

/// `--failure-threshold warning` is stricter than the `error` of PEERS.md:
/// the Dockerfile has no warnings either.
#[test]
fn dockerfile_passes_hadolint_at_warning_level() {
    check(HADOLINT.0, HADOLINT.1, &[deploy_dir().join("Dockerfile")]);
}

#[test]
fn compose_file_matches_the_compose_spec_schema() {
    check(
        COMPOSE_SCHEMA.0,
        COMPOSE_SCHEMA.1,
        &[deploy_dir().join("docker-compose.yml")],
    );
}

/// Writes `original` with `from` replaced by `to` into `dir`, under `name`.
fn broken_copy(dir: &Path, original: &str, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(deploy_dir().join(original)).unwrap();
    assert!(text.contains(from), "{original} no longer has {from:?}");
    let path = dir.join(name);
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path
}

/// Each validator above fails on a copy with one realistic mistake, so its
/// passing on the real files is evidence.
#[test]
fn the_validators_reject_broken_copies() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // COPY of two sources into a destination without a trailing slash.
        (
            HADOLINT,
            broken_copy(
                dir.path(),
                "Dockerfile",
                "Dockerfile",
                "COPY --from=builder /out/example-api /usr/local/bin/example-api",
                "COPY --from=builder /out/example-api /out/x /usr/local/bin",
            ),
            "DL3021",
        ),
        // An unpinned base image is only a warning: the warning threshold
        // catches it.
        (
            HADOLINT,
            broken_copy(
                dir.path(),
                "Dockerfile",
                "Dockerfile.latest",
                "FROM debian:bookworm-slim",
                "FROM debian",
            ),
            "DL3006",
        ),
        (
            KUBERNETES_VALIDATE,
            broken_copy(
                dir.path(),
                "kubernetes/example-api.yaml",
                "example-api.yaml",
                "terminationGracePeriodSeconds:",
                "terminationGracePeriod:",
            ),
            "terminationGracePeriod",
        ),
        (
            COMPOSE_SCHEMA,
            broken_copy(
                dir.path(),
                "docker-compose.yml",
                "docker-compose.yml",
                "stop_grace_period:",
                "stop_grace_peroid:",
            ),
            "stop_grace_peroid",
        ),
        (
            YAMLLINT,
            broken_copy(
                dir.path(),
                "kubernetes/datadog-values.yaml",
                "datadog-values.yaml",
                "  site: datadoghq.com",
                "  site: datadoghq.com\n  site: datadoghq.eu",
            ),
            "duplication of key",
        ),
    ];
    for ((tool, args), file, expected) in cases {
        let out = run(tool, args, std::slice::from_ref(&file));
        let output = text(&out);
        assert!(
            !out.status.success() && output.contains(expected),
            "{tool} accepted {} or did not name {expected:?}:\n{output}",
            file.display()
        );
    }
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(deploy_dir().join(path)).unwrap();
    let mut value: Value = serde_yaml_ng::from_str(&text).unwrap();
    value.apply_merge().unwrap();
    value
}

fn yaml_documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy_dir().join(path)).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect()
}

/// `value[a][b]...` as a string, with a message naming the path if absent.
fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut v = value;
    for key in path {
        v = v
            .get(*key)
            .unwrap_or_else(|| panic!("no {path:?} (stopped at {key:?})"));
    }
    v.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string: {v:?}"))
}

fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    let mut v = value;
    for key in path {
        v = v
            .get(*key)
            .unwrap_or_else(|| panic!("no {path:?} (stopped at {key:?})"));
    }
    v
}

/// The flush budget of the monitoring guard, read from the source so the
/// deployment files cannot fall behind it.
fn shutdown_budget() -> Duration {
    let init =
        std::fs::read_to_string(common::workspace_root().join("crates/treebeard/src/init.rs"))
            .unwrap();
    let marker = "pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(";
    let start = init.find(marker).expect("DEFAULT_SHUTDOWN_TIMEOUT moved") + marker.len();
    let secs: String = init[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Duration::from_secs(secs.parse().unwrap())
}

/// "15s", "1m30s", "500ms" as Compose writes durations (only what we use).
fn compose_duration(s: &str) -> Duration {
    humantime::parse_duration(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn compose_keeps_the_key_out_and_shares_the_agent_sockets() {
    let compose = yaml("docker-compose.yml");
    let services = at(&compose, &["services"]);
    let agent = at(services, &["datadog-agent"]);
    assert_eq!(str_at(agent, &["image"]), "datadog/agent:7");

    // No secret is written in the file: each is a required or empty
    // interpolation from the environment.
    let api_key = str_at(agent, &["environment", "DD_API_KEY"]);
    assert!(api_key.starts_with("${DD_API_KEY:?"), "{api_key}");
    for (name, service) in services.as_mapping().unwrap() {
        for (var, value) in at(service, &["environment"]).as_mapping().unwrap() {
            let var = var.as_str().unwrap();
            if var.ends_with("_KEY") || var.ends_with("_DSN") || var.ends_with("TOKEN") {
                let value = value.as_str().unwrap_or_default();
                assert!(
                    value.starts_with(&format!("${{{var}")),
                    "{name:?}: {var} must come from the environment, not {value:?}"
                );
            }
        }
    }

    for (var, value) in [
        ("DD_APM_ENABLED", "true"),
        ("DD_APM_NON_LOCAL_TRAFFIC", "true"),
        ("DD_DOGSTATSD_NON_LOCAL_TRAFFIC", "true"),
    ] {
        assert_eq!(str_at(agent, &["environment", var]), value, "{var}");
    }

    // The agent creates its sockets in a named volume ...
    let agent_apm = str_at(agent, &["environment", "DD_APM_RECEIVER_SOCKET"]);
    let agent_dsd = str_at(agent, &["environment", "DD_DOGSTATSD_SOCKET"]);
    let socket_dir = Path::new(agent_apm).parent().unwrap();
    assert_eq!(Path::new(agent_dsd).parent().unwrap(), socket_dir);
    let mount_of = |service: &Value| -> String {
        at(service, &["volumes"])
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .find_map(|m| {
                let mut parts = m.split(':');
                let (source, target) = (parts.next()?, parts.next()?);
                (Path::new(target) == socket_dir).then(|| source.to_owned())
            })
            .unwrap_or_else(|| panic!("{} is not mounted in {service:?}", socket_dir.display()))
    };
    let volume = mount_of(agent);
    assert!(
        at(&compose, &["volumes"]).get(&volume).is_some(),
        "{volume} is not a named volume"
    );

    // ... that each app mounts at the same path and points its URLs into.
    for name in ["example-api", "scorer"] {
        let app = at(services, &[name]);
        assert_eq!(mount_of(app), volume, "{name}");
        assert_eq!(
            str_at(app, &["environment", "DD_TRACE_AGENT_URL"]),
            format!("unix://{agent_apm}"),
            "{name}"
        );
        assert_eq!(
            str_at(app, &["environment", "DD_DOGSTATSD_URL"]),
            format!("unix://{agent_dsd}"),
            "{name}"
        );
        assert_eq!(
            str_at(app, &["depends_on", "datadog-agent", "condition"]),
            "service_healthy",
            "{name} must wait for the agent's sockets"
        );
        let grace = compose_duration(str_at(app, &["stop_grace_period"]));
        assert!(grace > shutdown_budget(), "{name}: {grace:?}");
        assert_eq!(str_at(app, &["build", "dockerfile"]), "deploy/Dockerfile");
    }

    // The API calls the stand-in scorer once it answers.
    let api = at(services, &["example-api"]);
    assert_eq!(
        str_at(api, &["environment", "RECOMMENDER_URL"]),
        "http://scorer:8080/internal/score"
    );
    assert_eq!(
        str_at(api, &["depends_on", "scorer", "condition"]),
        "service_healthy"
    );

    // "healthy" needs a health check: the agent's here, the apps' in the
    // image (checked below).
    assert!(at(agent, &["healthcheck", "test"]).as_sequence().is_some());
}

fn dockerfile() -> String {
    std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap()
}

/// The exec-form command of the Dockerfile's `HEALTHCHECK ... CMD [..]`.
fn healthcheck_command() -> Vec<String> {
    let text = dockerfile().replace("\\\n", " ");
    let line = text
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("the Dockerfile has no HEALTHCHECK");
    let json = &line[line.find("CMD [").expect("not an exec-form CMD") + 4..];
    serde_json::from_str(json.trim()).unwrap()
}

#[test]
fn dockerfile_has_tags_signal_user_and_healthcheck() {
    let text = dockerfile();
    for label in [
        "com.datadoghq.tags.service=\"example-api\"",
        "com.datadoghq.tags.env=",
        "com.datadoghq.tags.version=\"${VERSION}\"",
    ] {
        assert!(text.contains(label), "no label {label}");
    }
    assert!(text.lines().any(|l| l == "STOPSIGNAL SIGTERM"));
    let user = text
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("no USER: the image would run as root");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    assert!(text.contains("cargo build --release --locked -p example-api --bin example-api"));
    assert!(text.contains("ENTRYPOINT [\"/usr/local/bin/example-api\"]"));
    // The example binds HOST:PORT (examples/src/settings.rs); its default
    // host is loopback, unreachable from outside a container.
    assert!(text.contains("HOST=0.0.0.0") && text.contains("PORT=8080"));
    assert!(healthcheck_command().join(" ").contains("/health"));
}

/// Serves `/health` with `status` on a free loopback port.
async fn health_server(status: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || async move {
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                "{\"status\":\"ok\"}",
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn run_healthcheck(port: u16) -> bool {
    let command = healthcheck_command();
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(&command[0])
            .args(&command[1..])
            .env_clear()
            .env("PORT", port.to_string())
            .output(),
    )
    .await
    .expect("the health check hung")
    .unwrap();
    out.status.success()
}

/// The image's health check, run as Docker would (exec form, `PORT` from
/// the image's environment) against a real HTTP server: healthy on 200,
/// unhealthy on 503 and when nothing listens.
#[tokio::test]
async fn the_image_healthcheck_passes_on_200_only() {
    let ok = health_server(200).await;
    assert!(run_healthcheck(ok).await, "200 on /health was unhealthy");
    let failing = health_server(503).await;
    assert!(!run_healthcheck(failing).await, "503 was healthy");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    assert!(!run_healthcheck(closed).await, "a closed port was healthy");
}

#[test]
fn the_deployment_reaches_the_node_agent_and_outlasts_the_flush() {
    let docs = yaml_documents("kubernetes/example-api.yaml");
    let deployment = docs
        .iter()
        .find(|d| d.get("kind").and_then(Value::as_str) == Some("Deployment"))
        .expect("no Deployment");
    let service = docs
        .iter()
        .find(|d| d.get("kind").and_then(Value::as_str) == Some("Service"))
        .expect("no Service");
    let pod = at(deployment, &["spec", "template"]);
    for tag in ["env", "service", "version"] {
        let label = format!("tags.datadoghq.com/{tag}");
        for labels in [
            at(deployment, &["metadata", "labels"]),
            at(pod, &["metadata", "labels"]),
        ] {
            assert!(labels.get(&label).is_some(), "no label {label}");
        }
    }
    let container = &at(pod, &["spec", "containers"]).as_sequence().unwrap()[0];
    let env = at(container, &["env"]).as_sequence().unwrap();
    let field_ref = |name: &str| -> &str {
        let var = env
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no {name}"));
        str_at(var, &["valueFrom", "fieldRef", "fieldPath"])
    };
    assert_eq!(field_ref("DD_AGENT_HOST"), "status.hostIP");
    assert_eq!(field_ref("DD_ENTITY_ID"), "metadata.uid");
    assert_eq!(
        field_ref("DD_SERVICE"),
        "metadata.labels['tags.datadoghq.com/service']"
    );

    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(str_at(container, &[probe, "httpGet", "path"]), "/health");
    }
    for kind in ["requests", "limits"] {
        assert!(at(container, &["resources", kind, "memory"]).is_string());
    }
    assert!(at(container, &["resources", "requests", "cpu"]).is_string());

    let grace = at(pod, &["spec", "terminationGracePeriodSeconds"])
        .as_u64()
        .unwrap();
    let pre_stop = at(container, &["lifecycle", "preStop", "sleep", "seconds"])
        .as_u64()
        .unwrap();
    let budget = shutdown_budget();
    assert!(
        Duration::from_secs(grace) > budget + Duration::from_secs(pre_stop),
        "{grace} s must outlast the {pre_stop} s preStop pause and the {budget:?} flush"
    );
    let text = std::fs::read_to_string(deploy_dir().join("kubernetes/example-api.yaml")).unwrap();
    assert!(
        text.contains(&format!("within {} s", budget.as_secs())),
        "the comment must state the flush budget"
    );

    assert_eq!(
        str_at(service, &["spec", "selector", "app.kubernetes.io/name"]),
        str_at(pod, &["metadata", "labels", "app.kubernetes.io/name"])
    );
}

#[test]
fn the_helm_values_read_the_key_from_a_secret_and_open_the_sockets() {
    let values = yaml("kubernetes/datadog-values.yaml");
    let datadog = at(&values, &["datadog"]);
    assert!(datadog.get("apiKey").is_none(), "the API key is written in");
    assert!(str_at(datadog, &["apiKeyExistingSecret"]).len() > 1);
    assert_eq!(at(datadog, &["logs", "enabled"]), &Value::Bool(true));
    assert_eq!(at(datadog, &["apm", "portEnabled"]), &Value::Bool(true));
    assert_eq!(at(datadog, &["apm", "socketEnabled"]), &Value::Bool(true));
    assert_eq!(
        at(datadog, &["dogstatsd", "useHostPort"]),
        &Value::Bool(true)
    );
    assert_eq!(
        at(datadog, &["dogstatsd", "useSocketVolume"]),
        &Value::Bool(true)
    );
    // The same socket paths as the Compose file, so one set of app
    // settings (docs/deployment.md) works in both.
    let compose = yaml("docker-compose.yml");
    let agent_env = at(&compose, &["services", "datadog-agent", "environment"]);
    assert_eq!(
        str_at(datadog, &["apm", "socketPath"]),
        str_at(agent_env, &["DD_APM_RECEIVER_SOCKET"])
    );
    assert_eq!(
        str_at(datadog, &["dogstatsd", "socketPath"]),
        str_at(agent_env, &["DD_DOGSTATSD_SOCKET"])
    );
}

#[test]
fn the_digest_cronjobs_run_daily_and_on_mondays() {
    let text = std::fs::read_to_string(
        common::workspace_root().join("deploy/kubernetes/alert-digest-cronjob.yaml"),
    )
    .unwrap();
    assert!(text.contains("schedule: \"0 7 * * *\""), "{text}");
    assert!(text.contains("schedule: \"0 7 * * 1\""), "{text}");
    for period in ["daily", "weekly"] {
        assert!(
            text.contains(&format!("- --period\n                - {period}")),
            "{text}"
        );
    }
}
