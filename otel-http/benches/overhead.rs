//! Per-request overhead of the server layer through `Service::call` (no
//! sockets): an axum `GET /users/{id}` router, bare and with
//! `ServerLayer` (sampled / unsampled, metrics on / off), on a
//! current-thread runtime, with a sampled `traceparent` on every request and
//! a BatchSpanProcessor whose exporter does nothing (the setup of
//! `/work/shared/PEERS.md`). The response body is collected, so the span
//! ends inside the measured time.
//!
//! ```text
//! cargo bench -p otel-kit-http --bench overhead -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! `bare_identity_layer`: the router with a layer that does nothing, added
//! with `Router::layer` (what axum's per-route layering costs any layer).
//! `floor_sampled` / `floor_unsampled`: the same requests with only the
//! work any OpenTelemetry server instrumentation must do, inline instead of
//! a layer (`benches/floor/mod.rs`); the layer's own cost is its distance to
//! the floor.
//!
//! Profile mode, for repeatable instruction counts under callgrind: with
//! `OTEL_HTTP_PROFILE=<variant>:<requests>` (variant `bare`,
//! `bare_identity_layer`, `sampled`, `unsampled`, `sampled_no_metrics`,
//! `unsampled_no_metrics`, `floor_sampled`, `floor_unsampled`) the binary
//! runs that many requests of one variant and exits, without criterion.
//! Per-request instructions = (Ir at 2N − Ir at N) / N.
//!
//! ```text
//! OTEL_HTTP_PROFILE=sampled:2000 valgrind --tool=callgrind target/release/deps/overhead-*
//! ```

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use http::Request;
use http_body_util::BodyExt;
use otel_kit_core::opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
};
use otel_kit_core::opentelemetry_sdk::testing::trace::NoopSpanExporter;
use otel_kit_core::opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_http::server::ServerLayer;
use tower::ServiceExt;

mod floor;
use floor::Floor;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn app() -> Router {
    Router::new().route(
        "/users/{id}",
        get(|Path(id): Path<u32>| async move { format!("{{\"id\":{id}}}") }),
    )
}

fn request() -> Request<Body> {
    Request::get("/users/42")
        .header("host", "api.example")
        .header("traceparent", TRACEPARENT)
        .header("user-agent", "bench/1")
        .body(Body::empty())
        .unwrap()
}

fn providers(sampled: bool) -> (SdkTracerProvider, SdkMeterProvider) {
    let tracer_provider = SdkTracerProvider::builder()
        .with_sampler(if sampled {
            Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
        } else {
            Sampler::AlwaysOff
        })
        .with_batch_exporter(NoopSpanExporter::new())
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(std::time::Duration::from_secs(3600))
                .build(),
        )
        .build();
    (tracer_provider, meter_provider)
}

fn instrumented(sampled: bool, metrics: bool) -> (Router, SdkTracerProvider, SdkMeterProvider) {
    let (tracer_provider, meter_provider) = providers(sampled);
    let layer = ServerLayer::builder()
        .tracer_provider(&tracer_provider)
        .meter_provider(&meter_provider)
        .propagator(TraceContextPropagator::new())
        .metrics(metrics)
        .build();
    (app().layer(layer), tracer_provider, meter_provider)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("server_overhead");
    let run = |router: &Router| {
        let router = router.clone();
        async move {
            let resp = router.oneshot(request()).await.unwrap();
            black_box(resp.into_body().collect().await.unwrap().to_bytes())
        }
    };

    let bare = app();
    group.bench_function("bare", |b| b.to_async(&rt).iter(|| run(&bare)));
    let identity = app().layer(tower::layer::util::Identity::new());
    group.bench_function("bare_identity_layer", |b| {
        b.to_async(&rt).iter(|| run(&identity))
    });
    for (name, sampled, metrics) in [
        ("ours_sampled", true, true),
        ("ours_unsampled", false, true),
        ("ours_sampled_no_metrics", true, false),
        ("ours_unsampled_no_metrics", false, false),
    ] {
        let (router, tp, mp) = instrumented(sampled, metrics);
        group.bench_function(name, |b| b.to_async(&rt).iter(|| run(&router)));
        let _ = tp.shutdown();
        let _ = mp.shutdown();
    }
    for (name, sampled) in [("floor_sampled", true), ("floor_unsampled", false)] {
        let (tp, mp) = providers(sampled);
        let floor = Floor::new(app(), &tp, &mp);
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(floor.request(request()).await) })
        });
        let _ = tp.shutdown();
        let _ = mp.shutdown();
    }
    group.finish();
}

/// `OTEL_HTTP_PROFILE=<variant>:<requests>`: runs one variant, no criterion.
fn profile(spec: &str) {
    let (variant, n) = spec.split_once(':').expect("<variant>:<requests>");
    let n: usize = n.parse().expect("request count");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(sampled) = match variant {
        "floor_sampled" => Some(true),
        "floor_unsampled" => Some(false),
        _ => None,
    } {
        let (tp, mp) = providers(sampled);
        let floor = Floor::new(app(), &tp, &mp);
        rt.block_on(async {
            for _ in 0..n {
                black_box(floor.request(request()).await);
            }
        });
        let _ = tp.shutdown();
        let _ = mp.shutdown();
        return;
    }
    let (router, providers) = match variant {
        "bare" => (app(), None),
        "bare_identity_layer" => (app().layer(tower::layer::util::Identity::new()), None),
        "sampled" | "unsampled" | "sampled_no_metrics" | "unsampled_no_metrics" => {
            let (r, tp, mp) = instrumented(
                variant.starts_with("sampled"),
                !variant.ends_with("no_metrics"),
            );
            (r, Some((tp, mp)))
        }
        other => panic!("unknown variant {other}"),
    };
    rt.block_on(async {
        for _ in 0..n {
            let resp = router.clone().oneshot(request()).await.unwrap();
            black_box(resp.into_body().collect().await.unwrap().to_bytes());
        }
    });
    if let Some((tp, mp)) = providers {
        let _ = tp.shutdown();
        let _ = mp.shutdown();
    }
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(spec) = std::env::var("OTEL_HTTP_PROFILE") {
        profile(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
