//! Waiting for the signal an orchestrator sends to stop a service.

/// Resolves when the process is asked to stop: SIGINT (Ctrl-C) or SIGTERM on
/// Unix (what Kubernetes, systemd and `docker stop` send), Ctrl-C
/// elsewhere. Pass it to the server's graceful shutdown, then shut the
/// [`Telemetry`](crate::Telemetry) down, so the spans of the last requests
/// are exported before the process exits (a process killed by SIGTERM's
/// default action loses up to the batch delay's worth of telemetry).
///
/// If a signal handler cannot be installed (no Tokio runtime with signal
/// support), the failure is printed to stderr and the future waits for the
/// other signal only (or forever), rather than stopping the service.
///
/// ```no_run
/// # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
/// let telemetry = otel_kit_core::init()?;
/// // axum:  axum::serve(listener, app).with_graceful_shutdown(otel_kit_core::shutdown_signal())
/// // tonic: Server::builder().add_service(svc).serve_with_shutdown(addr, otel_kit_core::shutdown_signal())
/// otel_kit_core::shutdown_signal().await;
/// telemetry.shutdown().await?; // flushes what the last requests recorded
/// # Ok(()) }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("otel-kit-core: cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                eprintln!("otel-kit-core: cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
