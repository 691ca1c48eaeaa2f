//! Span and metric building shared by every messaging system: span names,
//! the §4 attributes, the four messaging metrics, links vs parent for
//! process spans, and message-header capture.
// Each system uses a different subset of these helpers.
#![cfg_attr(
    not(all(feature = "kafka", feature = "nats", feature = "rabbitmq")),
    allow(dead_code)
)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use otel_core::config::ExceptionSignal;
use otel_core::instrument::{
    DURATION_BUCKETS, ErrorRecord, ExceptionEvent, ExceptionEvents, intern_span_name,
    record_exception,
};
use otel_core::opentelemetry::baggage::{Baggage, BaggageExt};
use otel_core::opentelemetry::global::{self, BoxedTracer};
use otel_core::opentelemetry::metrics::{
    BoundCounter, BoundHistogram, Counter, Histogram, Meter, MeterProvider,
};
use otel_core::opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use otel_core::opentelemetry::trace::{
    Link, SpanContext, SpanKind, TraceContextExt, Tracer, TracerProvider,
};
use otel_core::opentelemetry::{Context, InstrumentationScope, KeyValue, StringValue, Value};
use otel_core::opentelemetry_sdk::logs::SdkLoggerProvider;
use otel_core::semconv::{attribute as attr, metric as m};

/// Largest header value (bytes) the carriers hand to a propagator or to
/// header capture; longer values are skipped, the message is unaffected.
pub const MAX_HEADER_VALUE_LEN: usize = 8192;

const SCOPE_NAME: &str = "otel-messaging";

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

/// Allow-list of message headers recorded as span attributes
/// `messaging.header.<name>` (lower-case name, string array value).
/// Names match case-insensitively; values that are not UTF-8 or longer than
/// [`MAX_HEADER_VALUE_LEN`] are skipped. Empty by default.
#[derive(Clone, Debug, Default)]
pub struct MessageHeaderCapture {
    names: Vec<(String, String)>,
}

impl MessageHeaderCapture {
    /// Captures the named headers.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names = names
            .into_iter()
            .map(|n| {
                let lower = n.as_ref().to_ascii_lowercase();
                let key = format!("messaging.header.{lower}");
                (lower, key)
            })
            .collect();
        Self { names }
    }

    /// Whether nothing is captured.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The attributes for the allowed headers present in `headers`.
    pub fn capture(&self, headers: &dyn Extractor) -> Vec<KeyValue> {
        let mut out = Vec::new();
        if self.names.is_empty() {
            return out;
        }
        let keys = headers.keys();
        for (name, key) in &self.names {
            let mut values: Vec<otel_core::opentelemetry::StringValue> = Vec::new();
            for k in keys.iter().filter(|k| k.eq_ignore_ascii_case(name)) {
                if let Some(all) = headers.get_all(k) {
                    values.extend(all.into_iter().map(|v| v.to_owned().into()));
                }
            }
            if !values.is_empty() {
                values.dedup();
                out.push(KeyValue::new(
                    key.clone(),
                    Value::Array(otel_core::opentelemetry::Array::String(values)),
                ));
            }
        }
        out
    }
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
    tracer: BoxedTracer,
    sent: Counter<u64>,
    consumed: Counter<u64>,
    operation_duration: Histogram<f64>,
    process_duration: Histogram<f64>,
    process_mode: ProcessMode,
    propagate: bool,
    create_spans: bool,
    capture: MessageHeaderCapture,
    /// The propagator given to the builder; `None`: the global one.
    propagator: Option<Arc<dyn TextMapPropagator + Send + Sync>>,
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
#[derive(Default)]
pub struct InstrumentationBuilder {
    tracer: Option<BoxedTracer>,
    meter: Option<Meter>,
    process_mode: ProcessMode,
    no_propagation: bool,
    no_create_spans: bool,
    capture: MessageHeaderCapture,
    propagator: Option<Arc<dyn TextMapPropagator + Send + Sync>>,
    exception_signal: Option<ExceptionSignal>,
    logger_provider: Option<SdkLoggerProvider>,
}

impl std::fmt::Debug for InstrumentationBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentationBuilder")
            .field("process_mode", &self.process_mode)
            .field("propagate", &!self.no_propagation)
            .field("create_spans", &!self.no_create_spans)
            .field("capture", &self.capture)
            .field("propagator", &self.propagator)
            .finish_non_exhaustive()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

impl InstrumentationBuilder {
    /// Spans go to this provider instead of the global one.
    pub fn tracer_provider<P, T>(mut self, provider: &P) -> Self
    where
        P: TracerProvider<Tracer = T>,
        T: Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        self.tracer = Some(BoxedTracer::new(Box::new(
            provider.tracer_with_scope(scope()),
        )));
        self
    }

    /// Metrics go to this provider instead of the global one.
    pub fn meter_provider<P: MeterProvider>(mut self, provider: &P) -> Self {
        self.meter = Some(provider.meter_with_scope(scope()));
        self
    }

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

    /// Message headers recorded on process and send spans.
    pub fn capture_headers(mut self, capture: MessageHeaderCapture) -> Self {
        self.capture = capture;
        self
    }

    /// Injects into and extracts from message headers with this propagator
    /// instead of the global one (`otel_core::init` installs the configured
    /// W3C / B3 / Jaeger / baggage composite globally). Producers inject the
    /// send (or create) span's context with it; consumers extract the
    /// creation context and the producer's baggage with it.
    pub fn propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.propagator = Some(Arc::new(propagator));
        self
    }

    /// Emits exceptions (a failed send, receive, settle or handler) as log
    /// records through this provider when the exception signal includes
    /// logs (default: the provider `otel_core::init` installed).
    pub fn logger_provider(mut self, provider: &SdkLoggerProvider) -> Self {
        self.logger_provider = Some(provider.clone());
        self
    }

    /// Where exceptions go: `exception` span events, log records
    /// (`messaging.{create,send,receive,settle}.exception` WARN,
    /// `messaging.process.exception` ERROR), or both (default: from
    /// `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`).
    pub fn exception_signal(mut self, signal: ExceptionSignal) -> Self {
        self.exception_signal = Some(signal);
        self
    }

    /// Builds the instruments.
    pub fn build(self) -> Instrumentation {
        let tracer = self
            .tracer
            .unwrap_or_else(|| global::tracer_with_scope(scope()));
        let meter = self
            .meter
            .unwrap_or_else(|| global::meter_provider().meter_with_scope(scope()));
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
        let operation_duration = meter
            .f64_histogram(m::MESSAGING_CLIENT_OPERATION_DURATION)
            .with_unit("s")
            .with_description(
                "Duration of messaging operation initiated by a producer or consumer client.",
            )
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build();
        let process_duration = meter
            .f64_histogram(m::MESSAGING_PROCESS_DURATION)
            .with_unit("s")
            .with_description("Duration of processing operation.")
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build();
        Instrumentation {
            inner: Arc::new(Inner {
                tracer,
                sent,
                consumed,
                operation_duration,
                process_duration,
                process_mode: self.process_mode,
                propagate: !self.no_propagation,
                create_spans: !self.no_create_spans,
                capture: self.capture,
                propagator: self.propagator,
                prepared: PreparedCache::default(),
                exceptions: ExceptionEvents::resolve(
                    self.exception_signal,
                    self.logger_provider
                        .as_ref()
                        .map(|p| otel_core::instrument::ExceptionLoggerHandle::new(p, scope())),
                    scope(),
                ),
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
    pub fn new(system: &'static str, name: &'static str, op_type: OperationType) -> Self {
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

    pub fn destination(mut self, name: impl Into<String>) -> Self {
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

impl OpKey<'_> {
    fn hash(&self) -> u64 {
        fn opt(h: &mut Fnv, s: Option<&str>) {
            match s {
                Some(s) => {
                    h.write_u8(1);
                    h.write(s.as_bytes());
                    h.write_u8(0xff);
                }
                None => h.write_u8(0),
            }
        }
        let mut h = Fnv::default();
        h.write(self.system.as_bytes());
        h.write_u8(0xff);
        h.write(self.name.as_bytes());
        h.write_u8(0xff);
        h.write_u8(self.op_type as u8);
        match self.target {
            Target::Template(t) => {
                h.write_u8(1);
                h.write(t.as_bytes());
            }
            Target::Destination(d) => {
                h.write_u8(2);
                h.write(d.as_bytes());
            }
            Target::None => h.write_u8(0),
        }
        h.write_u8(0xff);
        opt(&mut h, self.partition);
        opt(&mut h, self.consumer_group);
        opt(&mut h, self.server.map(|(host, _)| host));
        h.write_u16(self.server.map_or(0, |(_, port)| port));
        h.finish()
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

/// FNV-1a: the cache keys are short strings hashed on every message.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Passes a precomputed `u64` key through.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
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
/// [`PREPARED_CAPACITY`]. Temporary destinations (reply inboxes) are not
/// part of the key, so they do not fill it.
#[derive(Debug, Default)]
struct PreparedCache {
    map: RwLock<HashMap<u64, Vec<Arc<Prepared>>, BuildHasherDefault<IdentityHasher>>>,
}

impl PreparedCache {
    fn get(&self, op: &Operation) -> Arc<Prepared> {
        let key = op.key();
        let hash = key.hash();
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

    pub(crate) fn capture(&self) -> &MessageHeaderCapture {
        &self.inner.capture
    }

    /// Writes `cx` into `carrier` with the configured propagator (the
    /// builder's, else the global one).
    pub(crate) fn inject(&self, cx: &Context, carrier: &mut dyn Injector) {
        match &self.inner.propagator {
            Some(p) => p.inject_context(cx, carrier),
            None => otel_core::propagation::inject(cx, carrier),
        }
    }

    /// What a message's headers carry (creation span context, baggage…),
    /// read with the configured propagator into an empty context. Malformed
    /// or missing headers give an empty context.
    pub(crate) fn extract(&self, headers: &dyn Extractor) -> Context {
        match &self.inner.propagator {
            Some(p) => p.extract_with_context(&Context::new(), headers),
            None => otel_core::propagation::extract_with(&Context::new(), headers),
        }
    }

    /// The creation context carried by a message: the span context in its
    /// headers (invalid when there is none or it is malformed).
    pub(crate) fn creation_context(&self, headers: &dyn Extractor) -> SpanContext {
        self.extract(headers).span().span_context().clone()
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
                let extra = message.captured(&self.inner.capture);
                let span = self.start(&create, &ambient, Vec::new(), extra);
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
        let span = self.start(&send, &ambient, links, Vec::new());
        if self.inner.propagate {
            for i in needs_send_context {
                messages[i].inject(self, span.context());
            }
        }
        span
    }

    /// Starts a span for `op` under `parent`, with `links`.
    pub(crate) fn start(
        &self,
        op: &Operation,
        parent: &Context,
        links: Vec<Link>,
        extra: Vec<KeyValue>,
    ) -> OperationSpan {
        self.start_at(op, parent, links, extra, None)
    }

    /// [`start`](Self::start) with an explicit start time (a receive span
    /// whose destination is known only once the poll returned).
    pub(crate) fn start_at(
        &self,
        op: &Operation,
        parent: &Context,
        links: Vec<Link>,
        extra: Vec<KeyValue>,
        started: Option<(std::time::SystemTime, Instant)>,
    ) -> OperationSpan {
        let prepared = self.inner.prepared.get(op);
        let mut attrs =
            Vec::with_capacity(prepared.metric_attrs.len() + op.span_only_len() + extra.len());
        attrs.extend(prepared.metric_attrs.iter().cloned());
        op.push_span_only_attrs(&mut attrs);
        attrs.extend(extra);
        let mut builder = self
            .inner
            .tracer
            .span_builder(prepared.name.clone())
            .with_kind(op.kind.clone().unwrap_or_else(|| op.op_type.kind()))
            .with_attributes(attrs);
        if !links.is_empty() {
            builder = builder.with_links(links);
        }
        if let Some((at, _)) = started {
            builder = builder.with_start_time(at);
        }
        let span = self.inner.tracer.build_with_context(builder, parent);
        OperationSpan {
            cx: parent.with_span(span),
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

    /// Starts the process span of one message whose headers carried
    /// `carried` (as returned by [`extract`](Self::extract): the creation
    /// span context and the producer's baggage). In [`ProcessMode::Parent`]
    /// with a valid creation context the span is its child (and links the
    /// ambient span, if any); otherwise it stays under `ambient` and links
    /// to the creation context. In both modes the span's context, the one
    /// the handler runs under, carries the message's baggage on top of the
    /// ambient baggage (the message's entries win).
    pub(crate) fn start_process(
        &self,
        op: &Operation,
        ambient: &Context,
        carried: &Context,
        extra: Vec<KeyValue>,
    ) -> OperationSpan {
        let creation = carried.span().span_context().clone();
        let with_baggage;
        let ambient = if carried.baggage().is_empty() {
            ambient
        } else {
            with_baggage = merge_baggage(ambient, carried.baggage());
            &with_baggage
        };
        if self.inner.process_mode == ProcessMode::Parent && creation.is_valid() {
            let ambient_sc = ambient.span().span_context().clone();
            let links = if ambient_sc.is_valid() {
                vec![Link::with_context(ambient_sc)]
            } else {
                Vec::new()
            };
            // Keep ambient values (baggage etc.) but replace the span.
            let parent = ambient.with_remote_span_context(creation);
            return self.start(op, &parent, links, extra);
        }
        let links = if creation.is_valid() {
            vec![Link::with_context(creation)]
        } else {
            Vec::new()
        };
        self.start(op, ambient, links, extra)
    }
}

/// `ambient` with its baggage extended by `carried` (entries of `carried`
/// replace ambient entries of the same name).
fn merge_baggage(ambient: &Context, carried: &Baggage) -> Context {
    let existing = ambient.baggage();
    let merged: Baggage = existing
        .iter()
        .filter(|(k, _)| carried.get_with_metadata(k.as_str()).is_none())
        .chain(carried.iter())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    ambient.with_baggage(merged)
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
    /// Captured header attributes for its create span.
    fn captured(&self, capture: &MessageHeaderCapture) -> Vec<KeyValue>;
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
    let span = inst.start(&op, parent, Vec::new(), Vec::new());
    let result =
        otel_core::opentelemetry::context::FutureExt::with_context(fut, span.context().clone())
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
    let span = inst.start(&op, parent, Vec::new(), Vec::new());
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
        _ => "_OTHER",
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
