//! `otel.sdk.span.started`: every span start, counted in the sampler.
//!
//! The SDK asks the sampler about every span it starts (recording or not,
//! sampled or not) and calls nothing else for a span it drops, so the one
//! place that sees them all is a sampler wrapper. It adds one relaxed atomic
//! increment per span start; the metric callback reads the counters.

use opentelemetry::trace::{Link, SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue, TraceId};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// `otel.span.sampling_result` values, in counter order.
pub(crate) const SAMPLING_RESULTS: [&str; 3] = ["DROP", "RECORD_ONLY", "RECORD_AND_SAMPLE"];
/// `otel.span.parent.origin` values, in counter order.
pub(crate) const PARENT_ORIGINS: [&str; 3] = ["none", "local", "remote"];

/// Span starts by sampling result and parent origin.
#[derive(Debug, Default)]
pub(crate) struct SpanStarts {
    counts: [[AtomicU64; 3]; 3],
}

impl SpanStarts {
    /// The count of `(sampling result, parent origin)`, indexes into
    /// [`SAMPLING_RESULTS`] and [`PARENT_ORIGINS`].
    pub(crate) fn get(&self, result: usize, origin: usize) -> u64 {
        self.counts[result][origin].load(Ordering::Relaxed)
    }

    /// Spans started with `RECORD_AND_SAMPLE`, whatever their parent.
    pub(crate) fn sampled(&self) -> u64 {
        (0..3).map(|origin| self.get(2, origin)).sum()
    }
}

/// A sampler that counts each decision of the sampler it wraps.
#[derive(Clone, Debug)]
pub(crate) struct CountingSampler {
    inner: Box<dyn ShouldSample>,
    starts: Arc<SpanStarts>,
}

impl CountingSampler {
    pub(crate) fn new(inner: Box<dyn ShouldSample>, starts: Arc<SpanStarts>) -> Self {
        Self { inner, starts }
    }
}

fn parent_origin(parent: Option<&Context>) -> usize {
    match parent {
        Some(cx) if cx.has_active_span() => {
            let span = cx.span();
            let sc = span.span_context();
            match (sc.is_valid(), sc.is_remote()) {
                (false, _) => 0,
                (true, false) => 1,
                (true, true) => 2,
            }
        }
        _ => 0,
    }
}

impl ShouldSample for CountingSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let result =
            self.inner
                .should_sample(parent_context, trace_id, name, span_kind, attributes, links);
        let decision = match result.decision {
            SamplingDecision::Drop => 0,
            SamplingDecision::RecordOnly => 1,
            SamplingDecision::RecordAndSample => 2,
        };
        self.starts.counts[decision][parent_origin(parent_context)].fetch_add(1, Ordering::Relaxed);
        result
    }
}
