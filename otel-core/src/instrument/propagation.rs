//! Which propagator an instrumentation extracts and injects with, and the
//! one extraction rule of the family.

use std::fmt;
use std::sync::Arc;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::{Context, global};

/// The propagator of an instrumentation: the global one (installed by
/// `otel_kit_core::init`, read at each call) or one given to its builder.
///
/// # Extraction
///
/// Every layer of the family extracts the same way: **on top of the current
/// context**. What the carrier holds replaces the matching part of the
/// current context: a valid remote span context replaces the current span,
/// baggage in the carrier replaces the current baggage, forwarded mesh
/// headers replace the current ones; everything else of the current context
/// stays. A carrier with nothing valid leaves the current context as it is,
/// so a request handled inside an outer span (a test, a batch job, a
/// connection-level span) becomes that span's child rather than a new root.
/// Malformed input is ignored per the specifications and never panics.
///
/// A consumer that must tell what the carrier brought from what was current
/// (a message's creation context, to link to) compares
/// [`Extracted::remote`].
///
/// ```
/// use otel_kit_core::instrument::Propagation;
/// use otel_kit_core::propagation::{TraceContextPropagator, HeaderExtractor};
/// use otel_kit_core::opentelemetry::trace::TraceContextExt;
///
/// let propagation = Propagation::given(TraceContextPropagator::new());
/// let mut headers = http::HeaderMap::new();
/// headers.insert(
///     "traceparent",
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
/// );
/// let extracted = propagation.extract(&HeaderExtractor(&headers));
/// assert!(extracted.remote().is_some());
/// assert!(extracted.context().span().span_context().is_remote());
/// ```
#[derive(Clone, Default)]
pub enum Propagation {
    /// The global propagator, read at each call.
    #[default]
    Global,
    /// A propagator given to the builder.
    Given(Arc<dyn TextMapPropagator + Send + Sync>),
}

impl fmt::Debug for Propagation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Propagation::Global => f.write_str("Global"),
            Propagation::Given(_) => f.write_str("Given(..)"),
        }
    }
}

/// What [`Propagation::extract`] returns: the context to continue in and
/// whether the carrier brought a remote span context.
#[derive(Clone, Debug)]
pub struct Extracted {
    cx: Context,
    remote: bool,
}

impl Extracted {
    /// The current context with what the carrier held on top.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// The context, by value.
    pub fn into_context(self) -> Context {
        self.cx
    }

    /// The span context the carrier brought, when it brought a valid one.
    pub fn remote(&self) -> Option<opentelemetry::trace::SpanContext> {
        use opentelemetry::trace::TraceContextExt as _;
        self.remote.then(|| self.cx.span().span_context().clone())
    }

    /// Whether the carrier brought a valid span context.
    pub fn has_remote(&self) -> bool {
        self.remote
    }
}

impl Propagation {
    /// A given propagator.
    pub fn given(propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        Propagation::Given(Arc::new(propagator))
    }

    /// Extracts what `carrier` holds on top of the current context (see the
    /// type's documentation for the rule).
    pub fn extract(&self, carrier: &dyn Extractor) -> Extracted {
        Context::map_current(|current| self.extract_onto(current, carrier))
    }

    /// [`extract`](Self::extract) on top of `cx` instead of the current
    /// context.
    pub fn extract_onto(&self, cx: &Context, carrier: &dyn Extractor) -> Extracted {
        use opentelemetry::trace::TraceContextExt as _;
        let out = match self {
            Propagation::Global => {
                global::get_text_map_propagator(|p| p.extract_with_context(cx, carrier))
            }
            Propagation::Given(p) => p.extract_with_context(cx, carrier),
        };
        let remote = {
            let after = out.span();
            let sc = after.span_context();
            sc.is_valid() && sc.is_remote() && *sc != *cx.span().span_context()
        };
        Extracted { cx: out, remote }
    }

    /// Writes `cx` into `carrier`.
    pub fn inject(&self, cx: &Context, carrier: &mut dyn Injector) {
        match self {
            Propagation::Global => {
                global::get_text_map_propagator(|p| p.inject_context(cx, carrier))
            }
            Propagation::Given(p) => p.inject_context(cx, carrier),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::propagation::{HeaderExtractor, TraceContextPropagator};
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    fn local() -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(7_u128),
            SpanId::from(9_u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ))
    }

    #[test]
    fn extraction_is_on_top_of_the_current_context() {
        let p = Propagation::given(TraceContextPropagator::new());
        let mut headers = http::HeaderMap::new();
        let _guard = local().attach();
        // Nothing in the carrier: the current span stays, nothing remote.
        let none = p.extract(&HeaderExtractor(&headers));
        assert!(!none.has_remote());
        assert_eq!(
            none.context().span().span_context().span_id(),
            SpanId::from(9_u64)
        );
        // A malformed header is ignored the same way.
        headers.insert("traceparent", "00-zz-00-01".parse().unwrap());
        assert!(!p.extract(&HeaderExtractor(&headers)).has_remote());
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let some = p.extract(&HeaderExtractor(&headers));
        let remote = some.remote().unwrap();
        assert_eq!(remote.span_id(), SpanId::from(0x00f0_67aa_0ba9_02b7_u64));
    }
}
