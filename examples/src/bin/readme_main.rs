//! The README's program, extracted from README.md by `build.rs`: the e2e
//! test `readme_program` runs it against the real peers and stops it with
//! SIGTERM.

include!(concat!(env!("OUT_DIR"), "/readme_main.rs"));
