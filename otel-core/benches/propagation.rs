//! W3C `traceparent` extract and inject: ours against the SDK's
//! `TraceContextPropagator`, in the same run.
//!
//! - `extract/*/header_map`: an `http::HeaderMap` carrying a `traceparent` → `Context`.
//! - `inject/*/header_map`: a `Context` with a remote span → `http::HeaderMap`.
//! - `extract/otel_kit_core/raw_parse`: `&str` → remote `SpanContext` (no allocation).
//! - `inject/otel_kit_core/raw_format`: `SpanContext` → 55-byte stack buffer (no allocation).
//! - `*/otel_kit_core/tracestate`: the same with `tracestate: congo=…,rojo=…`.
//! - `*/otel_kit_core/tracestate_level2`: with a Level 2 key `TraceState` refuses
//!   (`foo@@bar=1,congo=…`), carried in the `Context` as a `RawTraceState`.
//!
//! Run: `cargo bench -p otel-kit-core --bench propagation -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator as SdkTraceContextPropagator;
use otel_kit_core::propagation::{
    HeaderExtractor, HeaderInjector, TraceContextPropagator, TraceParent,
};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACESTATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
const TRACESTATE_LEVEL2: &str = "foo@@bar=1,congo=t61rcWkgMzE";

fn headers_with(tracestate: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    headers.insert("tracestate", HeaderValue::from_str(tracestate).unwrap());
    headers
}

fn span_context() -> SpanContext {
    SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId::from(0x00f0_67aa_0ba9_02b7),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    )
}

fn extract(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    headers.insert("accept", HeaderValue::from_static("*/*"));
    headers.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    let base = Context::new();
    let ours = TraceContextPropagator::new();
    let sdk = SdkTraceContextPropagator::new();

    // Sanity: both see the same trace before we time anything.
    let a = ours.extract_with_context(&base, &HeaderExtractor(&headers));
    let b = sdk.extract_with_context(&base, &HeaderExtractor(&headers));
    assert_eq!(a.span().span_context(), b.span().span_context());

    let mut group = c.benchmark_group("extract");
    group.bench_function("otel_kit_core/raw_parse", |bench| {
        bench.iter(|| {
            TraceParent::parse(black_box(TRACEPARENT))
                .map(|parent| parent.to_span_context(TraceState::NONE))
        })
    });
    group.bench_function("otel_kit_core/header_map", |bench| {
        bench.iter(|| ours.extract_with_context(&base, &HeaderExtractor(black_box(&headers))))
    });
    group.bench_function("sdk/header_map", |bench| {
        bench.iter(|| sdk.extract_with_context(&base, &HeaderExtractor(black_box(&headers))))
    });
    for (name, tracestate) in [
        ("otel_kit_core/tracestate", TRACESTATE),
        ("otel_kit_core/tracestate_level2", TRACESTATE_LEVEL2),
    ] {
        let headers = headers_with(tracestate);
        group.bench_function(name, |bench| {
            bench.iter(|| ours.extract_with_context(&base, &HeaderExtractor(black_box(&headers))))
        });
    }
    group.finish();
}

fn inject(c: &mut Criterion) {
    let sc = span_context();
    let cx = Context::new().with_remote_span_context(sc.clone());
    let ours = TraceContextPropagator::new();
    let sdk = SdkTraceContextPropagator::new();

    // Sanity: the same traceparent from both.
    let (mut a, mut b) = (HeaderMap::new(), HeaderMap::new());
    ours.inject_context(&cx, &mut HeaderInjector(&mut a));
    sdk.inject_context(&cx, &mut HeaderInjector(&mut b));
    assert_eq!(a.get("traceparent"), b.get("traceparent"));
    assert_eq!(a["traceparent"], TRACEPARENT);

    let mut group = c.benchmark_group("inject");
    group.bench_function("otel_kit_core/raw_format", |bench| {
        bench.iter(|| TraceParent::format(black_box(&sc)))
    });
    group.bench_function("otel_kit_core/header_map", |bench| {
        let mut headers = HeaderMap::new();
        bench.iter(|| ours.inject_context(black_box(&cx), &mut HeaderInjector(&mut headers)))
    });
    group.bench_function("sdk/header_map", |bench| {
        let mut headers = HeaderMap::new();
        bench.iter(|| sdk.inject_context(black_box(&cx), &mut HeaderInjector(&mut headers)))
    });
    for (name, tracestate) in [
        ("otel_kit_core/tracestate", TRACESTATE),
        ("otel_kit_core/tracestate_level2", TRACESTATE_LEVEL2),
    ] {
        // The context a server layer injects from: extracted, then a local child.
        let extracted =
            ours.extract_with_context(&Context::new(), &HeaderExtractor(&headers_with(tracestate)));
        let parent = extracted.span().span_context().clone();
        let child = extracted.with_remote_span_context(SpanContext::new(
            parent.trace_id(),
            SpanId::from(0x1111_2222_3333_4444),
            parent.trace_flags(),
            false,
            parent.trace_state().clone(),
        ));
        let mut check = HeaderMap::new();
        ours.inject_context(&child, &mut HeaderInjector(&mut check));
        assert!(check.contains_key("tracestate"));
        group.bench_function(name, |bench| {
            let mut headers = HeaderMap::new();
            bench.iter(|| ours.inject_context(black_box(&child), &mut HeaderInjector(&mut headers)))
        });
    }
    group.finish();
}

criterion_group!(benches, extract, inject);
criterion_main!(benches);
