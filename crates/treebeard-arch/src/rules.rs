//! The rules a module graph is checked against, and the report of a check.

use std::collections::BTreeSet;
use std::fmt;

use crate::graph::{ModuleGraph, Site};

/// What a crate's module graph must respect. Written as a constant data
/// table; every field may be empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules<'a> {
    /// Named groups of modules, for [`Rules::forbidden`] and for the
    /// diagram's subgraphs.
    pub groups: &'a [Group<'a>],
    /// Edges between groups that must not exist.
    pub forbidden: &'a [Forbidden<'a>],
    /// Edges the design permits: left out of the cycle check and of the
    /// forbidden-edge check.
    pub allowed: &'a [Allowed<'a>],
}

/// A named group of modules.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    /// The group's name, used in [`Forbidden`].
    pub name: &'a str,
    /// Module path prefixes: `"layers"` takes `layers` and `layers::x`, not
    /// `layers_old`. A module belongs to the group with the longest
    /// matching prefix.
    pub prefixes: &'a [&'a str],
}

/// A forbidden edge between two groups. An edge between a module and its
/// own submodule is never one: they are one part in several files.
#[derive(Debug, Clone, Copy)]
pub struct Forbidden<'a> {
    /// The importing group.
    pub from: &'a str,
    /// The imported group.
    pub to: &'a str,
    /// Why the design forbids it, printed with each violation.
    pub why: &'a str,
}

/// An edge between two modules that the design permits.
#[derive(Debug, Clone, Copy)]
pub struct Allowed<'a> {
    /// The importing module (`"rules"`, `"apm::native"`, `"crate"` for the
    /// root).
    pub from: &'a str,
    /// The imported module.
    pub to: &'a str,
    /// Why it is permitted.
    pub reason: &'a str,
}

impl Rules<'_> {
    /// The group `module` belongs to: the one with the longest matching
    /// prefix.
    pub fn group_of(&self, module: &str) -> Option<&str> {
        self.groups
            .iter()
            .flat_map(|g| g.prefixes.iter().map(move |p| (g.name, *p)))
            .filter(|(_, prefix)| has_prefix(module, prefix))
            .max_by_key(|(_, prefix)| prefix.len())
            .map(|(name, _)| name)
    }

    /// Whether the edge `from → to` is in the allow-list.
    pub fn is_allowed(&self, from: &str, to: &str) -> bool {
        self.allowed.iter().any(|a| a.from == from && a.to == to)
    }
}

/// Whether `module` is `prefix` or inside it.
fn has_prefix(module: &str, prefix: &str) -> bool {
    module
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// A cycle: modules that all reach each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The modules and their files, by name.
    pub modules: Vec<(String, String)>,
    /// Every edge between them: (from, to, the lines creating it).
    pub edges: Vec<(String, String, BTreeSet<Site>)>,
}

/// An edge between two groups that a [`Forbidden`] rule names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForbiddenEdge {
    /// The importing module.
    pub from: String,
    /// The imported module.
    pub to: String,
    /// The importing module's group.
    pub from_group: String,
    /// The imported module's group.
    pub to_group: String,
    /// The rule's reason.
    pub why: String,
    /// The lines creating the edge.
    pub sites: BTreeSet<Site>,
}

/// The result of [`check`]: empty when the graph respects the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Cycles left after removing the allowed edges.
    pub cycles: Vec<Cycle>,
    /// Edges that break a [`Forbidden`] rule.
    pub forbidden: Vec<ForbiddenEdge>,
    /// Allow-list entries `(from, to)` that match no edge: stale, to remove.
    pub stale_allowed: Vec<(String, String)>,
}

impl Report {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.cycles.is_empty() && self.forbidden.is_empty() && self.stale_allowed.is_empty()
    }
}

/// Checks `graph` against `rules`: cycles, forbidden edges, stale allow-list
/// entries.
pub fn check(graph: &ModuleGraph, rules: &Rules<'_>) -> Report {
    let keep = |from: &str, to: &str| !rules.is_allowed(from, to);
    let cycles = graph
        .cycles(keep)
        .into_iter()
        .map(|members| {
            let edges = graph
                .edges()
                .filter(|(f, t, _)| {
                    keep(f, t) && members.iter().any(|m| m == f) && members.iter().any(|m| m == t)
                })
                .map(|(f, t, sites)| (f.to_owned(), t.to_owned(), sites.clone()))
                .collect();
            let modules = members
                .into_iter()
                .map(|m| {
                    let file = graph.file_of(&m).unwrap_or_default().to_owned();
                    (m, file)
                })
                .collect();
            Cycle { modules, edges }
        })
        .collect();

    let mut forbidden = Vec::new();
    for (from, to, sites) in graph.edges() {
        if !keep(from, to) || has_prefix(to, from) || has_prefix(from, to) {
            continue;
        }
        let (Some(from_group), Some(to_group)) = (rules.group_of(from), rules.group_of(to)) else {
            continue;
        };
        for rule in rules.forbidden {
            if rule.from == from_group && rule.to == to_group {
                forbidden.push(ForbiddenEdge {
                    from: from.to_owned(),
                    to: to.to_owned(),
                    from_group: from_group.to_owned(),
                    to_group: to_group.to_owned(),
                    why: rule.why.to_owned(),
                    sites: sites.clone(),
                });
            }
        }
    }

    let stale_allowed = rules
        .allowed
        .iter()
        .filter(|a| graph.sites(a.from, a.to).is_none())
        .map(|a| (a.from.to_owned(), a.to.to_owned()))
        .collect();

    Report {
        cycles,
        forbidden,
        stale_allowed,
    }
}

/// `src/a.rs:3,17` for the sites of one file, `; `-separated across files.
fn sites(sites: &BTreeSet<Site>) -> String {
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for site in sites {
        if current == Some(site.file.as_str()) {
            out.push_str(&format!(",{}", site.line));
        } else {
            if current.is_some() {
                out.push_str("; ");
            }
            out.push_str(&format!("{}:{}", site.file, site.line));
            current = Some(&site.file);
        }
    }
    out
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for cycle in &self.cycles {
            writeln!(f, "cycle between {} modules:", cycle.modules.len())?;
            for (module, file) in &cycle.modules {
                writeln!(f, "  {module} ({file})")?;
            }
            writeln!(f, "  made by the edges:")?;
            for (from, to, at) in &cycle.edges {
                writeln!(f, "    {from} -> {to}: {}", sites(at))?;
            }
        }
        for e in &self.forbidden {
            writeln!(
                f,
                "forbidden edge {} -> {} ({} must not import {}: {}): {}",
                e.from,
                e.to,
                e.from_group,
                e.to_group,
                e.why,
                sites(&e.sites)
            )?;
        }
        for (from, to) in &self.stale_allowed {
            writeln!(
                f,
                "allow-list entry {from} -> {to} matches no edge any more: remove it"
            )?;
        }
        Ok(())
    }
}
