//! The architecture rules of this repository's crates, checked on their
//! sources: no cycle between modules, no forbidden edge between module
//! groups, and `docs/architecture/<crate>.mmd` up to date.
//!
//! The rules are the data table below: to permit an edge, add an
//! [`Allowed`] to the crate's `allowed` with the reason; to forbid one, name
//! the groups in `groups` and add a [`Forbidden`]. With
//! `TREEBEARD_ARCH_BLESS=1` (`make architecture`) the diagrams are written
//! instead of compared.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::fs;
use std::path::{Path, PathBuf};

use treebeard_arch::{Allowed, Forbidden, Group, Rules, check, mermaid, parse_crate};

/// One checked crate: where its sources are and the rules they obey.
struct Checked {
    /// The crate's directory, relative to the repository root; the diagram
    /// is `docs/architecture/<file name of dir>.mmd`.
    dir: &'static str,
    rules: Rules<'static>,
}

// ---------------------------------------------------------------------------
// The rules. Module names are paths below the crate root (`apm::native`),
// the root itself is `crate`; group prefixes take a module and everything
// inside it.
// ---------------------------------------------------------------------------

const PII: Checked = Checked {
    dir: "crates/treebeard-pii",
    rules: Rules {
        groups: &[],
        forbidden: &[],
        allowed: &[
            Allowed {
                from: "crate",
                to: "builder",
                reason: "the crate root re-exports the public API",
            },
            Allowed {
                from: "crate",
                to: "scrubber",
                reason: "the crate root re-exports the public API",
            },
            Allowed {
                from: "scrubber",
                to: "builder",
                reason: "`Scrubber::builder()` is the way in to the builder that makes a Scrubber",
            },
        ],
    },
};

const ALERTING: Checked = Checked {
    dir: "crates/treebeard-alerting",
    rules: Rules {
        groups: &[
            Group {
                name: "support",
                prefixes: &["env", "retry", "query", "metrics"],
            },
            Group {
                name: "model",
                prefixes: &["rules", "routing", "validate"],
            },
            Group {
                name: "notify",
                prefixes: &["notify"],
            },
            Group {
                name: "datadog",
                prefixes: &["monitors", "dashboards", "datadog_api", "sync"],
            },
            Group {
                name: "digest",
                prefixes: &["digest"],
            },
        ],
        forbidden: &[
            Forbidden {
                from: "support",
                to: "model",
                why: SUPPORT_IS_A_LEAF,
            },
            Forbidden {
                from: "support",
                to: "notify",
                why: SUPPORT_IS_A_LEAF,
            },
            Forbidden {
                from: "support",
                to: "datadog",
                why: SUPPORT_IS_A_LEAF,
            },
            Forbidden {
                from: "model",
                to: "notify",
                why: "the alerting rules are input: they know nothing of the notifiers",
            },
            Forbidden {
                from: "model",
                to: "datadog",
                why: "the alerting rules are input: they know nothing of DataDog",
            },
            Forbidden {
                from: "notify",
                to: "datadog",
                why: "a notifier sends one notification: it knows nothing of the DataDog sync",
            },
            Forbidden {
                from: "datadog",
                to: "digest",
                why: DIGEST_IS_ON_TOP,
            },
            Forbidden {
                from: "notify",
                to: "digest",
                why: DIGEST_IS_ON_TOP,
            },
            Forbidden {
                from: "model",
                to: "digest",
                why: DIGEST_IS_ON_TOP,
            },
        ],
        allowed: &[
            Allowed {
                from: "notify",
                to: "notify::email",
                reason: "notify re-exports its channels' public types",
            },
            Allowed {
                from: "notify",
                to: "notify::pagerduty",
                reason: "notify re-exports its channels' public types",
            },
            Allowed {
                from: "notify",
                to: "notify::slack",
                reason: "notify re-exports its channels' public types",
            },
        ],
    },
};

const TREEBEARD: Checked = Checked {
    dir: "crates/treebeard",
    // docs/architecture.md: leaves at the bottom, the request layers and
    // the exporters beside each other above them, `init` and the stack on
    // top, composing. The user-facing APIs sit beside the layers.
    rules: Rules {
        groups: &[
            Group {
                name: "leaves",
                prefixes: &[
                    "config",
                    "error",
                    "escape",
                    "ids",
                    "privacy",
                    "body",
                    "client_ip",
                    "query",
                    "request_line",
                    "response_error",
                    "route",
                    "trace_context",
                    "metrics::names",
                ],
            },
            Group {
                name: "layers",
                prefixes: &["layers"],
            },
            Group {
                name: "backends",
                prefixes: &["backends"],
            },
            Group {
                name: "log",
                prefixes: &["log"],
            },
            Group {
                name: "api",
                prefixes: &["apm", "metrics", "sentry"],
            },
            Group {
                name: "console",
                prefixes: &["console"],
            },
            Group {
                name: "compose",
                prefixes: &["init", "stack", "shutdown", "crate"],
            },
        ],
        forbidden: &[
            Forbidden {
                from: "leaves",
                to: "console",
                why: LEAVES_ARE_LEAVES,
            },
            Forbidden {
                from: "layers",
                to: "console",
                why: "each layer is usable alone; the stack puts the console in front of them",
            },
            Forbidden {
                from: "backends",
                to: "console",
                why: "the console is a listener beside the exporters, not one of their parts",
            },
            Forbidden {
                from: "log",
                to: "console",
                why: "the log formatter serves every layer",
            },
            Forbidden {
                from: "api",
                to: "console",
                why: CONSOLE_LISTENS,
            },
            Forbidden {
                from: "console",
                to: "layers",
                why: CONSOLE_LISTENS,
            },
            Forbidden {
                from: "console",
                to: "backends",
                why: CONSOLE_LISTENS,
            },
            Forbidden {
                from: "console",
                to: "log",
                why: CONSOLE_LISTENS,
            },
            Forbidden {
                from: "console",
                to: "api",
                why: CONSOLE_LISTENS,
            },
            Forbidden {
                from: "console",
                to: "compose",
                why: "init and the stack plug the console in, not the other way round",
            },
            Forbidden {
                from: "leaves",
                to: "layers",
                why: LEAVES_ARE_LEAVES,
            },
            Forbidden {
                from: "leaves",
                to: "backends",
                why: LEAVES_ARE_LEAVES,
            },
            Forbidden {
                from: "leaves",
                to: "log",
                why: LEAVES_ARE_LEAVES,
            },
            Forbidden {
                from: "leaves",
                to: "api",
                why: LEAVES_ARE_LEAVES,
            },
            Forbidden {
                from: "leaves",
                to: "compose",
                why: LEAVES_ARE_LEAVES,
            },
            Forbidden {
                from: "layers",
                to: "layers",
                why: "each layer is usable alone: shared helpers live in the leaves",
            },
            Forbidden {
                from: "layers",
                to: "backends",
                why: "a layer speaks tracing, metrics and http; the backends listen",
            },
            Forbidden {
                from: "layers",
                to: "log",
                why: LAYERS_SPEAK_TRACING,
            },
            Forbidden {
                from: "layers",
                to: "api",
                why: LAYERS_SPEAK_TRACING,
            },
            Forbidden {
                from: "layers",
                to: "compose",
                why: "the stack and init assemble the layers, not the other way round",
            },
            Forbidden {
                from: "backends",
                to: "layers",
                why: "an exporter knows nothing of the request layers",
            },
            Forbidden {
                from: "backends",
                to: "compose",
                why: "init plugs the backends in, not the other way round",
            },
            Forbidden {
                from: "log",
                to: "backends",
                why: "log lines read trace IDs through trace_context, not from a tracer",
            },
            Forbidden {
                from: "log",
                to: "layers",
                why: "the log formatter serves every layer",
            },
        ],
        allowed: &[],
    },
};

const CONSOLE_LISTENS: &str = "the dev console reads what the layers write through `tracing` (and the leaves): it imports no layer, exporter, formatter or API, and none of them knows it";
const LAYERS_SPEAK_TRACING: &str =
    "a layer writes through `tracing` and `metrics`, not through our formatter or APIs";
const DATADOG: Checked = Checked {
    dir: "crates/treebeard-datadog",
    // The tracer: its settings and header check at the bottom, then span
    // records, sampling and propagation, the layer and exporter on top.
    rules: Rules {
        groups: &[
            Group {
                name: "leaves",
                prefixes: &["config", "headers", "ids"],
            },
            Group {
                name: "tracer",
                prefixes: &[
                    "encode",
                    "exporter",
                    "layer",
                    "propagation",
                    "sampler",
                    "span",
                    "tracer",
                    "transport",
                    "backlog",
                ],
            },
        ],
        forbidden: &[Forbidden {
            from: "leaves",
            to: "tracer",
            why: "the settings types build without the tracer (no `export` feature)",
        }],
        allowed: &[Allowed {
            from: "crate",
            to: "tracer",
            reason: "the crate root re-exports the tracer's public API",
        }],
    },
};

const DIGEST_IS_ON_TOP: &str =
    "the digest reads DataDog, the rules and the email notifier: none of them knows it";
const SUPPORT_IS_A_LEAF: &str =
    "env, retry, query and metrics serve every module: they import none";
const LEAVES_ARE_LEAVES: &str =
    "configuration, IDs and the route template are read by everything: they import only leaves";

// ---------------------------------------------------------------------------

#[test]
fn treebeard_pii() {
    verify(&PII);
}

#[test]
fn treebeard_alerting() {
    verify(&ALERTING);
}

#[test]
fn treebeard() {
    verify(&TREEBEARD);
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Checks the crate's graph, then writes (bless) or compares its diagram.
fn verify(checked: &Checked) {
    let root = repo_root();
    let graph = parse_crate(&root.join(checked.dir).join("src")).unwrap();
    let name = Path::new(checked.dir)
        .file_name()
        .unwrap()
        .to_string_lossy();
    let diagram_path = format!("docs/architecture/{name}.mmd");
    let diagram = format!(
        "%% The module graph of {}/src, generated by `make architecture`: do not edit.\n{}",
        checked.dir,
        mermaid(&graph, &checked.rules)
    );
    let report = check(&graph, &checked.rules);
    let bless = std::env::var("TREEBEARD_ARCH_BLESS").is_ok_and(|v| v == "1");
    if bless {
        let path = root.join(&diagram_path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &diagram).unwrap();
    }
    assert!(
        report.is_clean(),
        "{}/src breaks its architecture rules (tests/workspace.rs):\n{report}",
        checked.dir
    );
    if !bless {
        let on_disk = fs::read_to_string(root.join(&diagram_path)).unwrap_or_default();
        assert!(
            on_disk == diagram,
            "{diagram_path} is not the diagram of {}/src: run `make architecture` and commit it",
            checked.dir
        );
    }
}

#[test]
fn treebeard_datadog() {
    verify(&DATADOG);
}
