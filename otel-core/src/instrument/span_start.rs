//! Starting a layer's span: one place for how every crate of the family
//! turns a [`SpanBuilder`] and a parent context into the context that holds
//! the new span.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::global::{self, ObjectSafeTracerProvider as _};
use opentelemetry::trace::{
    Span, SpanBuilder, SpanContext, Status, TraceContextExt, TraceFlags, Tracer, TracerProvider,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};

/// The W3C Trace Context Level 2 `random` flag (`0x02`): the trace id's
/// rightmost 7 bytes are random.
pub const RANDOM_TRACE_FLAG: TraceFlags = TraceFlags::new(0x02);

/// Starts the spans of one instrumentation, with a tracer of the provider it
/// was given (or the global one). Cheap to clone.
///
/// [`start`](Self::start) is the one way every layer crate starts a span:
///
/// - the span is built under `parent` with the tracer's concrete span type
///   (no second box) and returned inside `parent.with_span(..)`, so baggage
///   and other values of `parent` stay;
/// - attributes that only a recording span needs are built by the `late`
///   callback, called only when the span records, and set before the span
///   is shared through the context (no lock);
/// - an unsampled span keeps the flags of its parent other than `sampled`
///   (W3C Trace Context Level 2: the `random` flag of a continued trace
///   MUST be kept), which the SDK's dropped spans do not do by themselves,
///   so the next hop receives them.
///
/// ```
/// use otel_kit_core::instrument::{SpanStarter, scope};
/// use otel_kit_core::opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt};
/// use otel_kit_core::opentelemetry::{Context, KeyValue};
///
/// let starter = SpanStarter::global(scope("my-layer", "0.1.0"));
/// let mut builder = SpanBuilder::from_name("GET /users/{id}");
/// builder.span_kind = Some(SpanKind::Server);
/// let cx = starter.start(builder, &Context::new(), |late| {
///     late.push(KeyValue::new("url.path", "/users/7"));
/// });
/// cx.span().end();
/// ```
#[derive(Clone)]
pub struct SpanStarter {
    start: Arc<dyn Start>,
}

impl fmt::Debug for SpanStarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanStarter").finish_non_exhaustive()
    }
}

trait Start: Send + Sync {
    fn start(
        &self,
        builder: SpanBuilder,
        parent: &Context,
        late: &mut dyn FnMut(&mut Vec<KeyValue>),
    ) -> Context;
}

struct TracerStart<T>(T);

impl<T> Start for TracerStart<T>
where
    T: Tracer + Send + Sync,
    T::Span: Send + Sync + 'static,
{
    fn start(
        &self,
        builder: SpanBuilder,
        parent: &Context,
        late: &mut dyn FnMut(&mut Vec<KeyValue>),
    ) -> Context {
        let mut span = self.0.build_with_context(builder, parent);
        if span.is_recording() {
            let mut more = Vec::new();
            late(&mut more);
            if !more.is_empty() {
                span.set_attributes(more);
            }
            return parent.with_span(span);
        }
        match kept_flags(parent, span.span_context()) {
            Some(flags) => {
                let sc = span.span_context();
                let unsampled = Unsampled(SpanContext::new(
                    sc.trace_id(),
                    sc.span_id(),
                    flags,
                    false,
                    sc.trace_state().clone(),
                ));
                parent.with_span(unsampled)
            }
            None => parent.with_span(span),
        }
    }
}

/// The flags an unsampled span must carry when they differ from the ones
/// the tracer gave it: its parent's, without `sampled`.
fn kept_flags(parent: &Context, span: &SpanContext) -> Option<TraceFlags> {
    if !span.is_valid() || span.is_sampled() || !parent.has_active_span() {
        return None;
    }
    let parent_span = parent.span();
    let psc = parent_span.span_context();
    if !psc.is_valid() || psc.trace_id() != span.trace_id() {
        return None;
    }
    let want = psc.trace_flags().with_sampled(false);
    (want != span.trace_flags()).then_some(want)
}

/// A span that records nothing and only carries its context (an unsampled
/// span whose flags were corrected).
#[derive(Debug)]
struct Unsampled(SpanContext);

impl Span for Unsampled {
    fn add_event_with_timestamp<T>(&mut self, _: T, _: SystemTime, _: Vec<KeyValue>)
    where
        T: Into<Cow<'static, str>>,
    {
    }

    fn span_context(&self) -> &SpanContext {
        &self.0
    }

    fn is_recording(&self) -> bool {
        false
    }

    fn set_attribute(&mut self, _: KeyValue) {}

    fn set_status(&mut self, _: Status) {}

    fn update_name<T>(&mut self, _: T)
    where
        T: Into<Cow<'static, str>>,
    {
    }

    fn add_link(&mut self, _: SpanContext, _: Vec<KeyValue>) {}

    fn end_with_timestamp(&mut self, _: SystemTime) {}
}

impl SpanStarter {
    /// Spans from `provider`'s tracer for `scope`.
    pub fn new<P>(provider: &P, scope: InstrumentationScope) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        SpanStarter {
            start: Arc::new(TracerStart(provider.tracer_with_scope(scope))),
        }
    }

    /// Spans from the global tracer provider (the one `otel_kit_core::init`
    /// installs), as it is when this is called.
    pub fn global(scope: InstrumentationScope) -> Self {
        let tracer = global::BoxedTracer::new(global::tracer_provider().boxed_tracer(scope));
        SpanStarter {
            start: Arc::new(TracerStart(tracer)),
        }
    }

    /// Starts a span from `builder` under `parent` and returns the context
    /// holding it. `late` adds the attributes only a recording span needs.
    pub fn start(
        &self,
        builder: SpanBuilder,
        parent: &Context,
        mut late: impl FnMut(&mut Vec<KeyValue>),
    ) -> Context {
        self.start.start(builder, parent, &mut late)
    }

    /// [`start`](Self::start) without late attributes.
    pub fn start_simple(&self, builder: SpanBuilder, parent: &Context) -> Context {
        self.start.start(builder, parent, &mut |_| {})
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceId, TraceState};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

    fn remote(flags: u8) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
            SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
            TraceFlags::new(flags),
            true,
            TraceState::NONE,
        ))
    }

    fn starter(sampler: Sampler) -> SpanStarter {
        let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
        SpanStarter::new(&provider, scope_for_test())
    }

    fn scope_for_test() -> InstrumentationScope {
        crate::instrument::scope("test", "0")
    }

    #[test]
    fn unsampled_child_keeps_the_random_flag() {
        let s = starter(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
        let cx = s.start_simple(SpanBuilder::from_name("x"), &remote(0x02));
        let sc = cx.span().span_context().clone();
        assert!(!sc.is_sampled());
        assert_eq!(sc.trace_flags().to_u8(), 0x02);
        assert_eq!(sc.trace_id(), remote(0).span().span_context().trace_id());
        assert_ne!(sc.span_id(), remote(0).span().span_context().span_id());
        assert!(!sc.is_remote());
    }

    #[test]
    fn dropped_by_the_sampler_keeps_random_and_clears_sampled() {
        let s = starter(Sampler::AlwaysOff);
        let cx = s.start_simple(SpanBuilder::from_name("x"), &remote(0x03));
        assert_eq!(cx.span().span_context().trace_flags().to_u8(), 0x02);
        // Without the random flag nothing changes.
        let cx = s.start_simple(SpanBuilder::from_name("x"), &remote(0x01));
        assert_eq!(cx.span().span_context().trace_flags().to_u8(), 0x00);
    }

    #[test]
    fn sampled_child_keeps_every_flag_and_late_attributes_only_when_recording() {
        let s = starter(Sampler::AlwaysOn);
        let mut called = 0;
        let cx = s.start(SpanBuilder::from_name("x"), &remote(0x03), |late| {
            called += 1;
            late.push(KeyValue::new("k", 1));
        });
        assert_eq!(cx.span().span_context().trace_flags().to_u8(), 0x03);
        assert_eq!(called, 1);
        let off = starter(Sampler::AlwaysOff);
        off.start(SpanBuilder::from_name("x"), &remote(0x03), |_| called += 1);
        assert_eq!(called, 1);
    }
}
