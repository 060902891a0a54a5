//! `init`'s panic hook writes its JSON line and then calls the hook that
//! was installed before it, so a test harness still shows a failing
//! assertion's message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn the_previous_panic_hook_still_runs() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    std::panic::set_hook(Box::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    let config = treebeard::Config::builder()
        .with_source([("APM_PROVIDER", "none"), ("METRICS_BACKEND", "none")])
        .build()
        .unwrap();
    let _guard = treebeard::init(&config).unwrap();
    let caught = std::panic::catch_unwind(|| panic!("assertion failed: left == right"));
    assert!(caught.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1, "init's hook must chain");
}
