//! `bench-driver <variant> <mode>`: one observability stack around the same
//! small axum app (or, for `example-on`/`example-off`, the example API's
//! router), driven in-process (for callgrind) or served (for wrk).
//!
//! Modes:
//! - `inproc N`: warms up, then drives `N` requests (`GET /json`, or
//!   `GET /users/1` for the example) through the router with
//!   `tower::ServiceExt::oneshot` on a current-thread runtime, drops the
//!   stack's guards (which flush exporters) and exits. Run it twice under
//!   callgrind with two values of `N`: the difference cancels start-up.
//! - `serve`: listens on `127.0.0.1:0`, prints `LISTENING <addr>` on stderr
//!   and serves until SIGTERM (or Ctrl-C). Logs go to stdout.
//!
//! Variants are listed by [`Variant::ALL`]; `benches/run.sh` runs them all.

mod app;
mod hand_assembled;
mod variant;

use std::process::ExitCode;

use axum::Router;
use axum::body::Body;
use http::Request;
use tower::ServiceExt;

use variant::Variant;

/// Requests sent before counting starts, so lazy set-up (first span, first
/// log line, connection to the agent) is not part of the measured work.
const WARM_UP_REQUESTS: usize = 200;

enum Mode {
    InProcess(usize),
    Serve,
}

fn usage() -> String {
    let variants: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
    format!(
        "usage: bench-driver <variant> <mode>\n  variant: {}\n  mode: inproc <N> | serve",
        variants.join(" | ")
    )
}

fn parse_args(args: &[String]) -> Result<(Variant, Mode), String> {
    let variant = args
        .first()
        .and_then(|name| Variant::from_name(name))
        .ok_or_else(usage)?;
    let mode = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("inproc"), Some(n)) => Mode::InProcess(n.parse().map_err(|_| usage())?),
        (Some("serve"), None) => Mode::Serve,
        _ => return Err(usage()),
    };
    Ok((variant, mode))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (variant, mode) = match parse_args(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match mode {
        Mode::InProcess(n) => in_process(variant, n),
        Mode::Serve => serve(variant),
    }
    ExitCode::SUCCESS
}

fn in_process(variant: Variant, requests: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stack = {
        let _context = rt.enter();
        variant.build()
    };
    // What `axum::serve` does once per connection: handlers become routes
    // here, not per request (`Router<()>` called directly converts each
    // boxed handler on every call, a cost no server pays).
    let router = stack.router.clone().with_state(());
    rt.block_on(async move {
        let path = variant.path();
        for _ in 0..WARM_UP_REQUESTS {
            drive_one(&router, path).await;
        }
        for _ in 0..requests {
            drive_one(&router, path).await;
        }
    });
    // Guards flush here (spans, log lines, events): their cost is counted.
    drop(stack);
    drop(rt);
}

async fn drive_one(router: &Router, path: &str) {
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    std::hint::black_box(body);
}

fn serve(variant: Variant) {
    // Worker threads follow the CPU affinity (`taskset -c 0` gives one).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let stack = {
        let _context = rt.enter();
        variant.build()
    };
    let router = stack.router.clone();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        eprintln!("LISTENING {}", listener.local_addr().unwrap());
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .unwrap();
    });
    drop(stack);
    drop(rt);
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).unwrap();
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
