//! Per-message overhead of the WebSocket instrumentation: one round trip
//! (a text message sent by a plain tokio-tungstenite client, echoed by an
//! axum server) over loopback, with the server bare (axum's
//! `WebSocketUpgrade`) and instrumented (`TracedWebSocketUpgrade` behind
//! `ServerLayer`; each round trip is a `receive` span, its handler run
//! inside it, and a `send` span, with the metrics): every message sampled
//! (no rate limit), unsampled (`AlwaysOff`), and rate-limited (the default
//! 100 message spans a second: past the first second, messages are counted
//! but get no span). A BatchSpanProcessor whose exporter does nothing.
//!
//! ```text
//! cargo bench -p otel-kit-http --features ws --bench websocket -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Profile mode, for instruction counts that repeat on a busy machine: with
//! `OTEL_WS_PROFILE=<variant>:<round trips>` (variant `bare`, `sampled`,
//! `unsampled`, `rate_limited`) the binary makes that many round trips of
//! one variant and exits. Per-round-trip instructions =
//! (Ir at 2N − Ir at N) / N:
//!
//! ```text
//! OTEL_WS_PROFILE=sampled:2000 valgrind --tool=callgrind target/release/deps/websocket-*
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::WebSocketUpgrade;
use axum::extract::ws::Message;
use axum::routing::get;
use axum::{Extension, response::Response};
use criterion::{Criterion, criterion_group};
use futures::{SinkExt, StreamExt};
use otel_kit_core::opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
};
use otel_kit_core::opentelemetry_sdk::testing::trace::NoopSpanExporter;
use otel_kit_core::opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use otel_kit_http::server::ServerLayer;
use otel_kit_http::ws::{TracedWebSocketUpgrade, WsInstrumentation};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message as TMessage;

async fn bare(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            if let Message::Text(t) = msg
                && socket.send(Message::Text(t)).await.is_err()
            {
                return;
            }
        }
    })
}

async fn traced(ws: TracedWebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            let reply = msg.handle(async |m| m.into_text().ok()).await;
            if let Some(t) = reply
                && socket.send(Message::Text(t)).await.is_err()
            {
                return;
            }
        }
    })
}

#[derive(Clone, Copy)]
enum Variant {
    Bare,
    Sampled,
    Unsampled,
    RateLimited,
}

async fn serve(variant: Variant) -> (SocketAddr, Option<(SdkTracerProvider, SdkMeterProvider)>) {
    let app = match variant {
        Variant::Bare => (Router::new().route("/ws", get(bare)), None),
        _ => {
            let tracer_provider = SdkTracerProvider::builder()
                .with_sampler(match variant {
                    Variant::Unsampled => Sampler::AlwaysOff,
                    _ => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
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
            let mut ws = WsInstrumentation::builder()
                .tracer_provider(&tracer_provider)
                .meter_provider(&meter_provider);
            if !matches!(variant, Variant::RateLimited) {
                ws = ws.unlimited_message_spans();
            }
            let router = Router::new()
                .route("/ws", get(traced))
                .layer(Extension(ws.build()))
                .layer(
                    ServerLayer::builder()
                        .tracer_provider(&tracer_provider)
                        .meter_provider(&meter_provider)
                        .build(),
                );
            (router, Some((tracer_provider, meter_provider)))
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (router, providers) = app;
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, providers)
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let mut group = c.benchmark_group("websocket_round_trip");
    for (name, variant) in [
        ("bare", Variant::Bare),
        ("sampled", Variant::Sampled),
        ("unsampled", Variant::Unsampled),
        ("rate_limited", Variant::RateLimited),
    ] {
        let (addr, providers) = rt.block_on(serve(variant));
        let (mut client, _) = rt
            .block_on(tokio_tungstenite::connect_async(format!("ws://{addr}/ws")))
            .unwrap();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        client.send(TMessage::text("hello")).await.unwrap();
                        let reply = client.next().await.unwrap().unwrap();
                        std::hint::black_box(reply);
                    }
                    start.elapsed()
                })
            })
        });
        rt.block_on(async {
            let _ = client.close(None).await;
        });
        if let Some((tp, mp)) = providers {
            let _ = tp.shutdown();
            let _ = mp.shutdown();
        }
    }
    group.finish();
}

criterion_group!(benches, bench);

/// `OTEL_WS_PROFILE=<variant>:<n>`: `n` round trips of one variant.
fn profile(spec: &str) {
    let (name, n) = spec.split_once(':').expect("OTEL_WS_PROFILE=<variant>:<n>");
    let n: u64 = n.parse().expect("a number of round trips");
    let variant = match name {
        "bare" => Variant::Bare,
        "sampled" => Variant::Sampled,
        "unsampled" => Variant::Unsampled,
        "rate_limited" => Variant::RateLimited,
        other => panic!("unknown variant {other}"),
    };
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let (addr, providers) = serve(variant).await;
        let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        for _ in 0..n {
            client.send(TMessage::text("hello")).await.unwrap();
            std::hint::black_box(client.next().await.unwrap().unwrap());
        }
        let _ = client.close(None).await;
        if let Some((tp, mp)) = providers {
            let _ = tp.shutdown();
            let _ = mp.shutdown();
        }
    });
}

fn main() {
    if let Ok(spec) = std::env::var("OTEL_WS_PROFILE") {
        profile(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
