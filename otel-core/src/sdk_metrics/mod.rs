//! Telemetry about the telemetry: the SDK self-observability metrics of the
//! semantic conventions (v1.44, `otel.sdk.*`), recorded through the setup's
//! own meter provider.
//!
//! On by default whenever a metric exporter is installed; off with
//! `OTEL_KIT_SDK_METRICS=false` or
//! [`TelemetryBuilder::sdk_metrics(false)`](crate::TelemetryBuilder::sdk_metrics).
//!
//! | metric | from |
//! |---|---|
//! | `otel.sdk.span.started` | a sampler wrapper: one relaxed atomic increment per span start ([`span_starts`]) |
//! | `otel.sdk.span.live` (`RECORD_AND_SAMPLE`) | spans started sampled minus those the first span pipeline has seen end |
//! | `otel.sdk.processor.span.processed`, `.queue.size`, `.queue.capacity` | the span pipeline's existing queue accounting (no per-span work added) |
//! | `otel.sdk.processor.log.processed`, `.queue.size`, `.queue.capacity` | the same accounting for the batch log processor ([`log_queue`]) |
//! | `otel.sdk.exporter.{span,log,metric_data_point}.{exported,inflight}`, `otel.sdk.exporter.operation.duration` | counted once per export call ([`export_counters`]) |
//!
//! Every count is read by an observable instrument's callback at collection
//! time; nothing on the span path touches the metrics SDK.
//!
//! The SDK's own `otel.sdk.log.created` (its feature
//! `experimental_metrics_bound_instruments`) goes through the global meter
//! provider of the moment a logger is created; its processor counters are
//! bound before this setup installs the global provider. Not reported:
//! `otel.sdk.metric_reader.collection.duration` (no hook in the periodic
//! reader).

mod error_type;
mod export_counters;
mod log_queue;
mod span_starts;
#[cfg(all(test, feature = "testing"))]
mod tests;

pub(crate) use export_counters::{ExportCounters, Observed};
pub(crate) use log_queue::{LogQueue, LogQueueLimit, Released};
use span_starts::{CountingSampler, PARENT_ORIGINS, SAMPLING_RESULTS, SpanStarts};

use crate::config::{Diagnostics, Environment, ExporterKind, Protocol, Signal};
use crate::setup::SpanPipeline;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::ShouldSample;
use std::borrow::Cow;
use std::sync::Arc;

/// The variable that turns the SDK metrics off (`false`); default `true`.
pub(crate) const VARIABLE: &str = "OTEL_KIT_SDK_METRICS";

const COMPONENT_TYPE: &str = "otel.component.type";
const COMPONENT_NAME: &str = "otel.component.name";
const SAMPLING_RESULT: &str = "otel.span.sampling_result";
const PARENT_ORIGIN: &str = "otel.span.parent.origin";

/// `OTEL_KIT_SDK_METRICS`: `true` (default) or `false`; anything else is a
/// diagnostic and keeps the default.
pub(crate) fn enabled(env: &Environment, diag: &mut Diagnostics) -> bool {
    match env.get(VARIABLE) {
        None => true,
        Some(v) if v.trim().eq_ignore_ascii_case("true") => true,
        Some(v) if v.trim().eq_ignore_ascii_case("false") => false,
        Some(v) => {
            diag.push(
                VARIABLE,
                v,
                "not a boolean (true or false)",
                "SDK metrics stay on",
            );
            true
        }
    }
}

/// `otel.component.type` of an exporter (the convention's names for OTLP,
/// the Rust type otherwise).
pub(crate) fn exporter_type(
    signal: Signal,
    kind: ExporterKind,
    protocol: Protocol,
) -> Cow<'static, str> {
    let item = match signal {
        Signal::Traces => "span",
        Signal::Logs => "log",
        Signal::Metrics => "metric",
    };
    match (kind, signal) {
        (ExporterKind::Otlp, _) => {
            let transport = match protocol {
                Protocol::Grpc => "grpc",
                Protocol::HttpProtobuf => "http",
                Protocol::HttpJson => "http_json",
            };
            Cow::Owned(format!("otlp_{transport}_{item}_exporter"))
        }
        (ExporterKind::Console, Signal::Traces) => {
            Cow::Borrowed(std::any::type_name::<crate::export::ConsoleSpanExporter>())
        }
        (ExporterKind::Console, Signal::Logs) => {
            Cow::Borrowed(std::any::type_name::<crate::export::ConsoleLogExporter>())
        }
        (ExporterKind::Console, Signal::Metrics) => {
            Cow::Borrowed(std::any::type_name::<crate::export::ConsoleMetricExporter>())
        }
        (ExporterKind::Prometheus, _) => Cow::Borrowed("prometheus_http_text_metric_exporter"),
    }
}

/// One exporter's counts and identity.
struct Exporter {
    signal: Signal,
    attributes: Vec<KeyValue>,
    counters: Arc<ExportCounters>,
}

/// The components of one setup whose metrics are reported, collected while
/// the providers are built and registered once the meter provider exists.
#[derive(Default)]
pub(crate) struct SdkMetrics {
    /// `None` when the metrics are off.
    starts: Option<Arc<SpanStarts>>,
    processors: Vec<(Vec<KeyValue>, Arc<SpanPipeline>)>,
    log_processors: Vec<(Vec<KeyValue>, Arc<LogQueue>)>,
    exporters: Vec<Exporter>,
    /// Instances per `otel.component.type`, for `otel.component.name`.
    instances: Vec<(Cow<'static, str>, usize)>,
}

impl std::fmt::Debug for SdkMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkMetrics")
            .field("on", &self.starts.is_some())
            .field("processors", &self.processors.len())
            .field("exporters", &self.exporters.len())
            .finish()
    }
}

impl SdkMetrics {
    /// Collects components when `on`, else does nothing at all.
    pub(crate) fn new(on: bool) -> Self {
        Self {
            starts: on.then(Default::default),
            ..Default::default()
        }
    }

    /// `sampler`, counting span starts when the metrics are on.
    pub(crate) fn sampler(&self, sampler: Box<dyn ShouldSample>) -> Box<dyn ShouldSample> {
        match &self.starts {
            Some(starts) => Box::new(CountingSampler::new(sampler, starts.clone())),
            None => sampler,
        }
    }

    /// `otel.component.type` and a fresh `otel.component.name` (`type/n`).
    fn component(&mut self, component_type: Cow<'static, str>) -> Vec<KeyValue> {
        let n = match self
            .instances
            .iter_mut()
            .find(|(t, _)| *t == component_type)
        {
            Some((_, n)) => {
                *n += 1;
                *n - 1
            }
            None => {
                self.instances.push((component_type.clone(), 1));
                0
            }
        };
        vec![
            KeyValue::new(COMPONENT_TYPE, component_type.to_string()),
            KeyValue::new(COMPONENT_NAME, format!("{component_type}/{n}")),
        ]
    }

    /// Reports a span pipeline: its batching processor and its exporter.
    pub(crate) fn span_pipeline(
        &mut self,
        pipeline: &Arc<SpanPipeline>,
        exporter_type: Cow<'static, str>,
    ) {
        if self.starts.is_none() {
            return;
        }
        let attributes = self.component(Cow::Borrowed("batching_span_processor"));
        self.processors.push((attributes, pipeline.clone()));
        let attributes = self.component(exporter_type);
        self.exporters.push(Exporter {
            signal: Signal::Traces,
            attributes,
            counters: pipeline.exports.clone(),
        });
    }

    /// The queue of a batch log processor holding `capacity` records,
    /// reported when the metrics are on.
    pub(crate) fn log_queue(&mut self, capacity: usize) -> Arc<LogQueue> {
        let queue = LogQueue::new(capacity);
        if self.starts.is_some() {
            let attributes = self.component(Cow::Borrowed("batching_log_processor"));
            self.log_processors.push((attributes, queue.clone()));
        }
        queue
    }

    /// `exporter` of `signal`, counted and reported as `component_type`.
    pub(crate) fn observe<E>(
        &mut self,
        signal: Signal,
        component_type: Cow<'static, str>,
        exporter: E,
    ) -> Observed<E> {
        let counters = Arc::new(ExportCounters::default());
        if self.starts.is_some() {
            let attributes = self.component(component_type);
            self.exporters.push(Exporter {
                signal,
                attributes,
                counters: counters.clone(),
            });
        }
        Observed {
            inner: exporter,
            counters,
        }
    }

    /// Registers the instruments with `provider` (nothing when off).
    pub(crate) fn register(self, provider: &SdkMeterProvider) {
        let Some(starts) = self.starts else {
            return;
        };
        let meter = provider.meter_with_scope(crate::instrument::scope(
            "otel-kit-core",
            env!("CARGO_PKG_VERSION"),
        ));
        register_spans(&meter, starts, self.processors.first().map(|p| p.1.clone()));
        register_processors(&meter, self.processors);
        register_log_processors(&meter, self.log_processors);
        register_exporters(&meter, self.exporters);
    }
}

fn register_spans(meter: &Meter, starts: Arc<SpanStarts>, first: Option<Arc<SpanPipeline>>) {
    let counts = starts.clone();
    meter
        .u64_observable_counter("otel.sdk.span.started")
        .with_unit("{span}")
        .with_description("The number of created spans.")
        .with_callback(move |o| {
            for (r, result) in SAMPLING_RESULTS.iter().enumerate() {
                for (p, origin) in PARENT_ORIGINS.iter().enumerate() {
                    let n = counts.get(r, p);
                    if n > 0 {
                        o.observe(
                            n,
                            &[
                                KeyValue::new(SAMPLING_RESULT, *result),
                                KeyValue::new(PARENT_ORIGIN, *origin),
                            ],
                        );
                    }
                }
            }
        })
        .build();
    // Sampled spans end through the span pipelines; every pipeline sees every
    // one of them, so the first one's count is the number ended.
    if let Some(pipeline) = first {
        meter
            .i64_observable_up_down_counter("otel.sdk.span.live")
            .with_unit("{span}")
            .with_description(
                "The number of created spans with `recording=true` for which the end \
                 operation has not been called yet.",
            )
            .with_callback(move |o| {
                let live = starts.sampled().saturating_sub(pipeline.ended());
                o.observe(
                    i64::try_from(live).unwrap_or(i64::MAX),
                    &[KeyValue::new(SAMPLING_RESULT, "RECORD_AND_SAMPLE")],
                );
            })
            .build();
    }
}

fn register_processors(meter: &Meter, processors: Vec<(Vec<KeyValue>, Arc<SpanPipeline>)>) {
    if processors.is_empty() {
        return;
    }
    let processors = Arc::new(processors);
    let list = processors.clone();
    meter
        .u64_observable_counter("otel.sdk.processor.span.processed")
        .with_unit("{span}")
        .with_description(
            "The number of spans for which the processing has finished, either successful or \
             failed.",
        )
        .with_callback(move |o| {
            for (attributes, pipeline) in list.iter() {
                o.observe(pipeline.released(), attributes);
                let dropped = pipeline.stats().spans_dropped;
                if dropped > 0 {
                    let mut attributes = attributes.clone();
                    attributes.push(KeyValue::new(
                        crate::semconv::attribute::ERROR_TYPE,
                        "queue_full",
                    ));
                    o.observe(dropped, &attributes);
                }
            }
        })
        .build();
    let list = processors.clone();
    meter
        .i64_observable_up_down_counter("otel.sdk.processor.span.queue.size")
        .with_unit("{span}")
        .with_description(
            "The number of spans in the queue of a given instance of an SDK span processor.",
        )
        .with_callback(move |o| {
            for (attributes, pipeline) in list.iter() {
                o.observe(
                    i64::try_from(pipeline.queued()).unwrap_or(i64::MAX),
                    attributes,
                );
            }
        })
        .build();
    meter
        .i64_observable_up_down_counter("otel.sdk.processor.span.queue.capacity")
        .with_unit("{span}")
        .with_description(
            "The maximum number of spans the queue of a given instance of an SDK span \
             processor can hold.",
        )
        .with_callback(move |o| {
            for (attributes, pipeline) in processors.iter() {
                o.observe(
                    i64::try_from(pipeline.capacity()).unwrap_or(i64::MAX),
                    attributes,
                );
            }
        })
        .build();
}

fn register_log_processors(meter: &Meter, processors: Vec<(Vec<KeyValue>, Arc<LogQueue>)>) {
    if processors.is_empty() {
        return;
    }
    let processors = Arc::new(processors);
    let list = processors.clone();
    meter
        .u64_observable_counter("otel.sdk.processor.log.processed")
        .with_unit("{log_record}")
        .with_description(
            "The number of log records for which the processing has finished, either \
             successful or failed.",
        )
        .with_callback(move |o| {
            for (attributes, queue) in list.iter() {
                o.observe(queue.released(), attributes);
                let dropped = queue.dropped();
                if dropped > 0 {
                    let mut attributes = attributes.clone();
                    attributes.push(KeyValue::new(
                        crate::semconv::attribute::ERROR_TYPE,
                        "queue_full",
                    ));
                    o.observe(dropped, &attributes);
                }
            }
        })
        .build();
    let list = processors.clone();
    meter
        .i64_observable_up_down_counter("otel.sdk.processor.log.queue.size")
        .with_unit("{log_record}")
        .with_description(
            "The number of log records in the queue of a given instance of an SDK log \
             processor.",
        )
        .with_callback(move |o| {
            for (attributes, queue) in list.iter() {
                o.observe(
                    i64::try_from(queue.queued()).unwrap_or(i64::MAX),
                    attributes,
                );
            }
        })
        .build();
    meter
        .i64_observable_up_down_counter("otel.sdk.processor.log.queue.capacity")
        .with_unit("{log_record}")
        .with_description(
            "The maximum number of log records the queue of a given instance of an SDK Log \
             Record processor can hold.",
        )
        .with_callback(move |o| {
            for (attributes, queue) in processors.iter() {
                o.observe(
                    i64::try_from(queue.capacity()).unwrap_or(i64::MAX),
                    attributes,
                );
            }
        })
        .build();
}

fn register_exporters(meter: &Meter, exporters: Vec<Exporter>) {
    if exporters.is_empty() {
        return;
    }
    let duration = crate::instrument::duration_histogram(
        meter,
        "otel.sdk.exporter.operation.duration",
        "The duration of exporting a batch of telemetry records.",
    );
    for e in &exporters {
        e.counters
            .set_duration(duration.clone(), e.attributes.clone());
    }
    let exporters = Arc::new(exporters);
    for (signal, item, unit) in [
        (Signal::Traces, "span", "{span}"),
        (Signal::Logs, "log", "{log_record}"),
        (Signal::Metrics, "metric_data_point", "{data_point}"),
    ] {
        if !exporters.iter().any(|e| e.signal == signal) {
            continue;
        }
        let list = exporters.clone();
        meter
            .i64_observable_up_down_counter(format!("otel.sdk.exporter.{item}.inflight"))
            .with_unit(unit)
            .with_description(
                "The number of items which were passed to the exporter, but that have not \
                 been exported yet (neither successful, nor failed).",
            )
            .with_callback(move |o| {
                for e in list.iter().filter(|e| e.signal == signal) {
                    o.observe(e.counters.inflight(), &e.attributes);
                }
            })
            .build();
        let list = exporters.clone();
        meter
            .u64_observable_counter(format!("otel.sdk.exporter.{item}.exported"))
            .with_unit(unit)
            .with_description(
                "The number of items for which the export has finished, either successful or \
                 failed.",
            )
            .with_callback(move |o| {
                for e in list.iter().filter(|e| e.signal == signal) {
                    o.observe(e.counters.exported(), &e.attributes);
                    for (error_type, n) in e.counters.failed() {
                        let mut attributes = e.attributes.clone();
                        attributes.push(KeyValue::new(
                            crate::semconv::attribute::ERROR_TYPE,
                            error_type,
                        ));
                        o.observe(n, &attributes);
                    }
                }
            })
            .build();
    }
}
