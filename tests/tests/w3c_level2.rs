//! W3C Trace Context Level 2 across a real hop: a client sends
//! `traceparent`/`tracestate` to an axum server behind otel-kit-http's
//! `ServerLayer`; its handler calls a second loopback server through the
//! `ClientLayer` (hyper-util), and that server records the headers it
//! receives. Each test quotes the Level 2 sentence it checks.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_sdk::trace::Sampler;
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_core::testing::Capture;
use otel_kit_http::client::ClientLayer;
use otel_kit_http::server::ServerLayer;
use tower::{Layer, ServiceExt};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

type Seen = Arc<Mutex<Vec<HeaderMap>>>;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// The next hop: untraced, records the headers of every request.
async fn next_hop() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/seen",
            get(|State(seen): State<Seen>, headers: HeaderMap| async move {
                seen.lock().unwrap().push(headers);
                "ok"
            }),
        )
        .with_state(seen.clone());
    (serve(app).await, seen)
}

/// The traced service: `GET /hop` calls `GET next/seen` through the client layer.
async fn traced_service(capture: &Capture, next: SocketAddr) -> SocketAddr {
    let client = ClientLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .build()
        .layer(Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>());
    let server = ServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .build();
    let app = Router::new()
        .route(
            "/hop",
            get(move || {
                let client = client.clone();
                async move {
                    let req = Request::get(format!("http://{next}/seen"))
                        .body(Empty::new())
                        .unwrap();
                    let resp = client.oneshot(req).await.expect("next hop answers");
                    resp.status()
                }
            }),
        )
        .layer(server);
    serve(app).await
}

/// Sends `GET /hop` with the given headers (no tracing on this side) and
/// returns what the next hop received.
async fn hop(capture: &Capture, headers: &[(&str, &str)]) -> HeaderMap {
    let (next, seen) = next_hop().await;
    let addr = traced_service(capture, next).await;
    let mut req = Request::get(format!("http://{addr}/hop"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let resp = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    seen.remove(0)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} not received"))
        .to_str()
        .unwrap()
}

// "Vendors receiving a `tracestate` request header MUST send it to outgoing
// requests." Keys follow `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`
// with `keychar = lcalpha / DIGIT / "_" / "-"/ "*" / "/" / "@"`, so
// `foo@@bar` and a 241-character tenant with a 14-character system are
// valid, though opentelemetry's `TraceState` refuses both. And: "If the flag
// is set in the incoming `traceparent` header, it MUST also be set in all
// outgoing `traceparent` headers which use the same `trace-id`."
#[tokio::test]
async fn level2_tracestate_and_flags_reach_the_next_hop_byte_exact_and_in_order() {
    let capture = Capture::new();
    let multi_tenant = format!("{}@{}", "t".repeat(241), "v".repeat(14));
    let tracestate = format!("foo@@bar=1,{multi_tenant}=x y,congo=t61rcWkgMzE");
    let received = hop(
        &capture,
        &[
            ("traceparent", &format!("00-{TRACE_ID}-{PARENT_ID}-03")),
            ("tracestate", &tracestate),
        ],
    )
    .await;

    assert_eq!(header(&received, "tracestate"), tracestate);
    let traceparent = header(&received, "traceparent");
    assert!(
        traceparent.starts_with(&format!("00-{TRACE_ID}-")),
        "{traceparent}"
    );
    assert!(traceparent.ends_with("-03"), "{traceparent}");
    // The parent of the next hop is the client span, not the caller's span.
    let client = capture.span("GET");
    assert_eq!(&traceparent[36..52], client.span_id().to_string());
}

// "If the flag is set in the incoming `traceparent` header, it MUST also be
// set in all outgoing `traceparent` headers which use the same `trace-id`."
// with the sampled flag unset: the service records nothing and still
// forwards `-02`. The SDK builds an unsampled span's flags as
// `TraceFlags::default()`; the instrument core's span start
// (`otel_kit_core::instrument::SpanStarter`) keeps the random bit, in the server
// span and in the client span alike.
#[tokio::test]
async fn random_but_unsampled_reaches_the_next_hop_as_02() {
    let capture = Capture::builder()
        .sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
        .build();
    let received = hop(
        &capture,
        &[("traceparent", &format!("00-{TRACE_ID}-{PARENT_ID}-02"))],
    )
    .await;
    let traceparent = header(&received, "traceparent");
    assert!(
        traceparent.starts_with(&format!("00-{TRACE_ID}-")),
        "{traceparent}"
    );
    assert!(traceparent.ends_with("-02"), "{traceparent}");
}
