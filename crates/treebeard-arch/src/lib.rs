//! Architecture test for TreeBeard's crates.
//!
//! [`parse_crate`] reads a crate's `src/**/*.rs` into a [`ModuleGraph`] of
//! file-level imports; [`check`] finds cycles between modules and edges
//! between module groups that [`Rules`] forbid, leaving out the edges the
//! rules allow; [`mermaid`] draws the graph. The crate depends on none of
//! the crates it checks: `tests/workspace.rs` applies it to them.
//!
//! ```no_run
//! use treebeard_arch::{Allowed, Rules, check, parse_crate};
//!
//! const RULES: Rules<'static> = Rules {
//!     groups: &[],
//!     forbidden: &[],
//!     allowed: &[Allowed { from: "rules", to: "routing", reason: "Severity moves to its own module" }],
//! };
//! let graph = parse_crate("crates/treebeard-alerting/src".as_ref())?;
//! let report = check(&graph, &RULES);
//! assert!(report.is_clean(), "{report}");
//! # Ok::<(), treebeard_arch::ParseError>(())
//! ```

mod graph;
mod mermaid;
mod parse;
mod rules;

pub use graph::{ModuleGraph, ROOT, Site};
pub use mermaid::mermaid;
pub use parse::{ParseError, parse_crate};
pub use rules::{Allowed, Cycle, Forbidden, ForbiddenEdge, Group, Report, Rules, check};
