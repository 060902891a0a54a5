//! JSON logging: the line formatter, and the writer thread that takes
//! lines to stdout.

#[cfg(test)]
pub(crate) mod capture;
pub mod json;
pub(crate) mod output;
pub mod rate_limit;
mod writer;

pub use json::JsonLogLayer;

/// Log lines buffered between the request path and the writer thread;
/// beyond this, lines are dropped (and counted) rather than block a request.
pub const LOG_BUFFER_LINES: usize = 128_000;
