//! What a carrier brought besides its span context, put on top of another
//! context: the link-mode parent of a consumer (a message's creation
//! context becomes a link; its baggage, forwarded mesh headers and
//! force-keep marker still reach the handler).

use opentelemetry::Context;
use opentelemetry::baggage::{Baggage, BaggageExt};

use crate::propagation::ForwardedHeaders;
use crate::sampling::{is_force_keep, with_force_keep};

/// `base` (its span kept) with the values `carried` holds besides its span
/// context: baggage (replacing `base`'s), forwarded mesh headers and the
/// force-keep marker.
///
/// A consumer that links to the producer instead of continuing its trace
/// (messaging link mode, a public endpoint that starts under the current
/// span) extracts the carrier, takes [`Extracted::remote`](super::Extracted::remote)
/// as the link, and starts its span under `carried_onto(&ambient, &extracted)`:
/// the span's parent is the ambient span, while everything else the carrier
/// brought reaches the code that runs under it. Each value the family
/// propagates is listed here once.
///
/// ```
/// use otel_kit_core::instrument::carried_onto;
/// use otel_kit_core::opentelemetry::baggage::BaggageExt;
/// use otel_kit_core::opentelemetry::{Context, KeyValue};
///
/// let ambient = Context::new();
/// let carried = Context::new().with_baggage([KeyValue::new("tenant", "acme")]);
/// let parent = carried_onto(&ambient, &carried);
/// assert_eq!(parent.baggage().get("tenant").map(|v| v.as_str()), Some("acme"));
/// ```
pub fn carried_onto(base: &Context, carried: &Context) -> Context {
    let mut cx = base.with_baggage(
        carried
            .baggage()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Baggage>(),
    );
    if let Some(forwarded) = ForwardedHeaders::from_context(carried) {
        cx = cx.with_value(forwarded.clone());
    }
    if is_force_keep(carried) {
        cx = with_force_keep(&cx);
    }
    cx
}

/// `carried` with its baggage extended by the entries of `base` it does
/// not override (the carried entries win). The family's extraction
/// replaces the current baggage when the carrier holds some; a consumer
/// whose handler must see both (the conventions' process context) merges
/// them with this. Returns `carried` unchanged when either side has none.
///
/// ```
/// use otel_kit_core::instrument::with_base_baggage;
/// use otel_kit_core::opentelemetry::baggage::BaggageExt;
/// use otel_kit_core::opentelemetry::{Context, KeyValue};
///
/// let base = Context::new().with_baggage([KeyValue::new("region", "eu"), KeyValue::new("tenant", "a")]);
/// let carried = Context::new().with_baggage([KeyValue::new("tenant", "b")]);
/// let merged = with_base_baggage(&base, carried);
/// assert_eq!(merged.baggage().get("region").map(|v| v.as_str()), Some("eu"));
/// assert_eq!(merged.baggage().get("tenant").map(|v| v.as_str()), Some("b"));
/// ```
pub fn with_base_baggage(base: &Context, carried: Context) -> Context {
    let existing = base.baggage();
    let message = carried.baggage();
    if existing.is_empty() || message.is_empty() {
        return carried;
    }
    let merged: Baggage = existing
        .iter()
        .filter(|(k, _)| message.get_with_metadata(k.as_str()).is_none())
        .chain(message.iter())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    carried.with_baggage(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::with_force_keep;
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    fn with_span(id: u64) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(1_u128),
            SpanId::from(id),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        ))
    }

    #[test]
    fn the_base_span_stays_and_the_carried_values_come_along() {
        let base = with_span(1).with_baggage([KeyValue::new("ambient", "1")]);
        let carried = with_force_keep(&with_span(2).with_baggage([KeyValue::new("m", "2")]));
        let cx = carried_onto(&base, &carried);
        assert_eq!(cx.span().span_context().span_id(), SpanId::from(1_u64));
        assert!(is_force_keep(&cx));
        assert_eq!(cx.baggage().get("m").map(|v| v.as_str()), Some("2"));
        // The carried baggage replaces the base's (merge first to keep both).
        assert!(cx.baggage().get("ambient").is_none());
        let merged = carried_onto(&base, &with_base_baggage(&base, carried));
        assert_eq!(merged.baggage().len(), 2);
    }
}
