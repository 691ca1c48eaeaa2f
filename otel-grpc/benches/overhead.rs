//! Per-call overhead of the otel-kit-grpc layers over a bare in-process unary
//! call: `Service::call` on a current-thread runtime (no sockets), the
//! request carrying a sampled `traceparent`, the response one message then
//! `grpc-status: 0` trailers, the body drained. Spans go to a
//! BatchSpanProcessor whose exporter drops them; metrics to a reader that never exports during the run.
//!
//! ```text
//! cargo bench -p otel-kit-grpc --bench overhead -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Profile mode, for repeatable instruction counts under callgrind: with
//! `OTEL_GRPC_PROFILE=<variant>:<calls>` (variant `bare`, `server_sampled`,
//! `server_unsampled`, `client_sampled`, `client_unsampled`) the binary runs
//! that many calls of one variant and exits, without criterion. Per-call
//! instructions = (Ir at 2N − Ir at N) / N.
//!
//! ```text
//! cargo bench -p otel-kit-grpc --bench overhead --no-run
//! OTEL_GRPC_PROFILE=server_sampled:2000 valgrind --tool=callgrind target/release/deps/overhead-*
//! ```

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame};
use otel_kit_core::opentelemetry_sdk::error::OTelSdkResult;
use otel_kit_core::opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
};
use otel_kit_core::opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_grpc::{GrpcClientLayer, GrpcServerLayer};
use tower::{Layer, Service, ServiceExt, service_fn};

#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

/// One data frame, then the trailers.
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

fn providers(sampler: Sampler) -> (SdkTracerProvider, SdkMeterProvider) {
    let tracer = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(Discard).build())
        .with_sampler(sampler)
        .build();
    let meter = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(std::time::Duration::from_secs(24 * 3600))
                .build(),
        )
        .build();
    (tracer, meter)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("grpc_unary");

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
        let (tp, mp) = providers(sampler);
        let server = GrpcServerLayer::builder()
            .tracer_provider(&tp)
            .meter_provider(&mp)
            .propagator(TraceContextPropagator::new())
            .semconv_dup(false)
            .build()
            .layer(handler());
        group.bench_function(format!("otel_grpc_server_{label}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let resp = server.clone().oneshot(request()).await.unwrap();
                    drain(resp.into_body()).await;
                })
            })
        });
        let client = GrpcClientLayer::builder()
            .target("http://orders:50051")
            .tracer_provider(&tp)
            .meter_provider(&mp)
            .propagator(TraceContextPropagator::new())
            .semconv_dup(false)
            .build()
            .layer(handler());
        group.bench_function(format!("otel_grpc_client_{label}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let resp = client.clone().oneshot(request()).await.unwrap();
                    drain(resp.into_body()).await;
                })
            })
        });
    }
    group.finish();
}

/// `OTEL_GRPC_PROFILE=<variant>:<calls>`: runs one variant, no criterion.
fn profile(spec: &str) {
    let (variant, n) = spec.split_once(':').expect("<variant>:<calls>");
    let n: usize = n.parse().expect("call count");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sampler = if variant.ends_with("_unsampled") {
        Sampler::AlwaysOff
    } else {
        Sampler::AlwaysOn
    };
    let (tp, mp) = providers(sampler);
    let server = GrpcServerLayer::builder()
        .tracer_provider(&tp)
        .meter_provider(&mp)
        .propagator(TraceContextPropagator::new())
        .semconv_dup(false)
        .build();
    let client = GrpcClientLayer::builder()
        .target("http://orders:50051")
        .tracer_provider(&tp)
        .meter_provider(&mp)
        .propagator(TraceContextPropagator::new())
        .semconv_dup(false)
        .build();
    rt.block_on(async {
        match variant {
            "bare" => {
                let svc = handler();
                for _ in 0..n {
                    let resp = svc.clone().oneshot(request()).await.unwrap();
                    drain(black_box(resp).into_body()).await;
                }
            }
            "server_sampled" | "server_unsampled" => {
                let svc = server.layer(handler());
                for _ in 0..n {
                    let resp = svc.clone().oneshot(request()).await.unwrap();
                    drain(black_box(resp).into_body()).await;
                }
            }
            "client_sampled" | "client_unsampled" => {
                let svc = client.layer(handler());
                for _ in 0..n {
                    let resp = svc.clone().oneshot(request()).await.unwrap();
                    drain(black_box(resp).into_body()).await;
                }
            }
            other => panic!("unknown variant {other}"),
        }
    });
    let _ = tp.shutdown();
    let _ = mp.shutdown();
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(spec) = std::env::var("OTEL_GRPC_PROFILE") {
        profile(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
