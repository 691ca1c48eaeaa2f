//! Fixed-work NATS publish loop for instruction counting (callgrind):
//! connects to `OTEL_TEST_NATS_URL` (default `nats://127.0.0.1:4222`),
//! publishes `N` messages of `SIZE` bytes with the chosen variant and ends
//! with a server round trip. Per-message instructions are
//! `(Ir(2N) - Ir(N)) / N`, which cancels start-up and connection costs:
//!
//! ```text
//! cargo bench -p otel-kit-messaging --features nats --bench nats_publish_ir --no-run
//! valgrind --tool=callgrind --callgrind-out-file=cg.%p \
//!     target/release/deps/nats_publish_ir-<hash> traced 2000 128
//! ```
//!
//! A bench target without the criterion harness: `cargo bench` runs it
//! with no variant, and it then only prints this usage.
//!
//! Variants: `raw` (`Client::publish`), `header` (`publish_with_headers`
//! with one `traceparent`), `traced` (`TracedClient::publish`, SDK tracer
//! with a batch processor over an exporter that drops everything, SDK meter
//! provider whose reader does not export during the run), `unsampled`
//! (as `traced` with an always-off sampler), `span` (no publish: the SDK
//! floor, starting and ending one span per message with the same tracer
//! provider, no attributes, no metrics).

use std::time::Duration;

use bytes::Bytes;
use otel_kit_core::opentelemetry::global;
use otel_kit_core::opentelemetry::trace::{Span, Tracer, TracerProvider};
use otel_kit_core::opentelemetry_sdk::error::OTelSdkResult;
use otel_kit_core::opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
};
use otel_kit_core::opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_messaging::Instrumentation;
use otel_kit_messaging::nats::{TracedClient, async_nats};

#[derive(Debug)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

fn usage() -> ! {
    eprintln!("usage: nats_publish_ir raw|header|traced|unsampled|span N SIZE");
    std::process::exit(2)
}

fn main() {
    // `cargo bench` passes `--bench`; only the positional arguments count.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.is_empty() {
        eprintln!("nats_publish_ir: no variant given, nothing to measure");
        eprintln!("usage: nats_publish_ir raw|header|traced|unsampled|span N SIZE");
        return;
    }
    let [variant, n, size] = args.as_slice() else {
        usage()
    };
    let (Ok(n), Ok(size)) = (n.parse::<usize>(), size.parse::<usize>()) else {
        usage()
    };
    global::set_text_map_propagator(TraceContextPropagator::new());
    let sampler = if variant == "unsampled" {
        Sampler::AlwaysOff
    } else {
        Sampler::AlwaysOn
    };
    let tracer_provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(BatchSpanProcessor::builder(NoopExporter).build())
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url =
        std::env::var("OTEL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    rt.block_on(async {
        let client = async_nats::connect(url).await.expect("NATS server");
        let traced = TracedClient::new(
            client.clone(),
            Instrumentation::builder()
                .tracer_provider(&tracer_provider)
                .meter_provider(&meter_provider)
                .build(),
        );
        let tracer = tracer_provider.tracer("floor");
        let subject = format!("bench.ir.{}", std::process::id());
        let payload = Bytes::from(vec![7u8; size]);
        let mut header = async_nats::HeaderMap::new();
        header.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        for _ in 0..n {
            match variant.as_str() {
                "raw" => client.publish(subject.clone(), payload.clone()).await,
                "header" => {
                    client
                        .publish_with_headers(subject.clone(), header.clone(), payload.clone())
                        .await
                }
                "traced" | "unsampled" => traced.publish(subject.clone(), payload.clone()).await,
                "span" => {
                    tracer.start("span").end();
                    Ok(())
                }
                _ => usage(),
            }
            .expect("publish");
        }
        // Server round trip: the server answers "no responders" after it
        // has processed every message published before.
        let answer = client.request(format!("{subject}.rtt"), Bytes::new()).await;
        assert!(answer.is_err(), "nobody listens on the round-trip subject");
    });
    let _ = tracer_provider.shutdown();
    let _ = meter_provider.shutdown();
}
