//! The module graph: one node per source file (module), one edge per pair
//! of modules where the first refers to the second, with the lines that do.

use std::collections::{BTreeMap, BTreeSet};

/// The name of the crate root module (`src/lib.rs`) in the graph.
pub const ROOT: &str = "crate";

/// A line in the sources that creates an edge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Site {
    /// The file, relative to the crate directory, with `/` separators
    /// (`src/rules.rs`).
    pub file: String,
    /// The line, from 1.
    pub line: usize,
}

/// The file-level import graph of one crate.
///
/// Modules are named by their path below the crate root (`config`,
/// `apm::native`), the root itself by [`ROOT`]. Iteration is in name order,
/// so everything derived from the graph is deterministic.
#[derive(Debug, Clone, Default)]
pub struct ModuleGraph {
    modules: BTreeMap<String, String>,
    edges: BTreeMap<(String, String), BTreeSet<Site>>,
}

impl ModuleGraph {
    /// Adds a module and the file that holds it.
    pub fn add_module(&mut self, module: impl Into<String>, file: impl Into<String>) {
        self.modules.insert(module.into(), file.into());
    }

    /// Records that `site` (in `from`) refers to `to`. References of a
    /// module to itself are not edges and are ignored.
    pub fn add_edge(&mut self, from: &str, to: &str, site: Site) {
        if from != to {
            self.edges
                .entry((from.to_owned(), to.to_owned()))
                .or_default()
                .insert(site);
        }
    }

    /// The modules and their files, in module name order.
    pub fn modules(&self) -> impl Iterator<Item = (&str, &str)> {
        self.modules.iter().map(|(m, f)| (m.as_str(), f.as_str()))
    }

    /// The file holding `module`.
    pub fn file_of(&self, module: &str) -> Option<&str> {
        self.modules.get(module).map(String::as_str)
    }

    /// The edges `(from, to, sites)`, in name order.
    pub fn edges(&self) -> impl Iterator<Item = (&str, &str, &BTreeSet<Site>)> {
        self.edges
            .iter()
            .map(|((from, to), sites)| (from.as_str(), to.as_str(), sites))
    }

    /// The lines creating the edge `from → to`, if there is one.
    pub fn sites(&self, from: &str, to: &str) -> Option<&BTreeSet<Site>> {
        self.edges.get(&(from.to_owned(), to.to_owned()))
    }

    /// The strongly connected components with more than one module, among
    /// the edges `keep` accepts: each component sorted by name, the
    /// components ordered by their first module (Tarjan's algorithm).
    pub fn cycles(&self, keep: impl Fn(&str, &str) -> bool) -> Vec<Vec<String>> {
        let names: Vec<&str> = self.modules.keys().map(String::as_str).collect();
        let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut successors = vec![Vec::new(); names.len()];
        for (from, to, _) in self.edges() {
            if let (Some(&f), Some(&t)) = (index.get(from), index.get(to))
                && keep(from, to)
            {
                successors[f].push(t);
            }
        }
        let mut tarjan = Tarjan::new(&successors);
        for v in 0..names.len() {
            if tarjan.index[v].is_none() {
                tarjan.connect(v);
            }
        }
        let mut cycles: Vec<Vec<String>> = tarjan
            .components
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| {
                let mut c: Vec<String> = c.into_iter().map(|v| names[v].to_owned()).collect();
                c.sort();
                c
            })
            .collect();
        cycles.sort();
        cycles
    }
}

/// Tarjan's strongly connected components over `successors`.
struct Tarjan<'g> {
    successors: &'g [Vec<usize>],
    next: usize,
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    components: Vec<Vec<usize>>,
}

impl<'g> Tarjan<'g> {
    fn new(successors: &'g [Vec<usize>]) -> Self {
        let n = successors.len();
        Self {
            successors,
            next: 0,
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            components: Vec::new(),
        }
    }

    fn connect(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        let successors = self.successors;
        for &w in &successors[v] {
            match self.index[w] {
                None => {
                    self.connect(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}
