//! A flaky local HTTP backend called through retry + circuit breaker (tower
//! layers over a plain hyper client). The trace shows each attempt, the
//! server-provided `Retry-After` delay, the breaker opening (rejected calls
//! as short `circuit_open` spans) and, after its wait, closing again.
//!
//! ```text
//! cargo run -p otel-examples --bin resilience
//! ```

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use otel_kit_core::opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Context, global};
use otel_kit_patterns::breaker::{BreakerError, CircuitBreaker, CircuitBreakerLayer};
use otel_kit_patterns::retry::{RetryDecision, RetryLayer, RetryPolicy, server_delay};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};
use tower::{Layer, Service};

/// Fails the first two calls of every five (with `Retry-After: 0`), or
/// every call while `down` is set.
async fn serve(counter: Arc<AtomicU32>, down: Arc<AtomicU32>) -> String {
    let app = Router::new().route(
        "/stock",
        get(move || {
            let counter = counter.clone();
            let down = down.clone();
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if down.load(Ordering::SeqCst) == 1 || n % 5 < 2 {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", "0")],
                        "busy",
                    )
                        .into_response()
                } else {
                    (StatusCode::OK, "42").into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/stock")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = otel_kit_core::Telemetry::builder()
        .service_name("resilience-example")
        .console_when_unconfigured(true)
        .install()?;
    let counter = Arc::new(AtomicU32::new(0));
    let down = Arc::new(AtomicU32::new(0));
    let url = serve(counter.clone(), down.clone()).await;

    let breaker = CircuitBreaker::builder("stock")
        .count_window(6)
        .minimum_calls(6)
        .failure_rate(50.0)
        .wait_in_open(Duration::from_millis(500))
        .permitted_in_half_open(2)
        .build();
    let policy = RetryPolicy::builder("GET /stock")
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(20))
        .build();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let guarded = CircuitBreakerLayer::http(breaker.clone()).layer(client);
    // Retry transient failures, never a call the breaker refused.
    let mut svc = RetryLayer::with_classifier(policy, |r: &Result<_, BreakerError<_>>| match r {
        Err(BreakerError::Open(_)) => RetryDecision::Stop,
        other => match other {
            Ok(resp) if resp_status(resp) == 503 => {
                server_delay::retry_after(resp.headers(), SystemTime::now())
                    .map_or(RetryDecision::Retry, RetryDecision::RetryAfter)
            }
            Ok(_) => RetryDecision::Stop,
            Err(_) => RetryDecision::Retry,
        },
    })
    .layer(guarded);

    let tracer = global::tracer("resilience-example");
    for round in 1..=12 {
        if round == 4 {
            println!("-- backend goes down");
            down.store(1, Ordering::SeqCst);
        }
        if round == 9 {
            println!("-- backend recovers; waiting for the breaker");
            down.store(0, Ordering::SeqCst);
            counter.store(2, Ordering::SeqCst); // next calls succeed
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        let span = tracer.start(format!("round {round}"));
        let cx = Context::current_with_span(span);
        let req = http::Request::get(&url).body(Full::new(Bytes::new()))?;
        let r = svc.call(req).with_context(cx.clone()).await;
        cx.span().end();
        match r {
            Ok(resp) => println!(
                "round {round}: HTTP {} (breaker {})",
                resp.status(),
                breaker.state()
            ),
            Err(BreakerError::Open(e)) => println!("round {round}: rejected: {e}"),
            Err(BreakerError::Inner(e)) => println!("round {round}: error: {e}"),
        }
    }
    telemetry.shutdown().await?;
    Ok(())
}

fn resp_status<B>(r: &http::Response<B>) -> u16 {
    r.status().as_u16()
}
