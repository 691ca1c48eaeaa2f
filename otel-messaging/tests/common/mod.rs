//! Shared test helpers: a capture wired into an `Instrumentation`, unique
//! names, broker URLs.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use otel_kit_core::opentelemetry::global;
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_core::testing::Capture;
use otel_kit_messaging::{Instrumentation, InstrumentationBuilder};

/// Bounded wait for one delivery.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(10);

pub fn propagator() {
    global::set_text_map_propagator(TraceContextPropagator::new());
}

pub fn capture() -> Capture {
    propagator();
    Capture::new()
}

pub fn builder(capture: &Capture) -> InstrumentationBuilder {
    Instrumentation::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
}

pub fn instrumentation(capture: &Capture) -> Instrumentation {
    builder(capture).build()
}

/// A name unique to this test run and call.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn nats_url() -> String {
    std::env::var("OTEL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

pub fn amqp_url() -> String {
    std::env::var("OTEL_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// A valid traceparent with a sampled flag.
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The process span's relation to the send span its message came from, as
/// `mode` defines it: a new trace linking to it (`Link`) or its child
/// (`Parent`).
pub fn assert_process_follows(
    mode: otel_kit_messaging::ProcessMode,
    process: &otel_kit_core::testing::CapturedSpan,
    send: &otel_kit_core::testing::CapturedSpan,
) {
    use otel_kit_core::testing::{assert_linked, assert_parent, assert_root};
    match mode {
        otel_kit_messaging::ProcessMode::Link => {
            assert_root(process);
            assert_linked(process, send);
        }
        otel_kit_messaging::ProcessMode::Parent => assert_parent(process, send),
    }
}
