//! One messaging operation: its span name (`{operation}
//! {destination}` by the conventions' priority) and attributes (those span
//! and metrics share, those only the span carries).

use std::borrow::Cow;
use std::sync::Arc;

use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::opentelemetry::{KeyValue, StringValue};
use otel_kit_core::semconv::attribute as attr;

pub(crate) use crate::operation_type::OperationType;

/// Description of one messaging operation, filled by the broker modules.
#[derive(Clone, Debug)]
pub(crate) struct Operation {
    pub system: &'static str,
    pub name: &'static str,
    pub op_type: OperationType,
    pub destination: Option<String>,
    pub template: Option<String>,
    pub temporary: bool,
    pub partition: Option<String>,
    pub consumer_group: Option<String>,
    /// `server.address` and `server.port`, shared with the client (no copy
    /// per operation).
    pub server: Option<Arc<(String, u16)>>,
    pub batch_count: Option<usize>,
    /// `messaging.message.body.size` (span only): a field rather than an
    /// entry of `span_attrs`, so a single-message send needs no vector.
    pub body_size: Option<usize>,
    /// Span-only attributes (offsets, keys, tags…).
    pub span_attrs: Vec<KeyValue>,
    /// Whether ending this operation counts delivered messages.
    pub counts_consumed: bool,
    /// Span kind override (NATS request is CLIENT).
    pub kind: Option<SpanKind>,
}

impl Operation {
    pub(crate) fn new(system: &'static str, name: &'static str, op_type: OperationType) -> Self {
        Self {
            system,
            name,
            op_type,
            destination: None,
            template: None,
            temporary: false,
            partition: None,
            consumer_group: None,
            server: None,
            batch_count: None,
            body_size: None,
            span_attrs: Vec::new(),
            counts_consumed: false,
            kind: None,
        }
    }

    pub(crate) fn destination(mut self, name: impl Into<String>) -> Self {
        self.destination = Some(name.into());
        self
    }

    /// The destination that names the span and goes into the shared
    /// attributes: none for a temporary one (reply inboxes).
    pub(crate) fn named_destination(&self) -> Option<&str> {
        self.destination.as_deref().filter(|_| !self.temporary)
    }

    /// `{operation} {destination}` with the §4 priority: the template, the
    /// destination unless temporary, else `{server}:{port}`.
    pub(crate) fn span_name(&self) -> Cow<'static, str> {
        let target = if let Some(t) = &self.template {
            Some(t.clone())
        } else if let Some(d) = self.named_destination() {
            Some(d.to_owned())
        } else {
            self.server.as_deref().map(|(h, p)| format!("{h}:{p}"))
        };
        match target {
            Some(t) => Cow::Owned(format!("{} {}", self.name, t)),
            None => Cow::Borrowed(self.name),
        }
    }

    /// Attributes shared by span and metrics.
    pub(crate) fn metric_attrs(&self) -> Vec<KeyValue> {
        let mut a = Vec::with_capacity(8);
        a.push(KeyValue::new(attr::MESSAGING_SYSTEM, self.system));
        a.push(KeyValue::new(attr::MESSAGING_OPERATION_NAME, self.name));
        a.push(KeyValue::new(
            attr::MESSAGING_OPERATION_TYPE,
            self.op_type.as_str(),
        ));
        if let Some(t) = &self.template {
            a.push(KeyValue::new(
                attr::MESSAGING_DESTINATION_TEMPLATE,
                shared_str(t),
            ));
        } else if let Some(d) = self.named_destination() {
            a.push(KeyValue::new(
                attr::MESSAGING_DESTINATION_NAME,
                shared_str(d),
            ));
        }
        if let Some(p) = &self.partition {
            a.push(KeyValue::new(
                attr::MESSAGING_DESTINATION_PARTITION_ID,
                shared_str(p),
            ));
        }
        if let Some(g) = &self.consumer_group {
            a.push(KeyValue::new(
                attr::MESSAGING_CONSUMER_GROUP_NAME,
                shared_str(g),
            ));
        }
        if let Some((h, p)) = self.server.as_deref() {
            a.push(KeyValue::new(attr::SERVER_ADDRESS, shared_str(h)));
            a.push(KeyValue::new(attr::SERVER_PORT, i64::from(*p)));
        }
        a
    }

    /// Upper bound of the attributes `push_span_only_attrs` adds.
    pub(crate) fn span_only_len(&self) -> usize {
        4 + self.span_attrs.len()
    }

    /// Appends the span-only attributes (after the shared ones).
    pub(crate) fn push_span_only_attrs(&self, a: &mut Vec<KeyValue>) {
        if let Some(d) = self
            .destination
            .as_ref()
            .filter(|_| self.template.is_some() || self.temporary)
        {
            a.push(KeyValue::new(attr::MESSAGING_DESTINATION_NAME, d.clone()));
        }
        if self.temporary {
            a.push(KeyValue::new(attr::MESSAGING_DESTINATION_TEMPORARY, true));
        }
        if let Some(n) = self.batch_count {
            a.push(KeyValue::new(attr::MESSAGING_BATCH_MESSAGE_COUNT, n as i64));
        }
        if let Some(n) = self.body_size {
            a.push(KeyValue::new(attr::MESSAGING_MESSAGE_BODY_SIZE, n as i64));
        }
        a.extend(self.span_attrs.iter().cloned());
    }
}

/// A string attribute value shared by reference count: cloning the cached
/// attributes for a span or a metric record does not allocate.
fn shared_str(s: &str) -> StringValue {
    StringValue::from(Arc::<str>::from(s))
}

/// The value every item has, `None` when they differ or there are none
/// (the destination of a batch, its partition, its stream).
#[cfg(any(feature = "kafka", feature = "nats"))]
pub(crate) fn shared_value<T: PartialEq>(mut items: impl Iterator<Item = T>) -> Option<T> {
    let first = items.next()?;
    items.all(|v| v == first).then_some(first)
}
