//! The checker on small crates written to a temporary directory: cycles and
//! the lines that make them, the allow-list, what is not a reference
//! (comments, strings, tests), relative paths, group rules, the diagram.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::fs;
use std::path::PathBuf;

use tempfile::TempDir;
use treebeard_arch::{
    Allowed, Forbidden, Group, ModuleGraph, Rules, Site, check, mermaid, parse_crate,
};

/// A crate made of `(path under src, text)` files.
struct Fixture {
    _dir: TempDir,
    src: PathBuf,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        for (path, text) in files {
            let path = src.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        Self { _dir: dir, src }
    }

    fn graph(&self) -> ModuleGraph {
        parse_crate(&self.src).unwrap()
    }
}

/// The edges as `from -> to` strings.
fn edges(graph: &ModuleGraph) -> Vec<String> {
    graph
        .edges()
        .map(|(from, to, _)| format!("{from} -> {to}"))
        .collect()
}

fn site(file: &str, line: usize) -> Site {
    Site {
        file: file.to_owned(),
        line,
    }
}

const NO_RULES: Rules<'static> = Rules {
    groups: &[],
    forbidden: &[],
    allowed: &[],
};

fn two_file_cycle() -> Fixture {
    Fixture::new(&[
        ("lib.rs", "pub mod rules;\npub mod routing;\n"),
        (
            "rules.rs",
            "//! Rules.\n\nuse crate::routing::Notifications;\n\npub struct Severity;\n",
        ),
        (
            "routing.rs",
            "pub struct Notifications;\n\npub fn f() -> crate::rules::Severity {\n    crate::rules::Severity\n}\n",
        ),
    ])
}

#[test]
fn modules_are_named_by_their_files() {
    let fixture = Fixture::new(&[
        ("lib.rs", "mod a;\nmod c;\n"),
        ("a/mod.rs", "mod b;\n"),
        ("a/b.rs", ""),
        ("c.rs", "mod d;\n"),
        ("c/d.rs", ""),
        ("a/tests.rs", "use crate::c::d;\n"),
    ]);
    let graph = fixture.graph();
    let modules: Vec<(&str, &str)> = graph.modules().collect();
    assert_eq!(
        modules,
        [
            ("a", "src/a/mod.rs"),
            ("a::b", "src/a/b.rs"),
            ("c", "src/c.rs"),
            ("c::d", "src/c/d.rs"),
            ("crate", "src/lib.rs"),
        ]
    );
    // `mod x;` declares, it does not import; `tests.rs` is left out.
    assert!(edges(&graph).is_empty(), "{:?}", edges(&graph));
}

#[test]
fn a_two_file_cycle_is_found_with_its_lines() {
    let graph = two_file_cycle().graph();
    assert_eq!(edges(&graph), ["routing -> rules", "rules -> routing"]);
    let report = check(&graph, &NO_RULES);
    assert_eq!(report.cycles.len(), 1);
    let cycle = &report.cycles[0];
    assert_eq!(
        cycle.modules,
        [
            ("routing".to_owned(), "src/routing.rs".to_owned()),
            ("rules".to_owned(), "src/rules.rs".to_owned()),
        ]
    );
    let lines: Vec<(&str, &str, Vec<Site>)> = cycle
        .edges
        .iter()
        .map(|(f, t, s)| (f.as_str(), t.as_str(), s.iter().cloned().collect()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                "routing",
                "rules",
                vec![site("src/routing.rs", 3), site("src/routing.rs", 4)]
            ),
            ("rules", "routing", vec![site("src/rules.rs", 3)]),
        ]
    );
    let text = report.to_string();
    assert!(
        text.contains("routing -> rules: src/routing.rs:3,4"),
        "{text}"
    );
    assert!(text.contains("rules -> routing: src/rules.rs:3"), "{text}");
}

#[test]
fn an_allowed_edge_breaks_the_cycle() {
    let rules = Rules {
        allowed: &[Allowed {
            from: "rules",
            to: "routing",
            reason: "Severity moves to its own module",
        }],
        ..NO_RULES
    };
    let report = check(&two_file_cycle().graph(), &rules);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn a_stale_allow_list_entry_is_reported() {
    let rules = Rules {
        allowed: &[Allowed {
            from: "routing",
            to: "nowhere",
            reason: "gone",
        }],
        ..NO_RULES
    };
    let report = check(&two_file_cycle().graph(), &rules);
    assert_eq!(
        report.stale_allowed,
        [("routing".to_owned(), "nowhere".to_owned())]
    );
}

#[test]
fn comments_doc_links_and_strings_are_not_references() {
    let fixture = Fixture::new(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("b.rs", "pub struct B;\n"),
        (
            "a.rs",
            r#"//! Uses [`crate::b::B`] and [B](crate::b::B).

/// Like [`crate::b::B`].
pub fn f() -> &'static str {
    // crate::b::B is not used here
    /* nor crate::b::B here */
    let _ = r"crate::b::B";
    println!("{}", "crate::b::B");
    "crate::b::B"
}
"#,
        ),
    ]);
    let graph = fixture.graph();
    assert!(edges(&graph).is_empty(), "{:?}", edges(&graph));
}

#[test]
fn test_modules_and_items_are_left_out() {
    let fixture = Fixture::new(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("b.rs", "pub struct B;\n"),
        (
            "a.rs",
            r#"pub fn f() {}

#[cfg(test)]
mod tests {
    use crate::b::B;
    use super::*;

    #[test]
    fn t() { let _ = crate::b::B; f(); }
}

#[cfg(all(test, feature = "x"))]
fn helper() -> crate::b::B { crate::b::B }
"#,
        ),
    ]);
    let graph = fixture.graph();
    assert!(edges(&graph).is_empty(), "{:?}", edges(&graph));
}

#[test]
fn use_trees_inline_paths_and_macros_are_references() {
    let fixture = Fixture::new(&[
        (
            "lib.rs",
            "pub mod a;\npub mod b;\npub mod c;\npub mod d;\npub mod e;\n",
        ),
        ("a.rs", "pub mod inner;\n"),
        ("a/inner.rs", "pub struct I;\n"),
        ("b.rs", "pub struct B;\n"),
        ("c.rs", "pub struct C;\n"),
        ("d.rs", "pub fn d() {}\n"),
        ("e.rs", "pub struct E;\n"),
        (
            "user.rs",
            r#"use crate::{a::inner::{self, I}, b};
fn f(_: crate::c::C) {
    println!("{:?}", crate::d::d());
    let _ = ::e::E;
}
"#,
        ),
    ]);
    let graph = fixture.graph();
    assert_eq!(
        edges(&graph),
        ["user -> a::inner", "user -> b", "user -> c", "user -> d"]
    );
    let sites: Vec<Site> = graph
        .sites("user", "a::inner")
        .unwrap()
        .iter()
        .cloned()
        .collect();
    assert_eq!(sites, [site("src/user.rs", 1)]);
}

#[test]
fn super_self_and_child_paths_resolve_against_the_file() {
    let fixture = Fixture::new(&[
        ("lib.rs", "pub mod apm;\npub struct Root;\n"),
        (
            "apm/mod.rs",
            "mod native;\nmod otel;\npub use native::Exporter;\npub struct Config;\n",
        ),
        (
            "apm/native/mod.rs",
            "mod span;\npub use self::span::Span;\npub struct Exporter(super::Config);\n",
        ),
        (
            "apm/native/span.rs",
            "use super::super::otel;\nuse super::*;\npub struct Span(crate::Root);\nmod inner { use super::Span; }\n",
        ),
        ("apm/otel.rs", "use super::*;\n"),
    ]);
    let graph = fixture.graph();
    assert_eq!(
        edges(&graph),
        [
            "apm -> apm::native",
            "apm::native -> apm",
            "apm::native -> apm::native::span",
            "apm::native::span -> apm::native",
            "apm::native::span -> apm::otel",
            "apm::native::span -> crate",
            "apm::otel -> apm",
        ]
    );
}

#[test]
fn a_forbidden_group_edge_is_reported() {
    let fixture = Fixture::new(&[
        (
            "lib.rs",
            "pub mod layers;\npub mod backends;\npub mod apm;\n",
        ),
        ("layers/mod.rs", "pub mod log;\n"),
        ("layers/log.rs", "\nuse crate::apm::native::Exporter;\n"),
        ("backends.rs", ""),
        ("apm/mod.rs", "pub mod native;\n"),
        ("apm/native.rs", "pub struct Exporter;\n"),
    ]);
    let rules = Rules {
        groups: &[
            Group {
                name: "layers",
                prefixes: &["layers"],
            },
            Group {
                name: "backends",
                prefixes: &["backends", "apm::native"],
            },
        ],
        forbidden: &[Forbidden {
            from: "layers",
            to: "backends",
            why: "a layer hands its data to the backend it is given",
        }],
        ..NO_RULES
    };
    let report = check(&fixture.graph(), &rules);
    assert!(report.cycles.is_empty());
    assert_eq!(report.forbidden.len(), 1);
    let edge = &report.forbidden[0];
    assert_eq!(
        (edge.from.as_str(), edge.to.as_str()),
        ("layers::log", "apm::native")
    );
    assert_eq!(
        edge.sites.iter().cloned().collect::<Vec<_>>(),
        [site("src/layers/log.rs", 2)]
    );
    assert!(report.to_string().contains(
        "forbidden edge layers::log -> apm::native (layers must not import backends: \
         a layer hands its data to the backend it is given): src/layers/log.rs:2"
    ));
}

#[test]
fn a_module_may_use_its_own_submodules_within_a_forbidden_group_edge() {
    let fixture = Fixture::new(&[
        ("lib.rs", "pub mod layers;\n"),
        ("layers/mod.rs", "pub mod a;\npub mod b;\n"),
        (
            "layers/a/mod.rs",
            "mod part;\nuse self::part::P;\nuse crate::layers::b::B;\n",
        ),
        ("layers/a/part.rs", "pub struct P;\n"),
        ("layers/b.rs", "pub struct B;\n"),
    ]);
    let rules = Rules {
        groups: &[Group {
            name: "layers",
            prefixes: &["layers"],
        }],
        forbidden: &[Forbidden {
            from: "layers",
            to: "layers",
            why: "each layer is usable alone",
        }],
        ..NO_RULES
    };
    let report = check(&fixture.graph(), &rules);
    let found: Vec<(&str, &str)> = report
        .forbidden
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    assert_eq!(found, [("layers::a", "layers::b")], "{report}");
}

#[test]
fn the_diagram_is_deterministic() {
    let fixture = two_file_cycle();
    let extra = Fixture::new(&[
        ("lib.rs", "mod x;\nmod y;\n"),
        ("x/mod.rs", "mod z;\nuse crate::y;\n"),
        ("x/z.rs", "use super::super::y::Y;\n"),
        ("y.rs", "pub struct Y;\n"),
    ]);
    let rules = Rules {
        allowed: &[Allowed {
            from: "rules",
            to: "routing",
            reason: "r",
        }],
        ..NO_RULES
    };
    let first = mermaid(&fixture.graph(), &rules);
    assert_eq!(first, mermaid(&fixture.graph(), &rules));
    assert_eq!(
        first,
        "graph TD\n    m_crate[\"crate\"]\n    m_routing[\"routing\"]\n    m_rules[\"rules\"]\n    \
         m_routing --> m_rules\n    m_rules -.-> m_routing\n"
    );
    assert_eq!(
        mermaid(&extra.graph(), &NO_RULES),
        "graph TD\n    subgraph g_x [x]\n        m_x[\"x\"]\n        m_x__z[\"x::z\"]\n    end\n    \
         m_crate[\"crate\"]\n    m_y[\"y\"]\n    m_x --> m_y\n    m_x__z --> m_y\n"
    );
}
