//! otel-kit-http's reqwest middleware side by side with reqwest-tracing, the
//! client-side peer, in one run: per-request cost of
//! `reqwest_middleware::ClientWithMiddleware::get(..).send()` with no
//! network (the last middleware answers `200` itself, so only the
//! middleware stack and reqwest's request building are measured), current
//! thread runtime, BatchSpanProcessor with an exporter that does nothing.
//!
//! - `bare`: the stack with only the answering middleware.
//! - `otel_kit_http`: `otel_kit_http::client::TracingMiddleware` (traces + metrics,
//!   and `_no_metrics`), explicit providers, the SDK's W3C propagator as the
//!   global one (it injects `traceparent`).
//! - `reqwest_tracing`: reqwest-tracing 0.7 `TracingMiddleware::default()`
//!   with a tracing-opentelemetry 0.34 subscriber letting `reqwest_tracing`
//!   INFO through (its spans are made there). Its OpenTelemetry features
//!   stop at 0.32, so with opentelemetry 0.33 it runs without one: its
//!   spans are exported through the bridge, but it injects no `traceparent`
//!   (less work than ours, by design of that setup).
//!
//! Each variant runs with `ParentBased(AlwaysOn)` (`sampled`; the client
//! spans are roots) and `AlwaysOff` (`unsampled`).
//!
//! ```text
//! cargo bench -p otel-benchmarks --bench http_client_peers -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use http::Extensions;
use otel_kit_core::opentelemetry::global;
use otel_kit_core::opentelemetry::trace::TracerProvider as _;
use otel_kit_core::opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
};
use otel_kit_core::opentelemetry_sdk::propagation::TraceContextPropagator;
use otel_kit_core::opentelemetry_sdk::testing::trace::NoopSpanExporter;
use otel_kit_core::opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

/// Answers every request with `200` and a small JSON body, without network.
struct Answer;

#[async_trait::async_trait]
impl Middleware for Answer {
    async fn handle(
        &self,
        _req: reqwest::Request,
        _extensions: &mut Extensions,
        _next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let response = http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body("{\"id\":42}")
            .expect("response");
        Ok(reqwest::Response::from(response))
    }
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
    client: ClientWithMiddleware,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let resp = client
                        .get("http://api.example/users/42")
                        .send()
                        .await
                        .unwrap();
                    black_box(resp.bytes().await.unwrap());
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
    let reqwest_client = reqwest::Client::new();
    let mut group = c.benchmark_group("http_client_peers");
    run(
        &mut group,
        &rt,
        "bare",
        ClientBuilder::new(reqwest_client.clone())
            .with(Answer)
            .build(),
    );

    for sampled in [true, false] {
        let suffix = if sampled { "sampled" } else { "unsampled" };

        for metrics in [true, false] {
            let (tp, mp) = providers(sampled);
            let middleware = otel_kit_http::client::TracingMiddleware::builder()
                .tracer_provider(&tp)
                .meter_provider(&mp)
                .metrics(metrics)
                .build_middleware();
            let name = if metrics {
                format!("otel_kit_http/{suffix}")
            } else {
                format!("otel_http_no_metrics/{suffix}")
            };
            let client = ClientBuilder::new(reqwest_client.clone())
                .with(middleware)
                .with(Answer)
                .build();
            run(&mut group, &rt, &name, client);
            let _ = tp.shutdown();
            let _ = mp.shutdown();
        }

        {
            let (tp, mp) = providers(sampled);
            let subscriber = tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(tp.tracer("bench")))
                .with(Targets::new().with_target("reqwest_tracing", LevelFilter::INFO));
            let _guard = tracing::subscriber::set_default(subscriber);
            let client = ClientBuilder::new(reqwest_client.clone())
                .with(reqwest_tracing::TracingMiddleware::default())
                .with(Answer)
                .build();
            run(
                &mut group,
                &rt,
                &format!("reqwest_tracing/{suffix}"),
                client,
            );
            let _ = tp.shutdown();
            let _ = mp.shutdown();
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
