//! How the OTLP/HTTP exporter set up by otel-kit-core retries, against a fake
//! OTLP endpoint written here: per the OTLP specification only 429, 502, 503
//! and 504 are retried, and a `Retry-After` header sets the wait.
//!
//! opentelemetry-otlp 0.33 retries on its own (no cargo feature needed):
//! `RetryPolicy::recommended()` is 3 retries, 100 ms doubling to 1.6 s with
//! jitter, within the export timeout; `Retry-After` (seconds or an HTTP date)
//! raises the delay, capped at 30 s. otel-kit-core keeps that default.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use otel_kit_core::Telemetry;
use otel_kit_core::config::Environment;
use otel_kit_core::opentelemetry::trace::{Span as _, Tracer as _};

/// One scripted answer: status code and optional `Retry-After` value.
type Answer = (u16, Option<&'static str>);

/// The fake endpoint's scripted answers, then 200 for every further request.
#[derive(Clone)]
struct Script {
    answers: Arc<Mutex<Vec<Answer>>>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

/// Serves `/v1/traces` on a free port on a runtime of its own thread;
/// returns the base URL.
fn fake_otlp(script: Script) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route(
        "/v1/traces",
        post(move || {
            let script = script.clone();
            async move {
                script.arrivals.lock().unwrap().push(Instant::now());
                let next = {
                    let mut answers = script.answers.lock().unwrap();
                    (!answers.is_empty()).then(|| answers.remove(0))
                };
                let mut headers = HeaderMap::new();
                headers.insert("content-type", "application/x-protobuf".parse().unwrap());
                match next {
                    Some((code, retry_after)) => {
                        if let Some(v) = retry_after {
                            headers.insert("retry-after", v.parse().unwrap());
                        }
                        (StatusCode::from_u16(code).unwrap(), headers)
                    }
                    // An empty ExportTraceServiceResponse: full success.
                    None => (StatusCode::OK, headers),
                }
            }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rt)
}

/// Exports one span to `endpoint` and shuts down; returns the shutdown
/// result and what the span pipeline counted.
fn export_one(endpoint: &str) -> (Result<(), String>, otel_kit_core::ExportStats) {
    let mut telemetry = Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10000"),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]))
        .install_global(false)
        .strict(true)
        .install()
        .expect("setup");
    let tracer = telemetry.tracer("retry");
    tracer.start("one").end();
    let result = telemetry.shutdown_blocking().map_err(|e| e.to_string());
    (result, telemetry.export_stats())
}

fn script(answers: Vec<Answer>) -> Script {
    Script {
        answers: Arc::new(Mutex::new(answers)),
        arrivals: Arc::new(Mutex::new(Vec::new())),
    }
}

#[test]
fn throttled_export_is_retried_after_the_retry_after_delay() {
    for code in [503, 429] {
        let s = script(vec![(code, Some("2"))]);
        let (endpoint, _rt) = fake_otlp(s.clone());
        let (result, stats) = export_one(&endpoint);
        assert_eq!(result, Ok(()), "{code}: the retry succeeded");
        assert_eq!(stats.spans_failed, 0, "{code}: {stats:?}");
        let arrivals = s.arrivals.lock().unwrap().clone();
        assert_eq!(arrivals.len(), 2, "{code}: one request and one retry");
        let gap = arrivals[1] - arrivals[0];
        // Without the header the first retry comes after 100-200 ms.
        assert!(
            gap >= Duration::from_millis(1900),
            "{code}: retried after {gap:?}, Retry-After asked for 2 s"
        );
    }
}

#[test]
fn unavailable_without_retry_after_is_retried_with_backoff() {
    let s = script(vec![(502, None), (504, None), (503, None)]);
    let (endpoint, _rt) = fake_otlp(s.clone());
    let (result, stats) = export_one(&endpoint);
    assert_eq!(result, Ok(()));
    assert_eq!(stats.spans_failed, 0, "{stats:?}");
    assert_eq!(
        s.arrivals.lock().unwrap().len(),
        4,
        "three retries, the last succeeds"
    );
}

#[test]
fn non_retryable_codes_are_not_retried() {
    for code in [400, 401, 403, 404, 413, 500] {
        let s = script(vec![(code, None)]);
        let (endpoint, _rt) = fake_otlp(s.clone());
        let (result, stats) = export_one(&endpoint);
        // shutdown_blocking has returned: the export and any retry are over.
        assert_eq!(
            s.arrivals.lock().unwrap().len(),
            1,
            "{code} must not be retried"
        );
        assert!(
            result.is_err(),
            "{code}: the failed final export is reported"
        );
        assert_eq!(stats.spans_failed, 1, "{code}: {stats:?}");
        let error = stats.first_error.expect("first error kept");
        assert!(error.contains(&code.to_string()), "{code}: {error}");
    }
}
