//! otel-kit-grpc's server layer next to tonic-tracing-opentelemetry 0.42.1 (the
//! tonic layer users would pick instead; it resolves to opentelemetry
//! 0.33), per unary call: in-process `Service::call` on a current-thread
//! runtime, request with a sampled `traceparent`, response one message then
//! `grpc-status: 0` trailers, body drained. Spans go to a
//! BatchSpanProcessor whose exporter drops them.
//!
//! ```text
//! cargo bench -p otel-benchmarks --bench grpc_peers -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Set up as each documents itself: tonic-tracing-opentelemetry through a
//! `tracing` subscriber with the `tracing-opentelemetry` layer and a filter
//! letting its `otel::tracing` target through at TRACE, the W3C propagator
//! installed globally (it reads the global one). It ends its span when the
//! response headers arrive and never reads the trailers; otel-kit-grpc ends its
//! span at the trailers and also records the duration histogram (with a
//! live reader).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame};
use otel_kit_core::opentelemetry::global;
use otel_kit_core::opentelemetry::trace::TracerProvider as _;
use otel_kit_core::opentelemetry_sdk::error::OTelSdkResult;
use otel_kit_core::opentelemetry_sdk::metrics::data::ResourceMetrics;
use otel_kit_core::opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use otel_kit_core::opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use otel_kit_core::opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_grpc::GrpcServerLayer;
use tower::{Layer, Service, ServiceExt, service_fn};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

/// Keeps otel-kit-grpc's histogram live (a reader is attached) without exporting
/// during the run.
#[derive(Debug)]
struct DiscardMetrics;

impl PushMetricExporter for DiscardMetrics {
    async fn export(&self, _metrics: &ResourceMetrics) -> OTelSdkResult {
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

struct Reply {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

fn handler()
-> impl Service<Request<tonic::body::Body>, Response = Response<Reply>, Error = Infallible> + Clone
{
    service_fn(|_req: Request<tonic::body::Body>| async {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let response = Response::builder()
            .header("content-type", "application/grpc")
            .body(Reply {
                data: Some(Bytes::from_static(b"\0\0\0\0\x05hello")),
                trailers: Some(trailers),
            })
            .unwrap();
        Ok::<_, Infallible>(response)
    })
}

fn request() -> Request<tonic::body::Body> {
    Request::post("/shop.v1.Orders/GetOrder")
        .header("content-type", "application/grpc")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(tonic::body::Body::empty())
        .unwrap()
}

async fn drain<B: Body + Unpin>(mut body: B) {
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let _ = frame;
    }
}

fn tracer_provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(Discard).build())
        .with_sampler(sampler)
        .build()
}

fn bench(c: &mut Criterion) {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("grpc_server_unary");

    let bare = handler();
    group.bench_function("bare", |b| {
        b.iter(|| {
            rt.block_on(async {
                let resp = bare.clone().oneshot(request()).await.unwrap();
                drain(resp.into_body()).await;
            })
        })
    });

    for (label, sampler) in [
        ("sampled", Sampler::AlwaysOn),
        ("unsampled", Sampler::AlwaysOff),
    ] {
        let tp = tracer_provider(sampler.clone());
        let mp = SdkMeterProvider::builder()
            .with_reader(
                PeriodicReader::builder(DiscardMetrics)
                    .with_interval(std::time::Duration::from_secs(24 * 3600))
                    .build(),
            )
            .build();
        let ours = GrpcServerLayer::builder()
            .tracer_provider(&tp)
            .meter_provider(&mp)
            .propagator(TraceContextPropagator::new())
            .semconv_dup(false)
            .build()
            .layer(handler());
        group.bench_function(format!("otel_grpc_{label}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let resp = ours.clone().oneshot(request()).await.unwrap();
                    drain(resp.into_body()).await;
                })
            })
        });

        let peer_tp = tracer_provider(sampler);
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(peer_tp.tracer("peer")))
            .with(
                tracing_subscriber::filter::Targets::new()
                    .with_target("otel::tracing", tracing::Level::TRACE),
            );
        let dispatch = tracing::Dispatch::new(subscriber);
        let peer = tonic_tracing_opentelemetry::middleware::server::OtelGrpcLayer::default()
            .layer(handler());
        group.bench_function(format!("tonic_tracing_opentelemetry_{label}"), |b| {
            tracing::dispatcher::with_default(&dispatch, || {
                b.iter(|| {
                    rt.block_on(async {
                        let resp = peer.clone().oneshot(request()).await.unwrap();
                        drain(resp.into_body()).await;
                    })
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
