//! [`shutdown_signal`]: the future to hand `axum::serve(..).with_graceful_shutdown`.

/// Resolves on SIGTERM (what Docker, Kubernetes and systemd send) or
/// Ctrl-C. Serve with it, then drop the [`MonitoringGuard`](crate::MonitoringGuard)
/// after `serve` returns: the server drains its connections, and the guard
/// flushes the queued spans, metrics and Sentry events. Without it a
/// SIGTERM kills the process and loses them.
///
/// ```no_run
/// # async fn run(app: axum::Router, monitoring: treebeard::MonitoringGuard) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app)
///     .with_graceful_shutdown(treebeard::shutdown_signal())
///     .await?;
/// drop(monitoring); // flushes everything, within its shutdown budget
/// # Ok(()) }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown signal received, draining connections");
    // An open console tab would hold the drain until its stream ends.
    #[cfg(feature = "dev-console")]
    crate::console::close_streams();
}
