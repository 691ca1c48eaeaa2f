use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};

use super::result_for;

/// Marker stored in a [`Context`] when an upstream asked for this trace to be
/// kept whatever the sampler would decide: the B3 debug flag (`b3: …-d`,
/// `X-B3-Flags: 1`), the Jaeger debug flag, or an explicit force-trace header.
///
/// Propagators set it on extract and re-propagate it on inject; the samplers in
/// this module honour it (see [`ForceKeepSampler`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForceKeep;

/// Returns `cx` with the force-keep marker set.
pub fn with_force_keep(cx: &Context) -> Context {
    cx.with_value(ForceKeep)
}

/// Whether `cx` carries the force-keep marker.
pub fn is_force_keep(cx: &Context) -> bool {
    cx.get::<ForceKeep>().is_some()
}

/// Wraps any sampler: a span whose parent context carries the [`ForceKeep`]
/// marker is always recorded and sampled (`RecordAndSample`, with the parent's
/// trace state), otherwise the wrapped sampler decides.
///
/// The wrapped sampler is not consulted for a forced span, so a forced trace does
/// not use up the budget of a [`RateLimitingSampler`](super::RateLimitingSampler).
/// The marker stays in the context of every span started below the forced one in
/// this process, so the whole local subtree is kept.
///
/// [`SamplerSpec::build`](super::SamplerSpec::build) wraps every sampler it builds
/// in a `ForceKeepSampler` unless
/// [`SamplerSpec::force_keep`](super::SamplerSpec::force_keep) is `false`.
///
/// ```
/// use opentelemetry::{Context, trace::SpanKind, trace::TraceId};
/// use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};
/// use otel_kit_core::sampling::{ForceKeepSampler, with_force_keep};
///
/// let sampler = ForceKeepSampler::new(Sampler::AlwaysOff);
/// let forced = with_force_keep(&Context::new());
/// let decide = |cx: &Context| {
///     sampler
///         .should_sample(Some(cx), TraceId::from(1), "GET /", &SpanKind::Server, &[], &[])
///         .decision
/// };
/// assert_eq!(decide(&forced), SamplingDecision::RecordAndSample);
/// assert_eq!(decide(&Context::new()), SamplingDecision::Drop);
/// ```
#[derive(Clone, Debug)]
pub struct ForceKeepSampler {
    inner: Box<dyn ShouldSample>,
}

impl ForceKeepSampler {
    /// Wraps `inner`, which decides every span that is not forced.
    pub fn new(inner: impl Into<Box<dyn ShouldSample>>) -> Self {
        Self {
            inner: inner.into(),
        }
    }

    /// The wrapped sampler.
    pub fn inner(&self) -> &dyn ShouldSample {
        self.inner.as_ref()
    }

    /// Unwraps the wrapped sampler.
    pub fn into_inner(self) -> Box<dyn ShouldSample> {
        self.inner
    }
}

impl ShouldSample for ForceKeepSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        match parent_context {
            Some(cx) if is_force_keep(cx) => {
                result_for(SamplingDecision::RecordAndSample, parent_context)
            }
            _ => self.inner.should_sample(
                parent_context,
                trace_id,
                name,
                span_kind,
                attributes,
                links,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::RateLimitingSampler;
    use crate::sampling::test_support::remote_parent;
    use opentelemetry::trace::{TraceContextExt, TraceState};
    use opentelemetry_sdk::trace::Sampler;

    fn decide(sampler: &ForceKeepSampler, cx: Option<&Context>) -> SamplingResult {
        sampler.should_sample(
            cx,
            TraceId::from(42),
            "GET /users/{id}",
            &SpanKind::Server,
            &[],
            &[],
        )
    }

    #[test]
    fn marker_round_trips_through_the_context() {
        let cx = Context::new();
        assert!(!is_force_keep(&cx));
        let forced = with_force_keep(&cx);
        assert!(is_force_keep(&forced));
        assert!(!is_force_keep(&cx), "the original context is unchanged");
        // The marker survives adding a span, as it does for child spans.
        let child = forced.with_remote_span_context(
            remote_parent(false, TraceState::NONE)
                .span()
                .span_context()
                .clone(),
        );
        assert!(is_force_keep(&child));
    }

    #[test]
    fn forced_parent_is_kept_whatever_the_inner_sampler_says() {
        let state = TraceState::from_key_value([("vendor", "abc")]).unwrap();
        let unsampled_parent = with_force_keep(&remote_parent(false, state.clone()));
        for inner in [
            Sampler::AlwaysOff,
            Sampler::TraceIdRatioBased(0.0),
            Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        ] {
            let sampler = ForceKeepSampler::new(inner);
            let result = decide(&sampler, Some(&unsampled_parent));
            assert_eq!(result.decision, SamplingDecision::RecordAndSample);
            assert_eq!(result.trace_state, state, "parent trace state kept");
            assert!(result.attributes.is_empty());

            // The marker alone (e.g. `b3: d`, no trace id) is enough too.
            let only_marker = with_force_keep(&Context::new());
            let result = decide(&sampler, Some(&only_marker));
            assert_eq!(result.decision, SamplingDecision::RecordAndSample);
            assert_eq!(result.trace_state, TraceState::NONE);
        }
    }

    #[test]
    fn without_marker_the_inner_sampler_decides() {
        let state = TraceState::from_key_value([("k", "v")]).unwrap();
        let parent = remote_parent(false, state.clone());
        let off = ForceKeepSampler::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
        let result = decide(&off, Some(&parent));
        assert_eq!(result.decision, SamplingDecision::Drop);
        assert_eq!(result.trace_state, state);

        let on = ForceKeepSampler::new(Sampler::AlwaysOn);
        assert_eq!(
            decide(&on, None).decision,
            SamplingDecision::RecordAndSample
        );
        assert_eq!(
            decide(&ForceKeepSampler::new(Sampler::AlwaysOff), None).decision,
            SamplingDecision::Drop
        );
    }

    #[test]
    fn forced_spans_do_not_use_the_rate_limit_budget() {
        // A limiter with one token: forced decisions must not consume it.
        let sampler = ForceKeepSampler::new(RateLimitingSampler::with_burst(1e-9, 1.0));
        let forced = with_force_keep(&Context::new());
        for _ in 0..10 {
            assert_eq!(
                decide(&sampler, Some(&forced)).decision,
                SamplingDecision::RecordAndSample
            );
        }
        assert_eq!(
            decide(&sampler, None).decision,
            SamplingDecision::RecordAndSample
        );
        assert_eq!(decide(&sampler, None).decision, SamplingDecision::Drop);
    }

    #[test]
    fn forced_trace_is_exported_by_a_real_provider() {
        use opentelemetry::trace::{Span, Tracer, TracerProvider};
        use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_sampler(ForceKeepSampler::new(Sampler::ParentBased(Box::new(
                Sampler::AlwaysOff,
            ))))
            .build();
        let tracer = provider.tracer("test");

        let forced = with_force_keep(&remote_parent(false, TraceState::NONE));
        let span = tracer.start_with_context("forced", &forced);
        let forced_cx = forced.with_span(span);
        tracer.start_with_context("child", &forced_cx).end();
        forced_cx.span().end();
        tracer
            .start_with_context("plain", &remote_parent(false, TraceState::NONE))
            .end();

        let mut names: Vec<String> = exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .map(|span| span.name.into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["child", "forced"]);
    }
}
