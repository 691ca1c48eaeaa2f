//! Starting the spans of the four operation types: a single send, a batch
//! send (create spans and links), receive, and the process span of a
//! delivered message (links vs parent, the message's baggage on top of the
//! ambient one). Every broker module starts its spans here.

use std::time::{Instant, SystemTime};

#[cfg(any(feature = "kafka", feature = "nats"))]
use otel_kit_core::instrument::HeaderCapture;
use otel_kit_core::instrument::{Extracted, carried_onto, with_base_baggage};
use otel_kit_core::opentelemetry::propagation::{Extractor, Injector};
#[cfg(any(feature = "kafka", feature = "nats"))]
use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::opentelemetry::trace::{Link, SpanBuilder, SpanContext, TraceContextExt};
use otel_kit_core::opentelemetry::{Context, KeyValue};
#[cfg(any(feature = "kafka", feature = "nats"))]
use otel_kit_core::semconv::attribute as attr;

use crate::instrumentation::{Instrumentation, ProcessMode};
use crate::operation::Operation;
#[cfg(any(feature = "kafka", feature = "nats"))]
use crate::operation::OperationType;
use crate::operation_span::OperationSpan;

impl Instrumentation {
    /// The late-attribute callback of a span start that captures the
    /// configured message headers of `carrier` (only called for a
    /// recording span; nothing to do when no header is configured).
    pub(crate) fn capture_from<'a>(
        &'a self,
        carrier: &'a dyn Extractor,
    ) -> impl FnMut(&mut Vec<KeyValue>) + 'a {
        move |late| self.inner.recording.capture.capture_from(carrier, late)
    }

    /// Writes `cx` into `carrier` with the configured propagator (the
    /// builder's, else the global one).
    pub(crate) fn inject(&self, cx: &Context, carrier: &mut dyn Injector) {
        self.inner.recording.propagation.inject(cx, carrier);
    }

    /// What a message's headers carry, read with the configured propagator
    /// by the family's one rule: on top of the current context. Malformed
    /// or missing headers leave the current context as it is.
    pub(crate) fn extract(&self, headers: &dyn Extractor) -> Extracted {
        self.inner.recording.propagation.extract(headers)
    }

    /// The creation context carried by a message: the remote span context
    /// its headers brought (invalid when there is none or it is malformed).
    pub(crate) fn creation_context(&self, headers: &dyn Extractor) -> SpanContext {
        self.extract(headers)
            .remote()
            .unwrap_or_else(SpanContext::empty_context)
    }

    /// Starts a span for `op` under `parent`, with `links`; `late` adds
    /// the attributes only a recording span needs (captured headers).
    pub(crate) fn start(
        &self,
        op: &Operation,
        parent: &Context,
        links: Vec<Link>,
        late: impl FnMut(&mut Vec<KeyValue>),
    ) -> OperationSpan {
        self.start_at(op, parent, links, late, None)
    }

    /// [`start`](Self::start) with an explicit start time (a receive span
    /// whose destination is known only once the poll returned).
    pub(crate) fn start_at(
        &self,
        op: &Operation,
        parent: &Context,
        links: Vec<Link>,
        late: impl FnMut(&mut Vec<KeyValue>),
        started: Option<(SystemTime, Instant)>,
    ) -> OperationSpan {
        let prepared = self.inner.recording.destinations.get(op);
        let mut attrs = Vec::with_capacity(prepared.metric_attrs.len() + op.span_only_len());
        attrs.extend(prepared.metric_attrs.iter().cloned());
        op.push_span_only_attrs(&mut attrs);
        let mut builder = SpanBuilder::from_name(prepared.name.clone())
            .with_kind(op.kind.clone().unwrap_or_else(|| op.op_type.kind()))
            .with_attributes(attrs);
        if !links.is_empty() {
            builder = builder.with_links(links);
        }
        if let Some((at, _)) = started {
            builder = builder.with_start_time(at);
        }
        let cx = self.inner.recording.tracer.start(builder, parent, late);
        OperationSpan::new(
            cx,
            started.map_or_else(Instant::now, |(_, i)| i),
            prepared,
            op,
            self.clone(),
        )
    }

    /// Starts the process span of one message whose headers are `headers`
    /// (`None`: the message has none).
    ///
    /// The headers are read by the family's one extraction rule, on top of
    /// the current context (the *ambient* context): the creation context is
    /// the remote span context they brought ([`Extracted::remote`]), and
    /// everything else they held (baggage, forwarded mesh headers,
    /// force-keep) lands in the process context on top of the ambient
    /// values. In [`ProcessMode::Parent`] with a creation context the span
    /// is its child (and links the ambient span, if any); otherwise it is
    /// the ambient span's child and links to the creation context
    /// (`otel_kit_core::instrument::carried_onto`). In both modes the
    /// process context, the one the handler runs under, carries the
    /// message's baggage on top of the ambient baggage (the message's
    /// entries win).
    pub(crate) fn start_process(
        &self,
        op: &Operation,
        headers: Option<&dyn Extractor>,
    ) -> OperationSpan {
        let ambient = Context::current();
        let Some(headers) = headers else {
            return self.start(op, &ambient, Vec::new(), |_| {});
        };
        let extracted = self
            .inner
            .recording
            .propagation
            .extract_onto(&ambient, headers);
        let creation = extracted.remote();
        let carried = with_base_baggage(&ambient, extracted.into_context());
        let late = self.capture_from(headers);
        match creation {
            Some(_) if self.inner.process_mode == ProcessMode::Parent => {
                let ambient_sc = ambient.span().span_context().clone();
                let links = if ambient_sc.is_valid() {
                    vec![Link::with_context(ambient_sc)]
                } else {
                    Vec::new()
                };
                self.start(op, &carried, links, late)
            }
            Some(creation) => {
                let parent = carried_onto(&ambient, &carried);
                self.start(op, &parent, vec![Link::with_context(creation)], late)
            }
            None => self.start(op, &carried, Vec::new(), late),
        }
    }

    /// Starts the `send` span of a batch (semconv "Links vs parent",
    /// producer side). For each message: a creation context it already
    /// carries (user-supplied) is kept and linked, with no create span;
    /// otherwise, with create spans on, a `create` PRODUCER span (ended at
    /// once) is made, its context injected and linked. The send span (with
    /// `messaging.batch.message_count`) is CLIENT when it links creation
    /// contexts; with create spans off it is PRODUCER and its own context
    /// is injected into the messages that carry none.
    #[cfg(any(feature = "kafka", feature = "nats"))]
    pub(crate) fn start_batch_send<M: OutgoingMessage>(
        &self,
        mut send: Operation,
        messages: &mut [M],
    ) -> OperationSpan {
        let ambient = Context::current();
        send.batch_count = Some(messages.len());
        let mut links = Vec::with_capacity(messages.len());
        let mut needs_send_context = Vec::new();
        for (i, message) in messages.iter_mut().enumerate() {
            let existing = message.existing_context(self);
            if existing.is_valid() {
                links.push(Link::with_context(existing));
            } else if self.inner.create_spans {
                let mut create = message.create_operation();
                create.op_type = OperationType::Create;
                create.name = "create";
                create.kind = None;
                // §4: `messaging.client.id` is not set on create spans.
                create
                    .span_attrs
                    .retain(|kv| kv.key.as_str() != attr::MESSAGING_CLIENT_ID);
                let span = self.start(&create, &ambient, Vec::new(), |late| {
                    message.capture_headers(&self.inner.recording.capture, late);
                });
                if self.inner.propagate {
                    message.inject(self, span.context());
                }
                links.push(Link::with_context(
                    span.context().span().span_context().clone(),
                ));
                span.end();
            } else {
                needs_send_context.push(i);
            }
        }
        if needs_send_context.is_empty() {
            send.kind = Some(SpanKind::Client);
        }
        let span = self.start(&send, &ambient, links, |_| {});
        if self.inner.propagate {
            for i in needs_send_context {
                messages[i].inject(self, span.context());
            }
        }
        span
    }
}

/// One message of a batch being sent, as [`Instrumentation::start_batch_send`]
/// needs it.
#[cfg(any(feature = "kafka", feature = "nats"))]
pub(crate) trait OutgoingMessage {
    /// The message's own operation (destination, per-message attributes);
    /// its name and type are replaced by `create`.
    fn create_operation(&self) -> Operation;
    /// The creation context the message already carries (invalid if none),
    /// read with `inst`'s propagator.
    fn existing_context(&self, inst: &Instrumentation) -> SpanContext;
    /// Appends the captured header attributes for its create span.
    fn capture_headers(&self, capture: &HeaderCapture, out: &mut Vec<KeyValue>);
    /// Writes `cx` into the message headers with `inst`'s propagator.
    fn inject(&mut self, inst: &Instrumentation, cx: &Context);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn captured_keys(inst: &Instrumentation, carrier: &dyn Extractor) -> Vec<String> {
        let mut out = Vec::new();
        inst.capture_from(carrier)(&mut out);
        let mut keys: Vec<String> = out.iter().map(|kv| kv.key.as_str().to_owned()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn header_capture_over_a_carrier_refuses_credentials_unless_allowed() {
        let mut carrier: HashMap<String, String> = HashMap::new();
        carrier.insert("authorization".into(), "Bearer s3cret".into());
        carrier.insert("cookie".into(), "session=s3cret".into());
        carrier.insert("x-tenant".into(), "acme".into());
        let names = ["X-Tenant", "Authorization", "cookie"];
        let refused = Instrumentation::builder()
            .capture_request_headers(names)
            .build();
        assert_eq!(
            captured_keys(&refused, &carrier),
            ["messaging.header.x-tenant"]
        );
        let allowed = Instrumentation::builder()
            .capture_request_headers(names)
            .allow_sensitive_headers(["authorization"])
            .build();
        assert_eq!(
            captured_keys(&allowed, &carrier),
            [
                "messaging.header.authorization",
                "messaging.header.x-tenant"
            ]
        );
        // Allowing alone captures nothing: the capture list decides.
        let only_allowed = Instrumentation::builder()
            .allow_sensitive_headers(["authorization"])
            .build();
        assert!(captured_keys(&only_allowed, &carrier).is_empty());
    }
}
