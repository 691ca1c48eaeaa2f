//! otel-kit-http's server layer side by side with the peers a user would pick
//! instead, in one run: per-request cost through `Service::call` (no
//! sockets) of an axum `GET /users/{id}` router, current-thread runtime,
//! sampled `traceparent` on every request, BatchSpanProcessor with an
//! exporter that does nothing, the global propagator set to W3C trace
//! context for everyone, the response body collected (so every span has
//! ended inside the measured time).
//!
//! - `bare`: the router alone.
//! - `floor`: only the work any OpenTelemetry server instrumentation must do
//!   per request with these providers, inline instead of a layer
//!   (otel-kit-http's `benches/floor/mod.rs`): no layer can cost less than its
//!   overhead, so a ratio target below `floor / peer` cannot be met.
//! - `otel_kit_http`: `otel_kit_http::server::ServerLayer` (traces + metrics, and
//!   `_no_metrics`).
//! - `instrumentation_tower`: opentelemetry-instrumentation-tower 0.19 with
//!   its `axum` feature (traces + metrics, and `_no_metrics`); it reads the
//!   global providers when built, so they are set before each build.
//! - `axum_tracing_otel`: axum-tracing-opentelemetry 0.42 with a
//!   tracing-opentelemetry 0.34 subscriber that lets `otel::tracing` TRACE
//!   through (its spans are made there); no JSON log layer.
//! - `tower_http_trace`: tower-http 0.7 `TraceLayer::new_for_http()` with
//!   tracing-opentelemetry 0.34 (no `traceparent` extraction, by design).
//!
//! Each variant runs with the sampler `ParentBased(AlwaysOn)` (`sampled`)
//! and `AlwaysOff` (`unsampled`). The tracing-based variants install their
//! subscriber as the thread's default only while they run.
//!
//! ```text
//! cargo bench -p otel-benchmarks --bench http_peers -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use http::Request;
use http_body_util::BodyExt;
use otel_kit_core::opentelemetry::global;
use otel_kit_core::opentelemetry::trace::TracerProvider as _;
use otel_kit_core::opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
};
use otel_kit_core::opentelemetry_sdk::propagation::TraceContextPropagator;
use otel_kit_core::opentelemetry_sdk::testing::trace::NoopSpanExporter;
use otel_kit_core::opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tower::ServiceExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

#[path = "../../otel-http/benches/floor/mod.rs"]
mod floor;

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
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    (tracer_provider, meter_provider)
}

fn run(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    router: Router,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let resp = router.clone().oneshot(request()).await.unwrap();
                    black_box(resp.into_body().collect().await.unwrap().to_bytes());
                }
                start.elapsed()
            })
        })
    });
}

fn bench(c: &mut Criterion) {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("http_peers");
    run(&mut group, &rt, "bare", app());

    for sampled in [true, false] {
        let suffix = if sampled { "sampled" } else { "unsampled" };

        // The floor (not a layer).
        {
            let (tp, mp) = providers(sampled);
            let floor = floor::Floor::new(app(), &tp, &mp);
            group.bench_function(format!("floor/{suffix}"), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            black_box(floor.request(request()).await);
                        }
                        start.elapsed()
                    })
                })
            });
            let _ = tp.shutdown();
            let _ = mp.shutdown();
        }

        // otel-kit-http
        for metrics in [true, false] {
            let (tp, mp) = providers(sampled);
            let layer = otel_kit_http::server::ServerLayer::builder()
                .tracer_provider(&tp)
                .meter_provider(&mp)
                .metrics(metrics)
                .build();
            let name = if metrics {
                format!("otel_kit_http/{suffix}")
            } else {
                format!("otel_http_no_metrics/{suffix}")
            };
            run(&mut group, &rt, &name, app().layer(layer));
            let _ = tp.shutdown();
            let _ = mp.shutdown();
        }

        // opentelemetry-instrumentation-tower (reads the globals at build).
        for metrics in [true, false] {
            let (tp, mp) = providers(sampled);
            global::set_tracer_provider(tp.clone());
            global::set_meter_provider(mp.clone());
            let layer = opentelemetry_instrumentation_tower::http::server::LayerBuilder::builder()
                .with_metrics(metrics)
                .build()
                .unwrap();
            let name = if metrics {
                format!("instrumentation_tower/{suffix}")
            } else {
                format!("instrumentation_tower_no_metrics/{suffix}")
            };
            run(&mut group, &rt, &name, app().layer(layer));
            let _ = tp.shutdown();
            let _ = mp.shutdown();
        }

        // axum-tracing-opentelemetry
        {
            let (tp, mp) = providers(sampled);
            let subscriber = tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(tp.tracer("bench")))
                .with(Targets::new().with_target("otel::tracing", LevelFilter::TRACE));
            let _guard = tracing::subscriber::set_default(subscriber);
            let router = app()
                .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
                .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default());
            run(
                &mut group,
                &rt,
                &format!("axum_tracing_otel/{suffix}"),
                router,
            );
            let _ = tp.shutdown();
            let _ = mp.shutdown();
        }

        // tower-http TraceLayer + tracing-opentelemetry
        {
            let (tp, mp) = providers(sampled);
            let subscriber = tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(tp.tracer("bench")))
                .with(Targets::new().with_target("tower_http", LevelFilter::DEBUG));
            let _guard = tracing::subscriber::set_default(subscriber);
            let router = app().layer(tower_http::trace::TraceLayer::new_for_http());
            run(
                &mut group,
                &rt,
                &format!("tower_http_trace/{suffix}"),
                router,
            );
            let _ = tp.shutdown();
            let _ = mp.shutdown();
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
