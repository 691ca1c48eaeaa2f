//! The floor of server instrumentation: what any OpenTelemetry layer must do
//! per request with the same SDK providers, written inline around the
//! router call instead of as a layer. Used by otel-kit-http's `overhead` bench
//! and by `otel-benchmarks`' `http_peers` (through `#[path]`), so that the
//! layer, the peers and this floor are measured in one run.
//!
//! Per request: W3C extraction from the `HeaderMap` (otel-kit-core's
//! propagator); an SDK span through the concrete `SdkTracer` with method,
//! scheme and route given to the sampler and, when it records, `url.path`,
//! `server.address`, `user_agent.original` and `network.protocol.version`;
//! the context attached whenever the handler or the body is polled;
//! `http.server.active_requests` ±1 and `http.server.request.duration` on
//! instruments bound once; the status code and the span's end after the
//! body. What it leaves out, a layer cannot: the route is known in advance,
//! no option is read, no body wrapper, no panic guard.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::metrics::{
    BoundHistogram, BoundUpDownCounter, MeterProvider as _,
};
use otel_kit_core::opentelemetry::propagation::TextMapPropagator as _;
use otel_kit_core::opentelemetry::trace::{
    FutureExt as _, Span as _, SpanBuilder, SpanKind, TraceContextExt as _, Tracer as _,
    TracerProvider as _,
};
use otel_kit_core::opentelemetry_sdk::metrics::SdkMeterProvider;
use otel_kit_core::opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use otel_kit_core::propagation::{HeaderExtractor, TraceContextPropagator};
use otel_kit_core::semconv::attribute as sc;
use tower::ServiceExt;

/// The router's one route, known in advance.
const ROUTE: &str = "/users/{id}";

/// The floor around one router, with its own instruments.
pub struct Floor {
    router: Router,
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
    active: BoundUpDownCounter<i64>,
    duration: BoundHistogram<f64>,
}

impl Floor {
    /// Records with these providers (the caller shuts them down).
    pub fn new(router: Router, tp: &SdkTracerProvider, mp: &SdkMeterProvider) -> Floor {
        let meter = mp.meter("floor");
        let method = KeyValue::new(sc::HTTP_REQUEST_METHOD, "GET");
        let scheme = KeyValue::new(sc::URL_SCHEME, "http");
        let active = meter
            .i64_up_down_counter("http.server.active_requests")
            .build()
            .bind(&[method.clone(), scheme.clone()]);
        let duration = meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .build()
            .bind(&[
                method,
                scheme,
                KeyValue::new(sc::HTTP_ROUTE, ROUTE),
                KeyValue::new(sc::HTTP_RESPONSE_STATUS_CODE, 200),
                KeyValue::new(sc::NETWORK_PROTOCOL_VERSION, "1.1"),
            ]);
        Floor {
            router,
            tracer: tp.tracer("floor"),
            propagator: TraceContextPropagator::new(),
            active,
            duration,
        }
    }

    /// One request through the router, instrumented; the collected body.
    pub async fn request(&self, req: Request<Body>) -> Bytes {
        let start = Instant::now();
        let parent = self.propagator.extract(&HeaderExtractor(req.headers()));
        let mut builder = SpanBuilder::from_name("GET /users/{id}");
        builder.span_kind = Some(SpanKind::Server);
        builder.attributes = Some(vec![
            KeyValue::new(sc::HTTP_REQUEST_METHOD, "GET"),
            KeyValue::new(sc::URL_SCHEME, "http"),
            KeyValue::new(sc::HTTP_ROUTE, ROUTE),
        ]);
        let mut span = self.tracer.build_with_context(builder, &parent);
        if span.is_recording() {
            let header = |name| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            span.set_attributes([
                KeyValue::new(sc::URL_PATH, req.uri().path().to_owned()),
                KeyValue::new(sc::SERVER_ADDRESS, header(http::header::HOST)),
                KeyValue::new(sc::USER_AGENT_ORIGINAL, header(http::header::USER_AGENT)),
                KeyValue::new(sc::NETWORK_PROTOCOL_VERSION, "1.1"),
            ]);
        }
        let cx = parent.with_span(span);
        self.active.add(1);
        let response = self
            .router
            .clone()
            .oneshot(req)
            .with_context(cx.clone())
            .await
            .expect("the router is infallible");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .with_context(cx.clone())
            .await;
        let span = cx.span();
        span.set_attribute(KeyValue::new(
            sc::HTTP_RESPONSE_STATUS_CODE,
            i64::from(status),
        ));
        span.end();
        self.active.add(-1);
        self.duration.record(start.elapsed().as_secs_f64());
        body.expect("the body is infallible").to_bytes()
    }
}
