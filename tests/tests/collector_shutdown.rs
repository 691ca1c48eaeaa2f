//! Shutdown guarantees under load, on every kind of runtime and from inside
//! and outside one (the quiet cases, a burst then a guard drop, are in
//! `export.rs`):
//! - a clean shutdown delivers every span ended before it, counted exactly,
//!   within the export timeout, while many spans are still queued;
//! - with a collector that accepts connections but never answers, shutdown
//!   returns within its timeout: no deadlock, no "no reactor running" panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use otel_kit_core::Telemetry;
use otel_kit_core::config::Environment;
use otel_kit_core::opentelemetry::trace::{Span as _, Tracer as _};
use otel_tests::collector::Collector;

/// `OTEL_EXPORTER_OTLP_TIMEOUT` of these tests, milliseconds.
const EXPORT_TIMEOUT_MS: u64 = 10_000;
/// Spans each producer ends before shutdown.
const PER_PRODUCER: u64 = 2_000;
const PRODUCERS: u64 = 4;

fn setup(endpoint: &str, protocol: &str, timeout_ms: u64) -> Telemetry {
    let timeout = timeout_ms.to_string();
    Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_SERVICE_NAME", "shutdown"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", timeout.as_str()),
            // Room for everything: this is about shutdown, not drops.
            ("OTEL_BSP_MAX_QUEUE_SIZE", "65536"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]))
        .install_global(false)
        .strict(true)
        .install()
        .expect("setup")
}

fn endpoint(collector: &Collector, protocol: &str) -> String {
    if protocol == "grpc" {
        collector.grpc_endpoint()
    } else {
        collector.http_endpoint()
    }
}

/// Ends `PRODUCERS * PER_PRODUCER` spans from concurrent tasks (the batch
/// processor exports meanwhile), returns how many were ended.
async fn load(telemetry: &Telemetry) -> u64 {
    let ended = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for p in 0..PRODUCERS {
        let tracer = telemetry.tracer("load");
        let ended = ended.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_PRODUCER {
                tracer.start(format!("p{p} s{i}")).end();
                ended.fetch_add(1, Ordering::Relaxed);
                if i % 200 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("producer");
    }
    ended.load(Ordering::Relaxed)
}

/// How the guard is shut down.
#[derive(Clone, Copy, Debug)]
enum Stop {
    AsyncShutdown,
    Drop,
}

async fn no_span_lost(protocol: &str, stop: Stop) {
    let collector = Collector::start();
    let telemetry = setup(&endpoint(&collector, protocol), protocol, EXPORT_TIMEOUT_MS);
    let ended = load(&telemetry).await;
    let stats = telemetry.export_stats();
    let started = Instant::now();
    match stop {
        Stop::AsyncShutdown => telemetry.shutdown().await.expect("clean shutdown"),
        // Dropped on the runtime's thread (on a current-thread runtime, its
        // only one): the flush must not need it.
        Stop::Drop => drop(telemetry),
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(EXPORT_TIMEOUT_MS + 1000),
        "{protocol} {stop:?}: shutdown took {took:?}"
    );
    assert_eq!(stats.spans_dropped, 0, "{stats:?}");
    let spans = collector
        .wait_for_spans_async(ended as usize, Duration::from_secs(30))
        .await;
    // Nothing more arrives than was ended.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids: Vec<String> = collector.spans().into_iter().map(|s| s.span_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len() as u64,
        ended,
        "{protocol} {stop:?}: {} spans arrived ({} unique) of {ended} ended before shutdown",
        spans.len(),
        ids.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_loses_nothing_on_a_multi_thread_runtime() {
    for protocol in ["grpc", "http/protobuf"] {
        no_span_lost(protocol, Stop::AsyncShutdown).await;
        no_span_lost(protocol, Stop::Drop).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_under_load_loses_nothing_on_a_current_thread_runtime() {
    for protocol in ["grpc", "http/protobuf"] {
        no_span_lost(protocol, Stop::AsyncShutdown).await;
        no_span_lost(protocol, Stop::Drop).await;
    }
}

#[test]
fn shutdown_blocking_outside_a_runtime_loses_nothing_under_load() {
    for protocol in ["grpc", "http/protobuf"] {
        let collector = Collector::start();
        let mut telemetry = setup(&endpoint(&collector, protocol), protocol, EXPORT_TIMEOUT_MS);
        // Producers on plain threads: no runtime anywhere in this test.
        let stop = AtomicBool::new(false);
        let ended = AtomicU64::new(0);
        std::thread::scope(|s| {
            for p in 0..PRODUCERS {
                let tracer = telemetry.tracer("load");
                let (stop, ended) = (&stop, &ended);
                s.spawn(move || {
                    for i in 0..PER_PRODUCER {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        tracer.start(format!("p{p} s{i}")).end();
                        ended.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        stop.store(true, Ordering::Relaxed);
        let ended = ended.load(Ordering::Relaxed);
        let started = Instant::now();
        telemetry.shutdown_blocking().expect("clean shutdown");
        assert!(started.elapsed() < Duration::from_millis(EXPORT_TIMEOUT_MS + 1000));
        let spans = collector.wait_for_spans(ended as usize, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(300));
        let mut ids: Vec<String> = collector.spans().into_iter().map(|s| s.span_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len() as u64,
            ended,
            "{protocol}: {} arrived",
            spans.len()
        );
    }
}

/// A collector that accepts TCP connections and never answers: exports hang
/// until their timeout (a refused connection would fail at once).
fn black_hole() -> (String, std::thread::JoinHandle<()>, Arc<AtomicBool>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let thread = std::thread::spawn(move || {
        let mut held = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((conn, _)) => held.push(conn),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    (format!("http://{addr}"), thread, done)
}

/// OTLP timeout of the unreachable-collector tests; shutdown may take this
/// plus one second (its default timeout).
const SHORT_TIMEOUT_MS: u64 = 1500;
/// A generous bound: catches a hang, does not measure speed.
const HANG: Duration = Duration::from_secs(10);

async fn unreachable_returns_in_time(stop: Stop) {
    for protocol in ["grpc", "http/protobuf"] {
        let (endpoint, thread, done) = black_hole();
        let telemetry = setup(&endpoint, protocol, SHORT_TIMEOUT_MS);
        let tracer = telemetry.tracer("unreachable");
        for i in 0..500 {
            tracer.start(format!("lost {i}")).end();
        }
        let started = Instant::now();
        match stop {
            // The result may be Ok: the batch may have been lost to a timed
            // out scheduled export before shutdown began. Only the time counts.
            Stop::AsyncShutdown => {
                let _ = telemetry.shutdown().await;
            }
            Stop::Drop => drop(telemetry),
        }
        let took = started.elapsed();
        assert!(took < HANG, "{protocol} {stop:?}: shutdown took {took:?}");
        done.store(true, Ordering::Relaxed);
        thread.join().expect("black hole");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn unreachable_collector_async_shutdown_returns_in_time_on_a_current_thread_runtime() {
    unreachable_returns_in_time(Stop::AsyncShutdown).await;
}

#[tokio::test(flavor = "current_thread")]
async fn unreachable_collector_guard_drop_returns_in_time_on_a_current_thread_runtime() {
    unreachable_returns_in_time(Stop::Drop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_collector_shutdown_returns_in_time_on_a_multi_thread_runtime() {
    unreachable_returns_in_time(Stop::AsyncShutdown).await;
    unreachable_returns_in_time(Stop::Drop).await;
}

#[test]
fn unreachable_collector_guard_drop_returns_in_time_outside_a_runtime() {
    for protocol in ["grpc", "http/protobuf"] {
        let (endpoint, thread, done) = black_hole();
        let telemetry = setup(&endpoint, protocol, SHORT_TIMEOUT_MS);
        let tracer = telemetry.tracer("unreachable");
        for i in 0..500 {
            tracer.start(format!("lost {i}")).end();
        }
        let started = Instant::now();
        drop(telemetry);
        assert!(
            started.elapsed() < HANG,
            "{protocol}: {:?}",
            started.elapsed()
        );
        done.store(true, Ordering::Relaxed);
        thread.join().expect("black hole");
    }
}
