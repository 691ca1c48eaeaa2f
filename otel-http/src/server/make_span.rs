//! Step 3: the SERVER span, started with the family's `SpanStarter`.

use std::borrow::Cow;

use http::request::Parts;
use otel_kit_core::opentelemetry::trace::{
    Link, SpanBuilder, SpanContext, SpanKind, TraceContextExt,
};
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::semconv::attribute as sc;

use super::config::ServerConfig;
use super::request::Incoming;
use super::request_attributes::request_attributes;
use crate::attributes::old;

/// Starts the request's span under `parent` (the extracted context) and
/// returns the context holding it (`parent`'s baggage and other values
/// kept) and whether the span records.
///
/// The sampler sees the name, `http.request.method` and `url.scheme`
/// (every request attribute with `sampling_attributes`); the other request
/// attributes are built only when the span records, and set before the span
/// is shared. In public-endpoint mode the span is a new root linked to the
/// incoming span context.
#[inline]
pub(crate) fn make_span(
    config: &ServerConfig,
    parts: &Parts,
    incoming: &Incoming<'_>,
    name: Cow<'static, str>,
    parent: &Context,
) -> (Context, bool) {
    // Room for the attributes added when the span records: the SDK keeps
    // this vector, so they are pushed without reallocating.
    let mut attrs = Vec::with_capacity(if config.sampling_attributes { 24 } else { 16 });
    incoming.method.push(&parts.method, config.dup, &mut attrs);
    attrs.push(KeyValue::new(sc::URL_SCHEME, incoming.scheme));
    if config.dup {
        attrs.push(KeyValue::new(old::HTTP_SCHEME, incoming.scheme));
    }
    if config.sampling_attributes {
        route_and_request_attributes(config, parts, incoming, &mut attrs);
    }
    // Filled in place: the builder is large, chained `with_*` calls would
    // move it each time.
    let mut builder = SpanBuilder::from_name(name);
    builder.span_kind = Some(SpanKind::Server);
    builder.attributes = Some(attrs);
    // Called only when the span records: that is how we learn it does
    // (asking the shared span later takes its lock).
    let mut recording = false;
    let late = |more: &mut Vec<KeyValue>| {
        recording = true;
        if !config.sampling_attributes {
            // Sized at once (the starter hands over an empty vector).
            *more = Vec::with_capacity(16);
            route_and_request_attributes(config, parts, incoming, more);
        }
    };
    if config.is_public(parts) {
        let remote = parent.span().span_context().clone();
        if remote.is_valid() {
            builder.links = Some(vec![Link::with_context(remote)]);
        }
        // A new root that keeps the incoming baggage and mesh headers.
        let root = parent.with_remote_span_context(SpanContext::empty_context());
        let cx = config.tracer.start(builder, &root, late);
        return (cx, recording);
    }
    let cx = config.tracer.start(builder, parent, late);
    (cx, recording)
}

fn route_and_request_attributes(
    config: &ServerConfig,
    parts: &Parts,
    incoming: &Incoming<'_>,
    out: &mut Vec<KeyValue>,
) {
    if let Some(route) = &incoming.route {
        out.push(KeyValue::new(sc::HTTP_ROUTE, route.value.clone()));
    }
    request_attributes(config, parts, &incoming.headers, out);
}
