//! The Level 2 `random-trace-id` flag for traces this process starts.
//!
//! Trace Context Level 2: "When at least the right-most 7 bytes of the
//! `trace-id` are randomly (or pseudo-randomly) generated, the
//! `random-trace-id` flag SHOULD be set to `1`." The SDK's tracer builds the
//! flags of a root span itself (`sampled` or nothing) and has no hook for
//! another bit, and a span context cannot be changed once the span exists.
//! So the flag is added where it goes on the wire: [`RandomTraceIdGenerator`]
//! (installed by the setup) remembers the trace ids it hands out, in a small
//! fixed table, and [`TraceParent::from_span_context`](super::TraceParent::from_span_context)
//! sets the flag for a *local* span context whose trace id it finds there.
//!
//! The SDK asks the id generator for a trace id only when it starts a root
//! span, so a hit means "this process started the trace, with a random id".
//! A trace continued from a remote parent keeps the flags it came with (a
//! remote `traceparent` without the flag is never upgraded, as Level 2
//! requires for the same trace id). The table is bounded (4096 buckets of 7
//! recent ids each, 256 KiB, no locks): when more than 7 roots whose ids share
//! a bucket are started during one trace's life, that trace's later requests
//! go out without the flag (the safe side of a SHOULD).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

const BUCKETS: usize = 4096;
const WAYS: usize = 7;

/// One cache line: a round-robin cursor and the last seven trace ids
/// (their right-most 8 bytes; 0 means empty) whose left-most bytes chose it.
#[repr(align(64))]
struct Bucket {
    cursor: AtomicU64,
    ids: [AtomicU64; WAYS],
}

impl Bucket {
    const fn new() -> Self {
        Self {
            cursor: AtomicU64::new(0),
            ids: [const { AtomicU64::new(0) }; WAYS],
        }
    }
}

static STARTED_HERE: [Bucket; BUCKETS] = [const { Bucket::new() }; BUCKETS];
/// Whether any id was recorded: a process without the generator pays one load.
static IN_USE: AtomicBool = AtomicBool::new(false);

/// Bucket index (from the left-most 8 bytes) and fingerprint (the right-most 8).
#[inline]
fn slot(trace_id: TraceId) -> (&'static Bucket, u64) {
    let id = u128::from_be_bytes(trace_id.to_bytes());
    let bucket = &STARTED_HERE[(id >> 64) as usize % BUCKETS];
    (bucket, id as u64)
}

fn remember(trace_id: TraceId) {
    let (bucket, fingerprint) = slot(trace_id);
    if fingerprint == 0 {
        return;
    }
    let at = bucket.cursor.fetch_add(1, Ordering::Relaxed) as usize % WAYS;
    bucket.ids[at].store(fingerprint, Ordering::Relaxed);
    if !IN_USE.load(Ordering::Relaxed) {
        IN_USE.store(true, Ordering::Relaxed);
    }
}

/// Whether [`RandomTraceIdGenerator`] made this trace id (recently enough to
/// still be in its table): the trace was started in this process with a
/// random id.
///
/// ```
/// use opentelemetry_sdk::trace::IdGenerator;
/// use otel_kit_core::propagation::{RandomTraceIdGenerator, started_here_with_random_id};
///
/// let trace_id = RandomTraceIdGenerator::new().new_trace_id();
/// assert!(started_here_with_random_id(trace_id));
/// ```
#[inline]
pub fn started_here_with_random_id(trace_id: TraceId) -> bool {
    if !IN_USE.load(Ordering::Relaxed) {
        return false;
    }
    let (bucket, fingerprint) = slot(trace_id);
    fingerprint != 0
        && bucket
            .ids
            .iter()
            .any(|id| id.load(Ordering::Relaxed) == fingerprint)
}

/// The SDK's random id generator, remembering the trace ids it makes so
/// that the W3C propagator sets the Level 2 `random-trace-id` flag (`0x02`)
/// on requests of traces this process starts.
///
/// `otel_kit_core::init` and `Telemetry::builder()` install it; a tracer provider
/// built by hand opts in with `with_id_generator`. The flag is then set for
/// local spans of those traces, sampled or not; spans that continue a remote
/// trace keep the flags the remote parent sent.
///
/// ```
/// use opentelemetry::propagation::TextMapPropagator;
/// use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
/// use opentelemetry::Context;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use otel_kit_core::propagation::{RandomTraceIdGenerator, TraceContextPropagator};
/// use std::collections::HashMap;
///
/// let provider = SdkTracerProvider::builder()
///     .with_id_generator(RandomTraceIdGenerator::new())
///     .build();
/// let root = provider.tracer("app").start("root");
/// let cx = Context::new().with_span(root);
/// let mut headers = HashMap::new();
/// TraceContextPropagator::new().inject_context(&cx, &mut headers);
/// assert!(headers["traceparent"].ends_with("-03")); // sampled, random trace id
/// ```
#[derive(Clone, Debug, Default)]
pub struct RandomTraceIdGenerator {
    inner: RandomIdGenerator,
}

impl RandomTraceIdGenerator {
    /// Creates the generator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl IdGenerator for RandomTraceIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        let trace_id = self.inner.new_trace_id();
        remember(trace_id);
        trace_id
    }

    fn new_span_id(&self) -> SpanId {
        self.inner.new_span_id()
    }
}

#[cfg(test)]
mod tests {
    //! The flag rules, each under the W3C Trace Context Level 2 sentence it checks.

    use std::collections::HashMap;

    use opentelemetry::Context;
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

    use super::*;
    use crate::propagation::TraceContextPropagator;

    fn provider(sampler: Sampler, ours: bool) -> SdkTracerProvider {
        let builder = SdkTracerProvider::builder().with_sampler(sampler);
        if ours {
            builder.with_id_generator(RandomTraceIdGenerator::new())
        } else {
            builder
        }
        .build()
    }

    /// The flags `traceparent` carries for a span started under `parent`.
    fn sent_flags(provider: &SdkTracerProvider, parent: &Context) -> String {
        let span = provider.tracer("t").start_with_context("op", parent);
        let cx = parent.with_span(span);
        let mut out = HashMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut out);
        out["traceparent"][53..].to_string()
    }

    fn remote(flags: &str) -> Context {
        let mut carrier = HashMap::new();
        carrier.insert(
            "traceparent".to_string(),
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}"),
        );
        TraceContextPropagator::new().extract_with_context(&Context::new(), &carrier)
    }

    // "When at least the right-most 7 bytes of the `trace-id` are randomly
    // (or pseudo-randomly) generated, the `random-trace-id` flag SHOULD be
    // set to `1`." (and "vendors are expected to generate the header even
    // when not sampling").
    #[test]
    fn traces_started_with_the_generator_carry_the_random_flag() {
        let parent_based = || Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        assert_eq!(
            sent_flags(&provider(parent_based(), true), &Context::new()),
            "03"
        );
        assert_eq!(
            sent_flags(&provider(Sampler::AlwaysOff, true), &Context::new()),
            "02"
        );
        // A child of such a root, unsampled: same trace id, still random.
        let p = provider(Sampler::AlwaysOn, true);
        let root = Context::new().with_span(p.tracer("t").start("root"));
        let off = provider(Sampler::AlwaysOff, true);
        assert_eq!(sent_flags(&off, &root), "02");
        // Without the generator nothing is known about the ids: the SDK's flags.
        assert_eq!(
            sent_flags(&provider(parent_based(), false), &Context::new()),
            "01"
        );
    }

    // "If the flag is unset in the incoming `traceparent` header, it MUST also
    // be unset in any outgoing `traceparent` headers which use the same
    // `trace-id`." and "If the flag is set in the incoming `traceparent`
    // header, it MUST also be set in all outgoing `traceparent` headers which
    // use the same `trace-id`."
    #[test]
    fn continued_traces_keep_the_flag_they_came_with() {
        let p = provider(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)), true);
        assert_eq!(sent_flags(&p, &remote("01")), "01");
        assert_eq!(sent_flags(&p, &remote("03")), "03");
        assert_eq!(sent_flags(&p, &remote("00")), "00");
        // Forwarded as is (no local span): exactly the received flags.
        for flags in ["00", "01", "02", "03"] {
            let mut out = HashMap::new();
            TraceContextPropagator::new().inject_context(&remote(flags), &mut out);
            assert!(out["traceparent"].ends_with(flags), "{flags}");
        }
    }

    #[test]
    fn generated_ids_are_remembered_and_others_are_not() {
        let generator = RandomTraceIdGenerator::new();
        let ids: Vec<TraceId> = (0..100).map(|_| generator.new_trace_id()).collect();
        for id in &ids {
            assert!(started_here_with_random_id(*id));
        }
        // Same bucket, other fingerprint; and an id never generated.
        let id = u128::from_be_bytes(ids[0].to_bytes());
        assert!(!started_here_with_random_id(TraceId::from(id ^ 1)));
        assert!(!started_here_with_random_id(TraceId::from(
            0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736
        )));
    }

    #[test]
    fn a_bucket_keeps_its_last_seven_ids() {
        // Ids with the same left-most bytes land in one bucket.
        let high: u128 = 0x1234_5678_9abc_def0 << 64;
        let ids: Vec<TraceId> = (1..=9u128).map(|i| TraceId::from(high | i)).collect();
        for id in &ids {
            remember(*id);
        }
        assert!(!started_here_with_random_id(ids[0]));
        assert!(!started_here_with_random_id(ids[1]));
        for id in &ids[2..] {
            assert!(started_here_with_random_id(*id));
        }
    }
}
