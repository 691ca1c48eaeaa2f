//! The `http-server` example deployed the way an orchestrator runs it:
//! named and labelled by the environment (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, which win over the name compiled in), and
//! stopped with SIGTERM right after a request. The request's span must reach
//! the collector (the default batch delay is 5 s: without the graceful stop
//! the process would die with exit 143 and the span would be lost), with the
//! handler's `#[instrument]`ed function as its child span and the function's
//! `tracing::info!` as a log record in that span.

#![cfg(unix)]

mod support;
use support::{free_port, get, sigterm_and_wait};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use otel_tests::collector::Collector;

#[test]
fn deployed_by_the_environment_and_stopped_by_sigterm() {
    let collector = Collector::start();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_http-server"))
        .env("LISTEN_ADDR", &addr)
        // The binary names itself `http-server` in code: the deployment wins.
        .env("OTEL_SERVICE_NAME", "payments")
        .env(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=stage%201,team=checkout",
        )
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc_endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("OTEL_METRICS_EXPORTER", "none")
        .env("OTEL_LOGS_EXPORTER", "otlp")
        .env("RUST_LOG", "info")
        // The default batch delay (5 s): the span is still queued at SIGTERM.
        .env_remove("OTEL_BSP_SCHEDULE_DELAY")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the http-server example");

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        match get(&addr, "/users/7") {
            Ok(response) => break response.lines().next().unwrap_or_default().to_owned(),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                let _ = child.kill();
                panic!("the example did not answer on {addr}: {e}");
            }
        }
    };
    assert!(status.contains("200"), "{status}");

    let exit = sigterm_and_wait(&mut child);
    assert!(
        exit.success(),
        "exit after SIGTERM: {exit:?} (143 = killed by it)"
    );

    let spans = collector.wait_for_spans(2, Duration::from_secs(10));
    let server: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "GET /users/{id}")
        .collect();
    assert_eq!(
        server.len(),
        1,
        "the request's span at the collector: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert_eq!(server[0].resource_str("service.name"), Some("payments"));
    assert_eq!(
        server[0].resource_str("deployment.environment.name"),
        Some("stage 1"),
        "percent-decoded"
    );
    assert_eq!(server[0].resource_str("team"), Some("checkout"));

    // `tracing` joins the trace: `load_user` (#[instrument]) is a child of
    // the SERVER span, its `info!` a log record in it.
    let load = spans
        .iter()
        .find(|s| s.name == "load_user")
        .unwrap_or_else(|| panic!("no load_user span: {spans:?}"));
    assert_eq!(load.trace_id, server[0].trace_id);
    assert_eq!(load.parent_span_id, server[0].span_id);
    let logs = collector.wait_for_logs(1, Duration::from_secs(10));
    let loaded = logs
        .iter()
        .find(|l| l.body_str() == Some("user loaded"))
        .unwrap_or_else(|| panic!("no 'user loaded' log record: {logs:?}"));
    assert_eq!(loaded.trace_id, load.trace_id);
    assert_eq!(loaded.span_id, load.span_id);
}
