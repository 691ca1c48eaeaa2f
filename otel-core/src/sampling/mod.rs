//! Samplers: the SDK's, plus rule-based, rate-limiting and force-keep samplers.
//!
//! Everything here implements the SDK's
//! [`ShouldSample`](opentelemetry_sdk::trace::ShouldSample), so each sampler can be
//! given to `SdkTracerProvider::builder().with_sampler(..)` or nested inside
//! [`Sampler::ParentBased`](opentelemetry_sdk::trace::Sampler::ParentBased) /
//! [`ParentBasedSampler`](opentelemetry_sdk::trace::ParentBasedSampler):
//!
//! - [`RuleSampler`]: ordered rules over the span name (exact or `*` glob), the span
//!   kind and the attributes given at span creation; the first matching rule decides
//!   (always, never, a trace-id ratio, a rate limit or any nested sampler).
//! - [`RateLimitingSampler`]: keeps about N traces per second however high the
//!   load; lock-free (one atomic).
//! - [`ForceKeepSampler`]: keeps every span whose parent context carries the
//!   [`ForceKeep`] marker (B3 / Jaeger debug flag, force-trace header) and delegates
//!   otherwise.
//! - [`SamplerSpec`]: the typed form of `OTEL_TRACES_SAMPLER` /
//!   `OTEL_TRACES_SAMPLER_ARG`, with our extra values `ratelimiting`,
//!   `parentbased_ratelimiting`, `rules` and `parentbased_rules`. Every sampler built
//!   from a spec is wrapped in a [`ForceKeepSampler`] unless that is turned off.
//!
//! ```
//! use otel_kit_core::sampling::SamplerSpec;
//!
//! let spec = SamplerSpec::from_env_values(
//!     Some("parentbased_rules"),
//!     Some("name=GET /health*:never; kind=consumer:0.1; *:100/s"),
//! )
//! .unwrap();
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
//!     .with_sampler(spec.build())
//!     .build();
//! # drop(provider);
//! ```

mod force_keep;
mod pattern;
mod rate_limit;
mod rule;
mod spec;

pub use force_keep::{ForceKeep, ForceKeepSampler, is_force_keep, with_force_keep};
pub use pattern::Pattern;
pub use rate_limit::RateLimitingSampler;
pub use rule::{Rule, RuleAction, RuleSampler, RuleSamplerBuilder, SpanMatcher};
#[cfg(feature = "config-file")]
pub(crate) use spec::parse_rules;
pub use spec::{DEFAULT_RATE_LIMIT, ParentBranches, RootSampler, SamplerSpec, SamplerSpecError};

use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt, TraceId, TraceState};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult};

/// The parent's trace state (empty without a parent), which samplers keep as is.
pub(crate) fn parent_trace_state(parent: Option<&Context>) -> TraceState {
    match parent {
        Some(cx) => cx.span().span_context().trace_state().clone(),
        None => TraceState::NONE,
    }
}

/// A result with `decision`, no extra attributes and the parent's trace state.
pub(crate) fn result_for(decision: SamplingDecision, parent: Option<&Context>) -> SamplingResult {
    SamplingResult {
        decision,
        attributes: Vec::new(),
        trace_state: parent_trace_state(parent),
    }
}

/// The trace-id-ratio decision, computed exactly like the SDK's
/// `Sampler::TraceIdRatioBased`, so that a trace kept by one is kept by the other:
/// the low 64 bits of the trace id, shifted right by one, are compared with
/// `probability * 2^63`. `probability >= 1` always keeps; `<= 0` or NaN never does.
pub(crate) fn trace_id_ratio_decision(probability: f64, trace_id: TraceId) -> SamplingDecision {
    if probability >= 1.0 {
        return SamplingDecision::RecordAndSample;
    }
    if probability.is_nan() || probability <= 0.0 {
        return SamplingDecision::Drop;
    }
    // `as` saturates; the product is < 2^63 here.
    let bound = (probability * (1u64 << 63) as f64) as u64;
    let [_, _, _, _, _, _, _, _, low @ ..] = trace_id.to_bytes();
    if (u64::from_be_bytes(low) >> 1) < bound {
        SamplingDecision::RecordAndSample
    } else {
        SamplingDecision::Drop
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Small helpers shared by the sampler tests.

    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry::{Context, trace::TraceContextExt};

    /// A context whose active span is a remote parent with the given flags.
    pub(crate) fn remote_parent(sampled: bool, trace_state: TraceState) -> Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c_u128),
            SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
            flags,
            true,
            trace_state,
        ))
    }

    /// A deterministic, well-spread sequence of trace ids (SplitMix64 output).
    pub(crate) fn trace_ids(count: usize) -> impl Iterator<Item = TraceId> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        (0..count).map(move |_| {
            let mut next = || {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            };
            let high = u128::from(next());
            let low = u128::from(next());
            TraceId::from((high << 64) | low)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::trace_ids;
    use super::*;
    use opentelemetry::trace::SpanKind;
    use opentelemetry_sdk::trace::{Sampler, ShouldSample};

    #[test]
    fn ratio_decision_agrees_with_the_sdk() {
        for probability in [-1.0, 0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.999, 1.0, 2.0] {
            let sdk = Sampler::TraceIdRatioBased(probability);
            for trace_id in trace_ids(2_000) {
                let expected = sdk
                    .should_sample(None, trace_id, "s", &SpanKind::Internal, &[], &[])
                    .decision;
                assert_eq!(
                    trace_id_ratio_decision(probability, trace_id),
                    expected,
                    "probability {probability}, trace id {trace_id}"
                );
            }
        }
    }

    #[test]
    fn ratio_decision_keeps_about_the_ratio() {
        let total = 20_000;
        for probability in [0.1, 0.5, 0.9] {
            let kept = trace_ids(total)
                .filter(|id| {
                    trace_id_ratio_decision(probability, *id) == SamplingDecision::RecordAndSample
                })
                .count();
            let got = kept as f64 / total as f64;
            assert!(
                (got - probability).abs() < 0.02,
                "probability {probability}: kept {got}"
            );
        }
        assert_eq!(
            trace_id_ratio_decision(f64::NAN, TraceId::from(u128::MAX)),
            SamplingDecision::Drop
        );
    }

    #[test]
    fn ratio_decision_is_monotonic_in_the_probability() {
        // A trace kept at a lower probability is kept at every higher one.
        for trace_id in trace_ids(2_000) {
            let mut kept_before = false;
            for step in 0..=20 {
                let kept = trace_id_ratio_decision(f64::from(step) / 20.0, trace_id)
                    == SamplingDecision::RecordAndSample;
                assert!(!kept_before || kept, "trace id {trace_id} at step {step}");
                kept_before = kept;
            }
        }
    }
}
