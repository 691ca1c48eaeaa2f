//! [`Instrumentation`], the instruments and options one instrumented
//! client uses, and its builder.

use std::sync::Arc;

use otel_kit_core::instrument::Options;
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
use otel_kit_core::instrument::{
    ExceptionEvents, HeaderCapture, Propagation, SemconvArea, SpanStarter, duration_histogram,
};
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
use otel_kit_core::opentelemetry::metrics::{Counter, Histogram};
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
use otel_kit_core::semconv::metric as m;

#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
use crate::destination_cache::DestinationCache;

/// The attribute prefix of captured message headers.
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
const HEADER_PREFIX: &str = "messaging.header.";

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

/// Shared instruments and options of one instrumented client: give it to
/// every `Traced*::new` (Kafka producer and consumer, NATS client and
/// JetStream, RabbitMQ channel). Cheap to clone. Build it with
/// [`Instrumentation::builder`]; the default uses the global tracer and
/// meter providers and the global propagator.
///
/// ```
/// use otel_kit_messaging::{Instrumentation, ProcessMode};
///
/// let instrumentation = Instrumentation::builder()
///     .process_mode(ProcessMode::Parent)
///     .build();
/// assert_eq!(instrumentation.process_mode(), ProcessMode::Parent);
/// assert!(instrumentation.propagates());
/// ```
#[derive(Clone, Debug)]
pub struct Instrumentation {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub process_mode: ProcessMode,
    pub propagate: bool,
    pub create_spans: bool,
    #[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
    pub recording: Recording,
}

/// What the spans and metrics are recorded with (there is nothing to
/// record without a broker feature).
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
#[derive(Debug)]
pub(crate) struct Recording {
    pub tracer: SpanStarter,
    pub sent: Counter<u64>,
    pub consumed: Counter<u64>,
    pub operation_duration: Histogram<f64>,
    pub process_duration: Histogram<f64>,
    /// Message headers recorded as `messaging.header.<name>`.
    pub capture: HeaderCapture,
    /// Extraction (on top of the current context) and injection.
    pub propagation: Propagation,
    pub destinations: DestinationCache,
    pub exceptions: ExceptionEvents,
}

#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
impl Recording {
    /// The providers, propagator and header capture of `options`, and the
    /// four messaging instruments.
    fn new(options: Options) -> Self {
        let resolved = options.resolve(SemconvArea::Messaging, HEADER_PREFIX, "");
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
        Self {
            tracer: resolved.tracer,
            sent,
            consumed,
            operation_duration,
            process_duration,
            capture: resolved.request_headers,
            propagation: resolved.propagation,
            destinations: DestinationCache::default(),
            exceptions: resolved.exceptions,
        }
    }
}

impl Default for Instrumentation {
    fn default() -> Self {
        Self::builder().build()
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
/// [`create_spans`](Self::create_spans). They apply to every broker alike.
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
        Instrumentation {
            inner: Arc::new(Inner {
                process_mode: self.process_mode,
                propagate: !self.no_propagation,
                create_spans: !self.no_create_spans,
                #[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
                recording: Recording::new(self.options),
            }),
        }
    }
}
