//! `monitors plan|apply` and `dashboards plan|apply` against a local
//! DataDog API stand-in: ids on create, one 429, idempotent second run,
//! foreign objects untouched, a clear error on 403.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod fake_datadog;

use std::path::{Path, PathBuf};

use fake_datadog::GOOD_KEY;

fn config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infrastructure/alerting-config.yml")
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn treebeard(base: &str, key: &str, args: &[&str]) -> Run {
    treebeard_with(base, key, args, &[]).await
}

async fn treebeard_with(base: &str, key: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_treebeard"))
        .args(args)
        .env_clear()
        .env("DD_API_KEY", key)
        .env("DD_APP_KEY", "app-key")
        .env("DD_API_URL", base)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn monitors_apply_is_idempotent_and_leaves_foreign_monitors_alone() {
    let (base, store) = fake_datadog::start().await;
    let file = config();
    let file = file.to_str().unwrap();

    let plan = treebeard(&base, GOOD_KEY, &["monitors", "plan", "--file", file]).await;
    assert!(plan.ok, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout
            .contains("Plan: 11 to create, 0 to update, 1 to delete, 0 unchanged."),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("- delete monitor `Retired alert` (id 2)"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("Foreign"), "{}", plan.stdout);
    assert!(
        store.lock().unwrap().writes().is_empty(),
        "plan must not write"
    );

    let apply = treebeard(&base, GOOD_KEY, &["monitors", "apply", "--file", file]).await;
    assert!(apply.ok, "{}{}", apply.stdout, apply.stderr);
    assert!(
        apply
            .stdout
            .contains("Applied: 11 created, 0 updated, 1 deleted."),
        "{}",
        apply.stdout
    );
    {
        let s = store.lock().unwrap();
        assert!(s.sent_429, "the fake's 429 was retried");
        assert_eq!(s.monitors.len(), 12, "11 created + the foreign one");
        assert!(s.monitors.contains_key(&1), "foreign monitor untouched");
        assert!(
            !s.monitors.contains_key(&2),
            "retired owned monitor deleted"
        );
        assert!(s.writes().iter().all(|(_, path)| !path.ends_with("/1")));
    }

    let before = store.lock().unwrap().writes().len();
    let again = treebeard(&base, GOOD_KEY, &["monitors", "apply", "--file", file]).await;
    assert!(again.ok, "{}{}", again.stdout, again.stderr);
    assert!(
        again
            .stdout
            .contains("Plan: 0 to create, 0 to update, 0 to delete, 11 unchanged."),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("Nothing to do."));
    assert_eq!(
        store.lock().unwrap().writes().len(),
        before,
        "second apply changed something"
    );

    // One changed threshold is one update. (The copy's runbook names are
    // checked against docs/runbooks beside it: the repository's, linked.)
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/runbooks"),
        dir.path().join("docs/runbooks"),
    )
    .unwrap();
    let changed = dir.path().join("alerting-config.yml");
    let yaml = std::fs::read_to_string(config()).unwrap();
    std::fs::write(
        &changed,
        yaml.replace(
            "thresholds: { critical: 70, warning: 60 }",
            "thresholds: { critical: 75, warning: 60 }",
        ),
    )
    .unwrap();
    let plan = treebeard(
        &base,
        GOOD_KEY,
        &["monitors", "plan", "--file", changed.to_str().unwrap()],
    )
    .await;
    assert!(
        plan.stdout.contains("~ update monitor `CPU above 70%`"),
        "{}{}",
        plan.stdout,
        plan.stderr
    );
    assert!(
        plan.stdout
            .contains("Plan: 0 to create, 1 to update, 0 to delete, 10 unchanged."),
        "{}",
        plan.stdout
    );
}

/// The message of the stored monitor named `name`.
fn stored_message(store: &fake_datadog::Shared, name: &str) -> String {
    let s = store.lock().unwrap();
    let monitor = s
        .monitors
        .values()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no monitor `{name}`"));
    monitor["message"].as_str().unwrap().to_owned()
}

/// The shipped rules name their runbooks; the monitors sent to DataDog
/// link to them under `TREEBEARD_RUNBOOK_BASE_URL` (default: the path in
/// the repository), and changing the base updates every monitor.
#[tokio::test(flavor = "multi_thread")]
async fn runbook_links_in_monitor_messages_follow_the_base_url() {
    let (base, store) = fake_datadog::start().await;
    let file = config();
    let file = file.to_str().unwrap();
    let availability = "Availability below 99.9%";

    let apply = treebeard(&base, GOOD_KEY, &["monitors", "apply", "--file", file]).await;
    assert!(apply.ok, "{}{}", apply.stdout, apply.stderr);
    let message = stored_message(&store, availability);
    assert!(
        message.contains("\nRunbook: docs/runbooks/availability.md\n"),
        "{message}"
    );

    let repo = [(
        "TREEBEARD_RUNBOOK_BASE_URL",
        "https://git.example/ops/treebeard/blob/main/docs/runbooks/",
    )];
    let plan = treebeard_with(
        &base,
        GOOD_KEY,
        &["monitors", "plan", "--file", file],
        &repo,
    )
    .await;
    assert!(
        plan.stdout
            .contains("Plan: 0 to create, 11 to update, 0 to delete, 0 unchanged."),
        "{}{}",
        plan.stdout,
        plan.stderr
    );
    let apply = treebeard_with(
        &base,
        GOOD_KEY,
        &["monitors", "apply", "--file", file],
        &repo,
    )
    .await;
    assert!(apply.ok, "{}{}", apply.stdout, apply.stderr);
    let message = stored_message(&store, availability);
    assert!(
        message.contains(
            "\nRunbook: https://git.example/ops/treebeard/blob/main/docs/runbooks/availability.md\n"
        ),
        "{message}"
    );
    assert!(stored_message(&store, "Tracer dropping spans").contains(
        "Runbook: https://git.example/ops/treebeard/blob/main/docs/runbooks/tracer-spans-dropped.md"
    ));

    // A base with `{name}` (a docs site without the .md files' names).
    let site = [(
        "TREEBEARD_RUNBOOK_BASE_URL",
        "https://runbooks.example/treebeard/{name}",
    )];
    let render = treebeard_with(
        &base,
        GOOD_KEY,
        &["monitors", "render", "--file", file],
        &site,
    )
    .await;
    assert!(render.ok, "{}", render.stderr);
    assert!(
        render
            .stdout
            .contains("Runbook: https://runbooks.example/treebeard/availability\\n"),
        "{}",
        render.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboards_apply_is_idempotent_and_leaves_foreign_dashboards_alone() {
    let (base, store) = fake_datadog::start().await;
    let apply = treebeard(&base, GOOD_KEY, &["dashboards", "apply"]).await;
    assert!(apply.ok, "{}{}", apply.stdout, apply.stderr);
    assert!(
        apply
            .stdout
            .contains("Applied: 4 created, 0 updated, 0 deleted."),
        "{}",
        apply.stdout
    );
    {
        let s = store.lock().unwrap();
        assert_eq!(s.dashboards.len(), 5);
        assert_eq!(
            s.dashboards["for-eig-n01"]["description"],
            "someone else's copy"
        );
    }
    let before = store.lock().unwrap().writes().len();
    let again = treebeard(&base, GOOD_KEY, &["dashboards", "apply"]).await;
    assert!(
        again
            .stdout
            .contains("Plan: 0 to create, 0 to update, 0 to delete, 4 unchanged."),
        "{}",
        again.stdout
    );
    assert_eq!(store.lock().unwrap().writes().len(), before);

    // Another namespace changes every query, hence every revision.
    let plan = treebeard(
        &base,
        GOOD_KEY,
        &["dashboards", "plan", "--namespace", "acme"],
    )
    .await;
    assert!(
        plan.stdout
            .contains("Plan: 0 to create, 4 to update, 0 to delete, 0 unchanged."),
        "{}",
        plan.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_is_a_clear_error() {
    let (base, _) = fake_datadog::start().await;
    let run = treebeard(
        &base,
        "wrong",
        &["monitors", "plan", "--file", config().to_str().unwrap()],
    )
    .await;
    assert!(!run.ok);
    assert!(
        run.stderr.contains("DataDog refused the credentials (403"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("DD_API_KEY"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_keys_name_the_variable() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_treebeard"))
        .args(["dashboards", "plan"])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DD_API_KEY is not set"));
}
