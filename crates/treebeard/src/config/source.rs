//! Where configuration values come from: [`ConfigSource`] (the process
//! environment through [`EnvSource`], or a map in tests), shared with the
//! CLI and the notifiers through `treebeard-conventions`.

pub use treebeard_conventions::env::{ConfigSource, EnvSource};
