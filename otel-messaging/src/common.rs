//! Span and metric building shared by every messaging system: span names,
//! the §4 attributes, the four messaging metrics, links vs parent for
//! process spans, and message-header capture. Built on the family's
//! instrumentation core (`otel_kit_core::instrument`): options, span starts,
//! extraction, header capture and error records are the core's.
// Each system uses a different subset of these helpers.
#![cfg_attr(
    not(all(feature = "kafka", feature = "nats", feature = "rabbitmq")),
    allow(dead_code)
)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use otel_kit_core::instrument::{
    BuildFastHasher, ErrorRecord, ExceptionEvent, ExceptionEvents, Extracted, HeaderCapture, OTHER,
    Options, Propagation, SemconvArea, SpanStarter, duration_histogram, intern_span_name,
    record_exception,
};
use otel_kit_core::opentelemetry::baggage::{Baggage, BaggageExt};
use otel_kit_core::opentelemetry::metrics::{BoundCounter, BoundHistogram, Counter, Histogram};
use otel_kit_core::opentelemetry::propagation::{Extractor, Injector};
use otel_kit_core::opentelemetry::trace::{Link, SpanBuilder, SpanContext, SpanKind, TraceContextExt};
use otel_kit_core::opentelemetry::{Context, KeyValue, StringValue};
use otel_kit_core::propagation::ForwardedHeaders;
use otel_kit_core::sampling::{is_force_keep, with_force_keep};
use otel_kit_core::semconv::{attribute as attr, metric as m};

/// Largest header value (bytes) the carriers hand to a propagator or to
/// header capture; longer values are skipped, the message is unaffected.
pub const MAX_HEADER_VALUE_LEN: usize = 8192;

/// The attribute prefix of captured message headers.
const HEADER_PREFIX: &str = "messaging.header.";

/// The `messaging.operation.type` of a span (semconv v1.44 operation model).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationType {
    /// One message of a batch created: PRODUCER span whose context is the
    /// message's creation context.
    Create,
    /// One or more messages sent: PRODUCER span, or CLIENT for a batch
    /// whose messages carry `create` span contexts.
    Send,
    /// Pull: the application asked for messages: CLIENT span.
    Receive,
    /// Handling of delivered messages: CONSUMER span.
    Process,
    /// ack, nack, reject, term, commit: CLIENT span.
    Settle,
}

impl OperationType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Send => "send",
            Self::Receive => "receive",
            Self::Process => "process",
            Self::Settle => "settle",
        }
    }

    fn kind(self) -> SpanKind {
        match self {
            Self::Create | Self::Send => SpanKind::Producer,
            Self::Receive | Self::Settle => SpanKind::Client,
            Self::Process => SpanKind::Consumer,
        }
    }
}

/// How a `process` span relates to the context the producer put in the
/// message headers (the creation context).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProcessMode {
    /// Default (semconv): the process span keeps the ambient parent (the
    /// current context, usually none, so a new root) and **links** to the
    /// creation context.
    #[default]
    Link,
    /// The process span is a **child** of the creation context, so producer
    /// and consumer form one connected tree. When an ambient span exists it
    /// is linked. Batches always use links.
    Parent,
}

/// Shared instruments and options of one instrumented client. Cheap to
/// clone. Build it with [`Instrumentation::builder`]; the default uses the
/// global tracer and meter providers.
#[derive(Clone, Debug)]
pub struct Instrumentation {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tracer: SpanStarter,
    sent: Counter<u64>,
    consumed: Counter<u64>,
    operation_duration: Histogram<f64>,
    process_duration: Histogram<f64>,
    process_mode: ProcessMode,
    propagate: bool,
    create_spans: bool,
    /// Message headers recorded as `messaging.header.<name>`.
    capture: HeaderCapture,
    /// Extraction (on top of the current context) and injection.
    propagation: Propagation,
    prepared: PreparedCache,
    exceptions: ExceptionEvents,
}

/// The instruments one operation records, bound to its attribute set.
struct BoundOp {
    duration: BoundHistogram<f64>,
    count: Option<BoundCounter<u64>>,
}

impl Default for Instrumentation {
    fn default() -> Self {
        Self::builder().build()
    }
}

/// Builder of [`Instrumentation`].
///
/// The options every instrumentation of the family shares come from
/// `otel_kit_core`'s `instrumentation_setters!` and have the same names and
/// types in every crate: [`tracer_provider`](Self::tracer_provider),
/// [`meter_provider`](Self::meter_provider) and
/// [`logger_provider`](Self::logger_provider) (any API provider),
/// [`propagator`](Self::propagator),
/// [`capture_request_headers`](Self::capture_request_headers) and
/// [`allow_sensitive_headers`](Self::allow_sensitive_headers) (message
/// headers recorded as `messaging.header.<name>`), and
/// [`exception_signal`](Self::exception_signal). The messaging options are
/// [`process_mode`](Self::process_mode), [`propagate`](Self::propagate) and
/// [`create_spans`](Self::create_spans).
///
/// ```
/// use otel_kit_messaging::{Instrumentation, ProcessMode};
///
/// let instrumentation = Instrumentation::builder()
///     .process_mode(ProcessMode::Parent)
///     // `authorization` is refused unless allowed explicitly as well.
///     .capture_request_headers(["x-tenant", "authorization"])
///     .build();
/// # let _ = instrumentation;
/// ```
pub struct InstrumentationBuilder {
    options: Options,
    process_mode: ProcessMode,
    no_propagation: bool,
    no_create_spans: bool,
}

impl Default for InstrumentationBuilder {
    fn default() -> Self {
        InstrumentationBuilder {
            options: Options::new(scope()),
            process_mode: ProcessMode::default(),
            no_propagation: false,
            no_create_spans: false,
        }
    }
}

impl std::fmt::Debug for InstrumentationBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentationBuilder")
            .field("options", &self.options)
            .field("process_mode", &self.process_mode)
            .field("propagate", &!self.no_propagation)
            .field("create_spans", &!self.no_create_spans)
            .finish()
    }
}

/// The instrumentation scope of this crate (name, version, schema URL).
pub(crate) fn scope() -> otel_kit_core::opentelemetry::InstrumentationScope {
    otel_kit_core::instrument::scope("otel-kit-messaging", env!("CARGO_PKG_VERSION"))
}

impl InstrumentationBuilder {
    otel_kit_core::instrumentation_setters!(options: providers, propagator, request_headers, exceptions);

    /// Link (default) or parent for single-message process spans.
    pub fn process_mode(mut self, mode: ProcessMode) -> Self {
        self.process_mode = mode;
        self
    }

    /// Whether producers write the trace context into message headers
    /// (default `true`). With `false` the send span is still recorded but the
    /// message is published with its headers untouched.
    pub fn propagate(mut self, propagate: bool) -> Self {
        self.no_propagation = !propagate;
        self
    }

    /// Whether batch sends make a `create` PRODUCER span per message
    /// (default `true`). Each message then carries its own create span's
    /// context and the batch's `send` span is a CLIENT span linking to all
    /// of them. With `false` the batch is one PRODUCER `send` span whose
    /// context every message carries. Single-message sends never make
    /// create spans.
    pub fn create_spans(mut self, create_spans: bool) -> Self {
        self.no_create_spans = !create_spans;
        self
    }

    /// Builds the instruments.
    pub fn build(self) -> Instrumentation {
        let resolved = self
            .options
            .resolve(SemconvArea::Messaging, HEADER_PREFIX, "");
        let meter = &resolved.meter;
        let sent = meter
            .u64_counter(m::MESSAGING_CLIENT_SENT_MESSAGES)
            .with_unit("{message}")
            .with_description("Number of messages producer attempted to send to the broker.")
            .build();
        let consumed = meter
            .u64_counter(m::MESSAGING_CLIENT_CONSUMED_MESSAGES)
            .with_unit("{message}")
            .with_description("Number of messages that were delivered to the application.")
            .build();
        let operation_duration = duration_histogram(
            meter,
            m::MESSAGING_CLIENT_OPERATION_DURATION,
            "Duration of messaging operation initiated by a producer or consumer client.",
        );
        let process_duration = duration_histogram(
            meter,
            m::MESSAGING_PROCESS_DURATION,
            "Duration of processing operation.",
        );
        Instrumentation {
            inner: Arc::new(Inner {
                tracer: resolved.tracer,
                sent,
                consumed,
                operation_duration,
                process_duration,
                process_mode: self.process_mode,
                propagate: !self.no_propagation,
                create_spans: !self.no_create_spans,
                capture: resolved.request_headers,
                propagation: resolved.propagation,
                prepared: PreparedCache::default(),
                exceptions: resolved.exceptions,
            }),
        }
    }
}

/// Description of one messaging operation, filled by the system modules.
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

    /// `{operation} {destination}` with the §4 priority.
    fn span_name(&self) -> Cow<'static, str> {
        let target = if let Some(t) = &self.template {
            Some(t.clone())
        } else if let Some(d) = self.destination.as_ref().filter(|_| !self.temporary) {
            Some(d.clone())
        } else {
            self.server.as_deref().map(|(h, p)| format!("{h}:{p}"))
        };
        match target {
            Some(t) => Cow::Owned(format!("{} {}", self.name, t)),
            None => Cow::Borrowed(self.name),
        }
    }

    /// Attributes shared by span and metrics.
    fn metric_attrs(&self) -> Vec<KeyValue> {
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
        } else if let Some(d) = self.destination.as_ref().filter(|_| !self.temporary) {
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

    /// The fields that determine [`span_name`](Self::span_name) and
    /// [`metric_attrs`](Self::metric_attrs).
    fn key(&self) -> OpKey<'_> {
        let target = if let Some(t) = &self.template {
            Target::Template(t)
        } else if let Some(d) = self.destination.as_ref().filter(|_| !self.temporary) {
            Target::Destination(d)
        } else {
            Target::None
        };
        OpKey {
            system: self.system,
            name: self.name,
            op_type: self.op_type,
            target,
            partition: self.partition.as_deref(),
            consumer_group: self.consumer_group.as_deref(),
            server: self.server.as_deref().map(|(h, p)| (h.as_str(), *p)),
        }
    }

    /// Upper bound of the attributes `push_span_only_attrs` adds.
    fn span_only_len(&self) -> usize {
        4 + self.span_attrs.len()
    }

    /// Appends the span-only attributes (after the shared ones).
    fn push_span_only_attrs(&self, a: &mut Vec<KeyValue>) {
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

/// What an operation's span name and shared attributes depend on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target<'a> {
    Template(&'a str),
    Destination(&'a str),
    None,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct OpKey<'a> {
    system: &'static str,
    name: &'static str,
    op_type: OperationType,
    target: Target<'a>,
    partition: Option<&'a str>,
    consumer_group: Option<&'a str>,
    server: Option<(&'a str, u16)>,
}

impl Hash for OpKey<'_> {
    /// Every string is written with its length first: the core's
    /// `FastHasher` tags only a string's last partial word with its length,
    /// which leaves pairs such as `orders.10` / `orders.108` with one hash
    /// when they are written as bare bytes.
    fn hash<H: Hasher>(&self, h: &mut H) {
        fn text<H: Hasher>(h: &mut H, s: &str) {
            h.write_usize(s.len());
            h.write(s.as_bytes());
        }
        fn opt<H: Hasher>(h: &mut H, s: Option<&str>) {
            match s {
                Some(s) => {
                    h.write_u8(1);
                    text(h, s);
                }
                None => h.write_u8(0),
            }
        }
        text(h, self.system);
        text(h, self.name);
        h.write_u8(self.op_type as u8);
        match self.target {
            Target::Template(t) => {
                h.write_u8(1);
                text(h, t);
            }
            Target::Destination(d) => {
                h.write_u8(2);
                text(h, d);
            }
            Target::None => h.write_u8(0),
        }
        opt(h, self.partition);
        opt(h, self.consumer_group);
        opt(h, self.server.map(|(host, _)| host));
        h.write_u16(self.server.map_or(0, |(_, port)| port));
    }
}

/// The owned form of an [`OpKey`], stored with the cached values.
#[derive(Debug)]
struct OwnedOpKey {
    system: &'static str,
    name: &'static str,
    op_type: OperationType,
    target: (u8, Option<Box<str>>),
    partition: Option<Box<str>>,
    consumer_group: Option<Box<str>>,
    server: Option<(Box<str>, u16)>,
}

impl OwnedOpKey {
    fn new(key: &OpKey<'_>) -> Self {
        let target = match key.target {
            Target::Template(t) => (1, Some(t.into())),
            Target::Destination(d) => (2, Some(d.into())),
            Target::None => (0, None),
        };
        Self {
            system: key.system,
            name: key.name,
            op_type: key.op_type,
            target,
            partition: key.partition.map(Into::into),
            consumer_group: key.consumer_group.map(Into::into),
            server: key.server.map(|(h, p)| (h.into(), p)),
        }
    }

    fn matches(&self, key: &OpKey<'_>) -> bool {
        let target = match key.target {
            Target::Template(t) => (1, Some(t)),
            Target::Destination(d) => (2, Some(d)),
            Target::None => (0, None),
        };
        self.system == key.system
            && self.name == key.name
            && self.op_type == key.op_type
            && self.target.0 == target.0
            && self.target.1.as_deref() == target.1
            && self.partition.as_deref() == key.partition
            && self.consumer_group.as_deref() == key.consumer_group
            && self.server.as_ref().map(|(h, p)| (&**h, *p)) == key.server
    }
}

/// Span name and shared (span and metric) attributes of one destination,
/// and, once the cache holds it, the metric instruments bound to them.
struct Prepared {
    key: OwnedOpKey,
    name: Cow<'static, str>,
    metric_attrs: Arc<[KeyValue]>,
    /// Whether the cache holds this entry. Only then are instruments bound
    /// to it (an entry made for one call would bind once per call).
    cached: bool,
    /// The duration and count instruments bound to `metric_attrs`, per
    /// `counts_consumed` (index 0: `false`, 1: `true`), bound on first use.
    bound: [OnceLock<BoundOp>; 2],
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("key", &self.key)
            .field("name", &self.name)
            .field("metric_attrs", &self.metric_attrs)
            .field("cached", &self.cached)
            .finish_non_exhaustive()
    }
}

/// Most destinations a client keeps prepared; operations on further
/// destinations compute their name and attributes on each call.
const PREPARED_CAPACITY: usize = 1024;

/// Per-destination cache of [`Prepared`] values, bounded by
/// [`PREPARED_CAPACITY`] (and at most 4 entries per hash). Temporary
/// destinations (reply inboxes) are not part of the key, so they do not
/// fill it. Keyed by the [`FastHasher`](otel_kit_core::instrument::FastHasher)
/// hash of the borrowed [`OpKey`] (no allocation on a hit); entries whose
/// keys share a hash sit in one bucket.
#[derive(Debug, Default)]
struct PreparedCache {
    map: RwLock<HashMap<u64, Vec<Arc<Prepared>>, BuildFastHasher>>,
}

impl PreparedCache {
    fn get(&self, op: &Operation) -> Arc<Prepared> {
        let key = op.key();
        let hash = BuildFastHasher::default().hash_one(key);
        if let Ok(map) = self.map.read()
            && let Some(found) = map
                .get(&hash)
                .and_then(|bucket| bucket.iter().find(|p| p.key.matches(&key)))
        {
            return Arc::clone(found);
        }
        let make = |cached: bool| {
            let name = op.span_name();
            Arc::new(Prepared {
                key: OwnedOpKey::new(&key),
                name: if cached { intern_span_name(name) } else { name },
                metric_attrs: op.metric_attrs().into(),
                cached,
                bound: Default::default(),
            })
        };
        if let Ok(mut map) = self.map.write() {
            let len = map.len();
            if let Some(bucket) = map.get_mut(&hash) {
                if let Some(found) = bucket.iter().find(|p| p.key.matches(&key)) {
                    return Arc::clone(found);
                }
                if bucket.len() < 4 {
                    let prepared = make(true);
                    bucket.push(Arc::clone(&prepared));
                    return prepared;
                }
            } else if len < PREPARED_CAPACITY {
                let prepared = make(true);
                map.insert(hash, vec![Arc::clone(&prepared)]);
                return prepared;
            }
        }
        make(false)
    }
}

impl Instrumentation {
    /// A builder with the global providers, link mode, propagation on and
    /// no header capture.
    pub fn builder() -> InstrumentationBuilder {
        InstrumentationBuilder::default()
    }

    /// The configured process mode.
    pub fn process_mode(&self) -> ProcessMode {
        self.inner.process_mode
    }

    /// Whether producers inject the context into message headers.
    pub fn propagates(&self) -> bool {
        self.inner.propagate
    }

    /// Whether batch sends make a `create` span per message.
    pub fn creates_spans(&self) -> bool {
        self.inner.create_spans
    }

    /// The late-attribute callback of a span start that captures the
    /// configured message headers of `carrier` (only called for a
    /// recording span; nothing to do when no header is configured).
    pub(crate) fn capture_from<'a>(
        &'a self,
        carrier: &'a dyn Extractor,
    ) -> impl FnMut(&mut Vec<KeyValue>) + 'a {
        move |late| self.inner.capture.capture_from(carrier, late)
    }

    /// Writes `cx` into `carrier` with the configured propagator (the
    /// builder's, else the global one).
    pub(crate) fn inject(&self, cx: &Context, carrier: &mut dyn Injector) {
        self.inner.propagation.inject(cx, carrier);
    }

    /// What a message's headers carry, read with the configured propagator
    /// by the family's one rule: on top of the current context. Malformed
    /// or missing headers leave the current context as it is.
    pub(crate) fn extract(&self, headers: &dyn Extractor) -> Extracted {
        self.inner.propagation.extract(headers)
    }

    /// The creation context carried by a message: the remote span context
    /// its headers brought (invalid when there is none or it is malformed).
    pub(crate) fn creation_context(&self, headers: &dyn Extractor) -> SpanContext {
        self.extract(headers)
            .remote()
            .unwrap_or_else(SpanContext::empty_context)
    }

    /// Starts the `send` span of a batch (semconv "Links vs parent",
    /// producer side). For each message: a creation context it already
    /// carries (user-supplied) is kept and linked, with no create span;
    /// otherwise, with create spans on, a `create` PRODUCER span (ended at
    /// once) is made, its context injected and linked. The send span (with
    /// `messaging.batch.message_count`) is CLIENT when it links creation
    /// contexts; with create spans off it is PRODUCER and its own context
    /// is injected into the messages that carry none.
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
                    message.capture_headers(&self.inner.capture, late);
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
        started: Option<(std::time::SystemTime, Instant)>,
    ) -> OperationSpan {
        let prepared = self.inner.prepared.get(op);
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
        OperationSpan {
            cx: self.inner.tracer.start(builder, parent, late),
            start: started.map_or_else(Instant::now, |(_, i)| i),
            prepared,
            metric_extra: Vec::new(),
            op_type: op.op_type,
            count: op.batch_count.unwrap_or(1) as u64,
            counts_consumed: op.counts_consumed,
            inst: self.clone(),
            ended: false,
        }
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
    /// the ambient span's child and links to the creation context. In both
    /// modes the process context, the one the handler runs under, carries
    /// the message's baggage on top of the ambient baggage (the message's
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
        let extracted = self.inner.propagation.extract_onto(&ambient, headers);
        let creation = extracted.remote();
        let carried = with_ambient_baggage(&ambient, extracted.into_context());
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
                let parent = carried_onto_ambient(&ambient, &carried);
                self.start(op, &parent, vec![Link::with_context(creation)], late)
            }
            None => self.start(op, &carried, Vec::new(), late),
        }
    }
}

/// `carried` (the ambient context with what the headers held on top) with
/// its baggage extended by the ambient entries the message does not
/// override: the extraction replaces the ambient baggage when the headers
/// hold some, the conventions' process context keeps both.
fn with_ambient_baggage(ambient: &Context, carried: Context) -> Context {
    let existing = ambient.baggage();
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

/// The ambient context (its span: the parent in link mode) with the values
/// the message's headers brought besides their span context: baggage,
/// forwarded mesh headers and the force-keep marker.
fn carried_onto_ambient(ambient: &Context, carried: &Context) -> Context {
    let mut cx = ambient.with_baggage(
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

/// One message of a batch being sent, as [`Instrumentation::start_batch_send`]
/// needs it.
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

/// The value every item has, `None` when they differ or there are none.
pub(crate) fn shared_value<T: PartialEq>(mut items: impl Iterator<Item = T>) -> Option<T> {
    let first = items.next()?;
    items.all(|v| v == first).then_some(first)
}

/// A started messaging span with its duration metric. End it with
/// [`end`](Self::end) or [`end_with_error`](Self::end_with_error); dropping
/// it ends it as a success.
#[derive(Debug)]
pub struct OperationSpan {
    cx: Context,
    start: Instant,
    /// Shared attributes of the operation and their bound instruments
    /// (cached per destination).
    prepared: Arc<Prepared>,
    /// Shared attributes known only later (Kafka partition), then `error.type`.
    metric_extra: Vec<KeyValue>,
    op_type: OperationType,
    count: u64,
    counts_consumed: bool,
    inst: Instrumentation,
    ended: bool,
}

impl OperationSpan {
    /// The context holding this span: run the work under it
    /// (`FutureExt::with_context`) so nested spans become its children.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Adds an attribute to the span.
    pub fn set_attribute(&self, kv: KeyValue) {
        self.cx.span().set_attribute(kv);
    }

    /// Adds an attribute to the span and to the metrics recorded when it
    /// ends (for values known only at the end, such as a Kafka partition).
    pub(crate) fn set_shared_attribute(&mut self, kv: KeyValue) {
        self.cx.span().set_attribute(kv.clone());
        self.metric_extra.push(kv);
    }

    /// Ends the span as a success and records its metrics.
    pub fn end(mut self) {
        self.finish(None);
    }

    /// Ends the span as failed: `error.type` on span and metrics, status
    /// Error with `message`, and an `exception` event.
    pub fn end_with_error(mut self, error_type: &str, message: &str) {
        self.finish(Some((error_type, message)));
    }

    fn finish(&mut self, error: Option<(&str, &str)>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let elapsed = self.start.elapsed().as_secs_f64();
        let span = self.cx.span();
        let mut extra = std::mem::take(&mut self.metric_extra);
        if let Some((error_type, message)) = error {
            let event = match self.op_type {
                OperationType::Create => ExceptionEvent::MESSAGING_CREATE,
                OperationType::Send => ExceptionEvent::MESSAGING_SEND,
                OperationType::Receive => ExceptionEvent::MESSAGING_RECEIVE,
                OperationType::Process => ExceptionEvent::MESSAGING_PROCESS,
                OperationType::Settle => ExceptionEvent::MESSAGING_SETTLE,
            };
            record_exception(
                &span,
                &ErrorRecord {
                    error_type: Cow::Borrowed(error_type),
                    message: (!message.is_empty()).then_some(Cow::Borrowed(message)),
                    exception: true,
                },
                &self.inst.inner.exceptions,
                event,
            );
            extra.push(KeyValue::new(attr::ERROR_TYPE, error_type.to_owned()));
        }
        let inner = &self.inst.inner;
        let duration = match self.op_type {
            OperationType::Process => &inner.process_duration,
            _ => &inner.operation_duration,
        };
        let counter = if self.op_type == OperationType::Send {
            Some(&inner.sent)
        } else if self.counts_consumed {
            Some(&inner.consumed)
        } else {
            None
        };
        let attrs = &*self.prepared.metric_attrs;
        if extra.is_empty() && self.prepared.cached {
            // The instruments depend on the operation type (part of the
            // prepared entry's key) and on `counts_consumed`.
            let bound =
                self.prepared.bound[usize::from(self.counts_consumed)].get_or_init(|| BoundOp {
                    duration: duration.bind(attrs),
                    count: counter.map(|c| c.bind(attrs)),
                });
            bound.duration.record(elapsed);
            if let Some(c) = &bound.count {
                c.add(self.count);
            }
        } else if extra.is_empty() {
            duration.record(elapsed, attrs);
            if let Some(c) = counter {
                c.add(self.count, attrs);
            }
        } else {
            let attrs: Vec<KeyValue> = attrs.iter().cloned().chain(extra).collect();
            duration.record(elapsed, &attrs);
            if let Some(c) = counter {
                c.add(self.count, &attrs);
            }
        }
        span.end();
    }
}

impl Drop for OperationSpan {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// A message handed to the application together with its `process` span.
///
/// Dereferences to the message. Run the handling under [`context`](Self::context)
/// so nested spans are children of the process span; the span ends when this
/// value is dropped, or explicitly with [`end`](Self::end) /
/// [`end_with_error`](Self::end_with_error). Settle operations (ack, nack…)
/// are children of the process span.
#[derive(Debug)]
pub struct Delivered<M> {
    message: M,
    span: OperationSpan,
    pub(crate) op: Operation,
}

impl<M> Delivered<M> {
    pub(crate) fn new(message: M, span: OperationSpan, op: Operation) -> Self {
        Self { message, span, op }
    }

    /// The context of the process span.
    pub fn context(&self) -> &Context {
        self.span.context()
    }

    /// The message.
    pub fn message(&self) -> &M {
        &self.message
    }

    /// Ends the process span as a success.
    pub fn end(self) -> M {
        let (message, span) = self.into_parts();
        span.end();
        message
    }

    /// Ends the process span as failed (see [`OperationSpan::end_with_error`]).
    pub fn end_with_error(self, error_type: &str, message: &str) -> M {
        let (m, span) = self.into_parts();
        span.end_with_error(error_type, message);
        m
    }

    /// The message and its (still running) process span.
    pub fn into_parts(self) -> (M, OperationSpan) {
        (self.message, self.span)
    }

    pub(crate) fn instrumentation(&self) -> &Instrumentation {
        &self.span.inst
    }

    /// Runs a settle operation (`name`: ack, nack, reject, term, commit…) as
    /// a CLIENT span that is a child of the process span.
    pub(crate) async fn settle<T, E, F>(&self, name: &'static str, fut: F) -> Result<T, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        settle(
            self.instrumentation(),
            &self.op,
            self.span.context(),
            name,
            fut,
        )
        .await
    }
}

/// Runs the settle future `fut` as a span named `{name} {destination}`
/// under `parent` (`base`: the message's process operation).
pub(crate) async fn settle<T, E, F>(
    inst: &Instrumentation,
    base: &Operation,
    parent: &Context,
    name: &'static str,
    fut: F,
) -> Result<T, E>
where
    F: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let op = settle_op(base, name);
    let span = inst.start(&op, parent, Vec::new(), |_| {});
    let result =
        otel_kit_core::opentelemetry::context::FutureExt::with_context(fut, span.context().clone())
            .await;
    match &result {
        Ok(_) => span.end(),
        Err(e) => span.end_with_error(name_error(name), &e.to_string()),
    }
    result
}

impl<M> Delivered<M> {
    /// Synchronous variant of [`settle`](Self::settle) (Kafka commits).
    pub(crate) fn settle_sync<T, E, F>(&self, name: &'static str, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        E: std::fmt::Display,
    {
        settle_sync(&self.span.inst, &self.op, self.span.context(), name, f)
    }
}

/// Runs `f` as a settle span named `{name} {destination}` under `parent`.
pub(crate) fn settle_sync<T, E, F>(
    inst: &Instrumentation,
    base: &Operation,
    parent: &Context,
    name: &'static str,
    f: F,
) -> Result<T, E>
where
    F: FnOnce() -> Result<T, E>,
    E: std::fmt::Display,
{
    let op = settle_op(base, name);
    let span = inst.start(&op, parent, Vec::new(), |_| {});
    let result = {
        let _guard = span.context().clone().attach();
        f()
    };
    match &result {
        Ok(_) => span.end(),
        Err(e) => span.end_with_error(name_error(name), &e.to_string()),
    }
    result
}

fn settle_op(base: &Operation, name: &'static str) -> Operation {
    let mut op = base.clone();
    op.name = name;
    op.op_type = OperationType::Settle;
    op.kind = None;
    op.counts_consumed = false;
    op.batch_count = None;
    op.body_size = None;
    op.span_attrs
        .retain(|kv| kv.key.as_str() != attr::MESSAGING_MESSAGE_BODY_SIZE);
    op
}

fn name_error(name: &str) -> &'static str {
    match name {
        "ack" => "ack_failed",
        "nack" | "nak" => "nack_failed",
        "reject" => "reject_failed",
        "term" => "term_failed",
        "commit" => "commit_failed",
        _ => OTHER,
    }
}

impl<M> std::ops::Deref for Delivered<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(destination: &str, temporary: bool) -> Operation {
        let mut op =
            Operation::new("nats", "publish", OperationType::Send).destination(destination);
        op.temporary = temporary;
        op.server = Some(Arc::new(("localhost".to_owned(), 4222)));
        op
    }

    #[test]
    fn prepared_cache_matches_uncached_values() {
        let cache = PreparedCache::default();
        for (dest, temporary) in [("a.b", false), ("a.c", false), ("_INBOX.x", true)] {
            let op = op(dest, temporary);
            let first = cache.get(&op);
            let again = cache.get(&op);
            assert!(Arc::ptr_eq(&first, &again));
            assert_eq!(first.name, op.span_name());
            assert_eq!(&*first.metric_attrs, op.metric_attrs().as_slice());
        }
        // Temporary destinations share the entry keyed by the server.
        let inbox = cache.get(&op("_INBOX.y", true));
        assert_eq!(inbox.name, "publish localhost:4222");
        assert!(Arc::ptr_eq(&inbox, &cache.get(&op("_INBOX.x", true))));
        // Other fields are part of the key.
        let mut grouped = op("a.b", false);
        grouped.consumer_group = Some("g".to_owned());
        let g = cache.get(&grouped);
        assert!(!Arc::ptr_eq(&g, &cache.get(&op("a.b", false))));
        assert_eq!(&*g.metric_attrs, grouped.metric_attrs().as_slice());
    }

    #[test]
    fn cached_entries_share_an_interned_name_and_others_stay_owned() {
        let a = PreparedCache::default();
        let b = PreparedCache::default();
        let first = a.get(&op("interned.subject", false));
        let second = b.get(&op("interned.subject", false));
        assert!(first.cached && second.cached);
        match (&first.name, &second.name) {
            (Cow::Borrowed(x), Cow::Borrowed(y)) => assert!(std::ptr::eq(*x, *y)),
            other => panic!("not interned: {other:?}"),
        }
        assert_eq!(first.name, "publish interned.subject");
        // Past the capacity, entries are made per call: not cached, so no
        // interned name and no bound instruments.
        let full = PreparedCache::default();
        for i in 0..PREPARED_CAPACITY {
            full.get(&op(&format!("fill.{i}"), false));
        }
        let mut overflow = None;
        for i in 0..64 {
            let p = full.get(&op(&format!("overflow.{i}"), false));
            if !p.cached {
                overflow = Some(p);
                break;
            }
        }
        let overflow = overflow.expect("an entry past the capacity");
        assert!(matches!(overflow.name, Cow::Owned(_)));
        assert!(overflow.bound.iter().all(|b| b.get().is_none()));
    }

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

    #[test]
    fn settle_failures_are_named_by_the_operation() {
        for (name, expected) in [
            ("ack", "ack_failed"),
            ("nack", "nack_failed"),
            ("nak", "nack_failed"),
            ("reject", "reject_failed"),
            ("term", "term_failed"),
            ("commit", "commit_failed"),
            ("other", OTHER),
        ] {
            assert_eq!(name_error(name), expected);
        }
    }

    #[test]
    fn prepared_cache_is_bounded() {
        let cache = PreparedCache::default();
        for i in 0..PREPARED_CAPACITY + 10 {
            let op = op(&format!("subject.{i}"), false);
            assert_eq!(cache.get(&op).name, op.span_name());
        }
        let entries: usize = cache.map.read().unwrap().values().map(Vec::len).sum();
        assert!(entries <= PREPARED_CAPACITY + 4);
    }
}
