//! The registry of every environment variable TreeBeard reads: the
//! library's, the CLI's and the notifiers', declared once in
//! [`treebeard_conventions::env`] and re-exported here.
//!
//! Reading goes through these constants only, and `docs/configuration.md`
//! is checked against [`VARIABLES`] by a test, so the docs cannot drift.

pub use treebeard_conventions::env::*;
