//! A Mermaid flowchart of a module graph.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::graph::ModuleGraph;
use crate::rules::Rules;

/// The graph as a Mermaid `graph TD`: one node per module, one edge per
/// module pair (dotted when allow-listed).
///
/// Modules are grouped in `subgraph`s: by the configured groups when
/// `rules` has some (in their order; ungrouped modules outside), otherwise
/// by top-level module when it has submodules. Everything is ordered by
/// name, so the same sources give the same text.
pub fn mermaid(graph: &ModuleGraph, rules: &Rules<'_>) -> String {
    let mut out = String::from("graph TD\n");
    let mut grouped: BTreeMap<usize, (String, Vec<&str>)> = BTreeMap::new();
    let mut loose = Vec::new();
    let tops = top_level_sizes(graph);
    for (module, _) in graph.modules() {
        let group = if rules.groups.is_empty() {
            let top = module.split("::").next().unwrap_or(module);
            tops.get(top)
                .filter(|(_, size)| *size > 1)
                .map(|(i, _)| (*i, top.to_owned()))
        } else {
            rules.group_of(module).and_then(|name| {
                let i = rules.groups.iter().position(|g| g.name == name)?;
                Some((i, name.to_owned()))
            })
        };
        match group {
            Some((i, name)) => grouped
                .entry(i)
                .or_insert((name, Vec::new()))
                .1
                .push(module),
            None => loose.push(module),
        }
    }
    for (name, modules) in grouped.values() {
        let _ = writeln!(out, "    subgraph g_{} [{name}]", id(name));
        for module in modules {
            let _ = writeln!(out, "        {}[\"{module}\"]", node(module));
        }
        out.push_str("    end\n");
    }
    for module in loose {
        let _ = writeln!(out, "    {}[\"{module}\"]", node(module));
    }
    for (from, to, _) in graph.edges() {
        let arrow = if rules.is_allowed(from, to) {
            "-.->"
        } else {
            "-->"
        };
        let _ = writeln!(out, "    {} {arrow} {}", node(from), node(to));
    }
    out
}

/// For each top-level module: its position in name order and how many
/// modules it holds (itself included).
fn top_level_sizes(graph: &ModuleGraph) -> BTreeMap<&str, (usize, usize)> {
    let mut sizes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (module, _) in graph.modules() {
        let top = module.split("::").next().unwrap_or(module);
        sizes.entry(top).or_default().1 += 1;
    }
    for (i, (_, (position, _))) in sizes.iter_mut().enumerate() {
        *position = i;
    }
    sizes
}

/// A Mermaid identifier for a name: `::` and other punctuation become `_`.
fn id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The node identifier of a module.
fn node(module: &str) -> String {
    format!("m_{}", id(module))
}
