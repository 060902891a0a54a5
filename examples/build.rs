//! Extracts the README's program (its first `rust` code block) into
//! `$OUT_DIR/readme_main.rs`, so that `readme-main` is that very program and
//! the README cannot drift from what the tests run. The one change: the
//! listen address comes from `README_LISTEN` when set, so that tests can
//! pick a free port.

// A build script reports a failure by panicking: cargo shows the message.
#![allow(clippy::panic)]

use std::path::Path;

const LITERAL: &str = "\"127.0.0.1:8080\"";

fn main() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    println!("cargo:rerun-if-changed={}", readme.display());
    let text = std::fs::read_to_string(&readme).unwrap_or_else(|e| {
        panic!("cannot read {}: {e}", readme.display());
    });
    let start = text
        .find("```rust")
        .and_then(|i| text[i..].find('\n').map(|n| i + n + 1))
        .unwrap_or_else(|| panic!("README.md has no ```rust block"));
    let end = text[start..]
        .find("```")
        .map(|n| start + n)
        .unwrap_or_else(|| panic!("README.md's ```rust block is not closed"));
    let program = &text[start..end];
    assert!(
        program.contains(LITERAL),
        "README.md's program no longer binds {LITERAL}: update examples/build.rs"
    );
    let program = program.replace(
        LITERAL,
        "&*std::env::var(\"README_LISTEN\").unwrap_or_else(|_| \"127.0.0.1:8080\".to_owned())",
    );
    let out = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("readme_main.rs");
    std::fs::write(&out, program).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
