//! Configuration from the standard `OTEL_*` environment variables.
//!
//! [`Config::from_env`] reads every variable of the SDK environment
//! specification that this crate honours, applies the specification's parsing
//! rules (empty = unset, case-insensitive enums, integer milliseconds, …) and
//! reports each invalid value as a [`Diagnostic`] naming the variable and the
//! value, falling back to the default as the specification says. Nothing here
//! panics, logs or touches global state: setup decides what to do with the
//! diagnostics (print them, return them, or fail in strict mode).

mod diagnostics;
mod environment;
#[cfg(feature = "config-file")]
#[cfg_attr(docsrs, doc(cfg(feature = "config-file")))]
pub mod file;
mod otlp;
pub(crate) mod parse;
mod semconv;
mod variables;
mod view;

pub use diagnostics::{Diagnostic, Diagnostics};
pub use environment::Environment;
pub use otlp::{Compression, OtlpSettings, Protocol, Signal};
pub(crate) use otlp::{RedactedHeaders, redact_userinfo};
pub(crate) use semconv::set_semconv_stability;
pub use semconv::{ExceptionSignal, SemconvStability, StabilityMode, semconv_stability};
pub use variables::{KNOWN_VARIABLES, is_known_variable};
pub use view::{CardinalityLimits, MetricView};

use std::fmt;
use std::time::Duration;

/// Where a signal is exported (`OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`,
/// `OTEL_LOGS_EXPORTER`; a comma-separated list is accepted).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExporterKind {
    /// OTLP to a collector (`otlp`, the specification's default).
    Otlp,
    /// Human-readable output on stdout (`console`): a tree per trace.
    Console,
    /// A Prometheus scrape endpoint (`prometheus`, metrics only; feature `prometheus`).
    Prometheus,
}

impl ExporterKind {
    fn parse(s: &str, signal: Signal) -> Result<Option<ExporterKind>, &'static str> {
        match s {
            "otlp" => Ok(Some(ExporterKind::Otlp)),
            "console" => Ok(Some(ExporterKind::Console)),
            "none" => Ok(None),
            "prometheus" if signal == Signal::Metrics => Ok(Some(ExporterKind::Prometheus)),
            "prometheus" => Err(" (prometheus is for metrics only)"),
            "logging" => Err(" (deprecated: use console)"),
            "zipkin" => Err(" (the Zipkin exporter is not supported: send OTLP to a collector)"),
            "otlp/stdout" => Err(" (not supported yet: use console or otlp)"),
            _ => Err(""),
        }
    }

    /// The specification's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExporterKind::Otlp => "otlp",
            ExporterKind::Console => "console",
            ExporterKind::Prometheus => "prometheus",
        }
    }
}

/// A propagator named in `OTEL_PROPAGATORS`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropagatorKind {
    /// W3C `traceparent` / `tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
    /// B3 single header (`b3`).
    B3,
    /// B3 multiple headers (`X-B3-*`).
    B3Multi,
    /// Jaeger `uber-trace-id` and `uberctx-*` (deprecated in OpenTelemetry).
    Jaeger,
}

impl PropagatorKind {
    fn parse(s: &str) -> Result<Option<PropagatorKind>, &'static str> {
        match s {
            "tracecontext" => Ok(Some(PropagatorKind::TraceContext)),
            "baggage" => Ok(Some(PropagatorKind::Baggage)),
            "b3" => Ok(Some(PropagatorKind::B3)),
            "b3multi" => Ok(Some(PropagatorKind::B3Multi)),
            "jaeger" => Ok(Some(PropagatorKind::Jaeger)),
            "none" => Ok(None),
            "xray" | "ottrace" => Err(" (not supported by this crate)"),
            _ => Err(""),
        }
    }

    /// The specification's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PropagatorKind::TraceContext => "tracecontext",
            PropagatorKind::Baggage => "baggage",
            PropagatorKind::B3 => "b3",
            PropagatorKind::B3Multi => "b3multi",
            PropagatorKind::Jaeger => "jaeger",
        }
    }
}

/// Span exports in flight at once by default. Measured with the load
/// harness's fast sink at about 110 000 spans/s (BENCHMARKS.md, "lossless
/// throughput"): one export at a time lost 0.7–2.7 % of the spans at
/// saturation in every run, four lost none in half the runs and at most 215
/// spans (0.02 %) in the others; eight and sixteen did no better. Memory stays bounded by the queue plus four
/// batches in flight.
const DEFAULT_CONCURRENT_SPAN_EXPORTS: u64 = 4;

/// Settings of a batch processor (`OTEL_BSP_*` for spans, `OTEL_BLRP_*` for logs).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSettings {
    /// Delay between two exports.
    pub schedule_delay: Duration,
    /// Longest time one export may take.
    pub export_timeout: Duration,
    /// Items buffered before new ones are dropped.
    pub max_queue_size: usize,
    /// Items per export (at most `max_queue_size`).
    pub max_export_batch_size: usize,
    /// Exports in flight at once (`OTEL_BSP_MAX_CONCURRENT_EXPORTS`, the
    /// Rust SDK's variable; spans only, logs export one batch at a time).
    pub max_concurrent_exports: usize,
    /// Where `max_queue_size` is set, for messages: the variable, or the
    /// configuration file's field.
    pub(crate) queue_setting: &'static str,
}

impl BatchSettings {
    fn from_env(env: &Environment, diag: &mut Diagnostics, prefix: &str, delay_ms: u64) -> Self {
        let var = |s: &str| format!("{prefix}_{s}");
        let schedule_delay = parse::positive_millis(
            env,
            diag,
            &var("SCHEDULE_DELAY"),
            Duration::from_millis(delay_ms),
        );
        let export_timeout = parse::millis(
            env,
            diag,
            &var("EXPORT_TIMEOUT"),
            Duration::from_millis(30_000),
            true,
        );
        let positive = |diag: &mut Diagnostics, name: String, default: u64| -> usize {
            match parse::integer(env, diag, &name, default) {
                Some(0) => {
                    diag.push(
                        &name,
                        "0",
                        "must be at least 1",
                        format!("using the default {default}"),
                    );
                    default as usize
                }
                Some(v) => v as usize,
                None => default as usize,
            }
        };
        let max_queue_size = positive(diag, var("MAX_QUEUE_SIZE"), 2048);
        let mut max_export_batch_size = positive(diag, var("MAX_EXPORT_BATCH_SIZE"), 512);
        if max_export_batch_size > max_queue_size {
            diag.push(
                var("MAX_EXPORT_BATCH_SIZE"),
                max_export_batch_size.to_string(),
                format!("larger than {} ({max_queue_size})", var("MAX_QUEUE_SIZE")),
                format!("using {max_queue_size}"),
            );
            max_export_batch_size = max_queue_size;
        }
        let max_concurrent_exports = if prefix == "OTEL_BSP" {
            positive(
                diag,
                var("MAX_CONCURRENT_EXPORTS"),
                DEFAULT_CONCURRENT_SPAN_EXPORTS,
            )
        } else {
            1
        };
        BatchSettings {
            schedule_delay,
            export_timeout,
            max_queue_size,
            max_export_batch_size,
            max_concurrent_exports,
            queue_setting: if prefix == "OTEL_BSP" {
                "OTEL_BSP_MAX_QUEUE_SIZE"
            } else {
                "OTEL_BLRP_MAX_QUEUE_SIZE"
            },
        }
    }
}

/// Temporality the metric exporter asks for
/// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TemporalityPreference {
    /// Everything cumulative (default).
    #[default]
    Cumulative,
    /// Counters and histograms delta, up-down counters cumulative.
    Delta,
    /// Synchronous counters and histograms delta, the rest cumulative.
    LowMemory,
}

/// Metric reader and exporter settings.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsSettings {
    /// `OTEL_METRIC_EXPORT_INTERVAL` (default 60 s).
    pub export_interval: Duration,
    /// `OTEL_METRIC_EXPORT_TIMEOUT` (default 30 s).
    pub export_timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub temporality: TemporalityPreference,
    /// `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION` is
    /// `base2_exponential_bucket_histogram`.
    pub exponential_histograms: bool,
}

/// Span and log-record limits (`OTEL_*_LIMIT`). `None` is "no limit".
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Attributes per span (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, else `OTEL_ATTRIBUTE_COUNT_LIMIT`; 128).
    pub span_attribute_count: u32,
    /// Characters per string attribute value of a span
    /// (`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
    pub span_attribute_value_length: Option<usize>,
    /// Events per span (`OTEL_SPAN_EVENT_COUNT_LIMIT`; 128).
    pub span_event_count: u32,
    /// Links per span (`OTEL_SPAN_LINK_COUNT_LIMIT`; 128).
    pub span_link_count: u32,
    /// Attributes per event (`OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`; 128).
    pub event_attribute_count: u32,
    /// Attributes per link (`OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`; 128).
    pub link_attribute_count: u32,
}

/// Where the Prometheus scrape endpoint listens
/// (`OTEL_EXPORTER_PROMETHEUS_HOST` / `_PORT`, default `localhost:9464`).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrometheusSettings {
    /// Host or address to bind.
    pub host: String,
    /// Port to bind.
    pub port: u16,
}

/// How finished spans or log records reach their exporters.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProcessorKind {
    /// In batches, on a schedule (the default; the only kind the
    /// environment can choose).
    #[default]
    Batch,
    /// One at a time, as each ends (a configuration file's `simple`
    /// processor; for tests and debugging, it slows the code that ends them).
    Simple,
}

/// How much the SDK itself reports (`OTEL_LOG_LEVEL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Nothing.
    None,
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Informational messages, warnings and errors (default).
    #[default]
    Info,
    /// Everything.
    Debug,
}

/// The whole configuration read from the environment.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Config {
    /// `OTEL_SDK_DISABLED`: no-op providers for every signal (propagators are still installed).
    pub sdk_disabled: bool,
    /// `OTEL_SERVICE_NAME`.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, raw (parsed by the resource module).
    pub resource_attributes: Option<String>,
    /// `OTEL_PROPAGATORS`, deduplicated, in composite order.
    pub propagators: Vec<PropagatorKind>,
    /// `OTEL_TRACES_SAMPLER`, raw.
    pub sampler: Option<String>,
    /// `OTEL_TRACES_SAMPLER_ARG`, raw (only meaningful with `sampler`).
    pub sampler_arg: Option<String>,
    /// `OTEL_TRACES_EXPORTER`; `None` when unset (the default applies).
    pub traces_exporter: Option<Vec<ExporterKind>>,
    /// `OTEL_METRICS_EXPORTER`; `None` when unset.
    pub metrics_exporter: Option<Vec<ExporterKind>>,
    /// `OTEL_LOGS_EXPORTER`; `None` when unset.
    pub logs_exporter: Option<Vec<ExporterKind>>,
    /// OTLP settings for traces.
    pub otlp_traces: OtlpSettings,
    /// OTLP settings for metrics.
    pub otlp_metrics: OtlpSettings,
    /// OTLP settings for logs.
    pub otlp_logs: OtlpSettings,
    /// Batch span processor (`OTEL_BSP_*`).
    pub span_batch: BatchSettings,
    /// Batch log record processor (`OTEL_BLRP_*`).
    pub log_batch: BatchSettings,
    /// Metric reader and exporter.
    pub metrics: MetricsSettings,
    /// Span limits.
    pub limits: Limits,
    /// Prometheus scrape endpoint.
    pub prometheus: PrometheusSettings,
    /// Semantic-convention opt-ins.
    pub semconv: SemconvStability,
    /// `OTEL_LOG_LEVEL`.
    pub log_level: LogLevel,
    /// A sampler given as a structure (a configuration file's
    /// `tracer_provider.sampler`); when set it replaces `sampler` and
    /// `sampler_arg`.
    pub sampler_spec: Option<crate::sampling::SamplerSpec>,
    /// Typed resource attributes above `OTEL_RESOURCE_ATTRIBUTES` and
    /// `OTEL_SERVICE_NAME` (a configuration file's `resource.attributes`).
    pub resource: Vec<opentelemetry::KeyValue>,
    /// The resource detectors a configuration file chose (`None`: the
    /// builder's choice).
    pub resource_detection: Option<crate::resource::ResourceDetection>,
    /// Batch or simple span processors (simple only from a configuration file).
    pub span_processor: ProcessorKind,
    /// Batch or simple log processors (simple only from a configuration file).
    pub log_processor: ProcessorKind,
    /// Metric views, in order (a configuration file's `meter_provider.views`).
    pub metric_views: Vec<MetricView>,
    /// Cardinality limits by instrument kind (a configuration file's reader
    /// `cardinality_limits`).
    pub cardinality_limits: CardinalityLimits,
    /// Mesh header forwarding (a configuration file's `mesh` propagator).
    pub mesh: MeshSettings,
}

/// Forwarding of mesh headers (`x-request-id` and friends) from incoming to
/// outgoing requests, as a configuration file's `propagator.composite`
/// entry `mesh` sets it; the builder's
/// [`mesh_forwarding`](crate::TelemetryBuilder::mesh_forwarding),
/// [`forward_headers`](crate::TelemetryBuilder::forward_headers) and
/// [`force_trace_header`](crate::TelemetryBuilder::force_trace_header)
/// apply where it says nothing.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeshSettings {
    /// Forwarding on or off (`None`: the builder's choice, on by default).
    pub enabled: Option<bool>,
    /// Headers forwarded besides `x-request-id` (added to the builder's).
    pub headers: Vec<String>,
    /// A header that forces the trace to be kept (replaces the builder's).
    pub force_trace_header: Option<String>,
}

impl Config {
    /// Reads the configuration from `env`, returning every problem found.
    pub fn from_env(env: &Environment) -> (Config, Diagnostics) {
        let mut d = Diagnostics::default();
        let diag = &mut d;

        let sdk_disabled = parse::boolean(env, diag, "OTEL_SDK_DISABLED").unwrap_or(false);
        let propagators = parse::enum_list(env, diag, "OTEL_PROPAGATORS", PropagatorKind::parse)
            .map(|v| v.into_iter().flatten().collect())
            .unwrap_or_else(|| vec![PropagatorKind::TraceContext, PropagatorKind::Baggage]);

        let exporters = |diag: &mut Diagnostics, var: &str, signal: Signal| {
            parse::enum_list(env, diag, var, |s| ExporterKind::parse(s, signal))
                .map(|v| v.into_iter().flatten().collect::<Vec<_>>())
        };
        let traces_exporter = exporters(diag, "OTEL_TRACES_EXPORTER", Signal::Traces);
        let metrics_exporter = exporters(diag, "OTEL_METRICS_EXPORTER", Signal::Metrics);
        let logs_exporter = exporters(diag, "OTEL_LOGS_EXPORTER", Signal::Logs);

        let metrics = MetricsSettings {
            export_interval: parse::positive_millis(
                env,
                diag,
                "OTEL_METRIC_EXPORT_INTERVAL",
                Duration::from_millis(60_000),
            ),
            export_timeout: parse::millis(
                env,
                diag,
                "OTEL_METRIC_EXPORT_TIMEOUT",
                Duration::from_millis(30_000),
                true,
            ),
            temporality: match env.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE") {
                None => TemporalityPreference::Cumulative,
                Some(raw) => match raw.to_ascii_lowercase().as_str() {
                    "cumulative" => TemporalityPreference::Cumulative,
                    "delta" => TemporalityPreference::Delta,
                    "lowmemory" => TemporalityPreference::LowMemory,
                    _ => {
                        diag.push(
                            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                            raw,
                            "unknown value (cumulative, delta, lowmemory)",
                            "using cumulative",
                        );
                        TemporalityPreference::Cumulative
                    }
                },
            },
            exponential_histograms: match env
                .get("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION")
            {
                None => false,
                Some(raw) => match raw.to_ascii_lowercase().as_str() {
                    "explicit_bucket_histogram" => false,
                    "base2_exponential_bucket_histogram" => true,
                    _ => {
                        diag.push(
                            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
                            raw,
                            "unknown value (explicit_bucket_histogram, base2_exponential_bucket_histogram)",
                            "using explicit_bucket_histogram",
                        );
                        false
                    }
                },
            },
        };
        if let Some(raw) = env.get("OTEL_METRICS_EXEMPLAR_FILTER") {
            let known = ["trace_based", "always_on", "always_off"];
            let lower = raw.to_ascii_lowercase();
            if !known.contains(&lower.as_str()) {
                diag.push(
                    "OTEL_METRICS_EXEMPLAR_FILTER",
                    raw,
                    "unknown value (trace_based, always_on, always_off)",
                    "ignored",
                );
            } else if lower != "trace_based" {
                diag.push(
                    "OTEL_METRICS_EXEMPLAR_FILTER",
                    raw,
                    "exemplars are not configurable in opentelemetry_sdk 0.33",
                    "ignored",
                );
            }
        }

        let count = |diag: &mut Diagnostics, specific: &str, general: Option<&str>| -> u32 {
            let var = match general {
                Some(g) if env.get(specific).is_none() => g,
                _ => specific,
            };
            parse::integer(env, diag, var, 128)
                .map(|v| v as u32)
                .unwrap_or(128)
        };
        let value_length =
            |diag: &mut Diagnostics, specific: &str, general: &str| -> Option<usize> {
                let var = if env.get(specific).is_some() {
                    specific
                } else {
                    general
                };
                env.get(var)?;
                parse::integer(env, diag, var, 0).map(|v| v as usize)
            };
        let limits = Limits {
            span_attribute_count: count(
                diag,
                "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
                Some("OTEL_ATTRIBUTE_COUNT_LIMIT"),
            ),
            span_attribute_value_length: value_length(
                diag,
                "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            ),
            span_event_count: count(diag, "OTEL_SPAN_EVENT_COUNT_LIMIT", None),
            span_link_count: count(diag, "OTEL_SPAN_LINK_COUNT_LIMIT", None),
            event_attribute_count: count(diag, "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", None),
            link_attribute_count: count(diag, "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", None),
        };
        for var in [
            "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT",
        ] {
            if let Some(raw) = env.get(var) {
                diag.push(
                    var,
                    raw,
                    "log record limits are not configurable in opentelemetry_sdk 0.33",
                    "ignored",
                );
            }
        }

        let prometheus = PrometheusSettings {
            host: env
                .get("OTEL_EXPORTER_PROMETHEUS_HOST")
                .unwrap_or("localhost")
                .to_string(),
            port: match parse::integer(env, diag, "OTEL_EXPORTER_PROMETHEUS_PORT", 9464) {
                Some(p) if p <= u16::MAX as u64 => p as u16,
                Some(p) => {
                    diag.push(
                        "OTEL_EXPORTER_PROMETHEUS_PORT",
                        p.to_string(),
                        "not a port number",
                        "using the default 9464",
                    );
                    9464
                }
                None => 9464,
            },
        };

        let log_level = match env.get("OTEL_LOG_LEVEL") {
            None => LogLevel::Info,
            Some(raw) => match raw.to_ascii_lowercase().as_str() {
                "none" | "off" => LogLevel::None,
                "error" => LogLevel::Error,
                "warn" | "warning" => LogLevel::Warn,
                "info" => LogLevel::Info,
                "debug" | "trace" | "verbose" | "all" => LogLevel::Debug,
                _ => {
                    diag.push(
                        "OTEL_LOG_LEVEL",
                        raw,
                        "unknown level (none, error, warn, info, debug)",
                        "using info",
                    );
                    LogLevel::Info
                }
            },
        };

        let config = Config {
            sdk_disabled,
            service_name: env.get("OTEL_SERVICE_NAME").map(str::to_string),
            resource_attributes: env.get("OTEL_RESOURCE_ATTRIBUTES").map(str::to_string),
            propagators,
            sampler: env.get("OTEL_TRACES_SAMPLER").map(str::to_string),
            sampler_arg: env.get("OTEL_TRACES_SAMPLER_ARG").map(str::to_string),
            traces_exporter,
            metrics_exporter,
            logs_exporter,
            otlp_traces: OtlpSettings::from_env(env, diag, Signal::Traces),
            otlp_metrics: OtlpSettings::from_env(env, diag, Signal::Metrics),
            otlp_logs: OtlpSettings::from_env(env, diag, Signal::Logs),
            span_batch: BatchSettings::from_env(env, diag, "OTEL_BSP", 5000),
            log_batch: BatchSettings::from_env(env, diag, "OTEL_BLRP", 1000),
            metrics,
            limits,
            prometheus,
            semconv: SemconvStability::from_env(env, diag),
            log_level,
            sampler_spec: None,
            resource: Vec::new(),
            resource_detection: None,
            span_processor: ProcessorKind::Batch,
            log_processor: ProcessorKind::Batch,
            metric_views: Vec::new(),
            cardinality_limits: CardinalityLimits::default(),
            mesh: MeshSettings::default(),
        };
        (config, d)
    }

    /// The names of every `OTEL_*` variable [`Config::from_env`] and setup
    /// read ([`KNOWN_VARIABLES`]), for checking deployment files.
    pub fn known_variables() -> &'static [&'static str] {
        KNOWN_VARIABLES
    }

    /// The OTLP settings of `signal`.
    pub fn otlp(&self, signal: Signal) -> &OtlpSettings {
        match signal {
            Signal::Traces => &self.otlp_traces,
            Signal::Metrics => &self.otlp_metrics,
            Signal::Logs => &self.otlp_logs,
        }
    }
}

fn list<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    name: impl Fn(&T) -> &'static str,
) -> fmt::Result {
    if items.is_empty() {
        return f.write_str("none");
    }
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        f.write_str(name(item))?;
    }
    Ok(())
}

impl fmt::Display for Config {
    /// The effective configuration, one setting per line, secrets redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sdk disabled: {}", self.sdk_disabled)?;
        f.write_str("propagators: ")?;
        list(f, &self.propagators, |p| p.as_str())?;
        writeln!(f)?;
        let exporters = [
            (Signal::Traces, &self.traces_exporter),
            (Signal::Metrics, &self.metrics_exporter),
            (Signal::Logs, &self.logs_exporter),
        ];
        for (signal, kinds) in exporters {
            write!(f, "{signal} exporter: ")?;
            match kinds {
                Some(k) => list(f, k, |k| k.as_str())?,
                None => f.write_str("otlp (default)")?,
            }
            writeln!(f)?;
            let o = self.otlp(signal);
            writeln!(
                f,
                "  otlp {signal}: {} {} timeout={:?} compression={:?} headers={}{}",
                o.protocol.as_str(),
                redact_userinfo(&o.endpoint),
                o.timeout,
                o.compression,
                RedactedHeaders(&o.headers),
                if o.certificate.is_some() || o.client_certificate.is_some() {
                    " tls-files=set"
                } else {
                    ""
                },
            )?;
        }
        let b = &self.span_batch;
        writeln!(
            f,
            "span batch: delay={:?} timeout={:?} queue={} batch={} concurrent={}",
            b.schedule_delay,
            b.export_timeout,
            b.max_queue_size,
            b.max_export_batch_size,
            b.max_concurrent_exports
        )?;
        let b = &self.log_batch;
        writeln!(
            f,
            "log batch: delay={:?} timeout={:?} queue={} batch={}",
            b.schedule_delay, b.export_timeout, b.max_queue_size, b.max_export_batch_size
        )?;
        writeln!(
            f,
            "metrics: interval={:?} timeout={:?} temporality={:?}",
            self.metrics.export_interval, self.metrics.export_timeout, self.metrics.temporality
        )?;
        write!(
            f,
            "semconv: http={:?} rpc={:?} messaging={:?} exceptions={:?}",
            self.semconv.http, self.semconv.rpc, self.semconv.messaging, self.semconv.exceptions
        )?;
        // What only a configuration file sets, when it does.
        if self.span_processor != ProcessorKind::Batch || self.log_processor != ProcessorKind::Batch
        {
            write!(
                f,
                "\nprocessors: spans={:?} logs={:?}",
                self.span_processor, self.log_processor
            )?;
        }
        for view in &self.metric_views {
            write!(
                f,
                "\nmetric view: {} -> {}",
                view.instrument_name.as_deref().unwrap_or("*"),
                view.name.as_deref().unwrap_or("(same name)")
            )?;
        }
        if !self.cardinality_limits.is_empty() {
            write!(f, "\ncardinality limits: {:?}", self.cardinality_limits)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
