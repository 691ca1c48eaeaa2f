//! `tracing` interop (feature `tracing`): spans made with the `tracing` crate
//! (`#[instrument]`, `info_span!`) become OpenTelemetry spans on the same
//! provider, nested inside and around this family's spans; `tracing` events
//! become OpenTelemetry log records carrying `trace_id` / `span_id`, and the
//! optional terminal output prints the ids too.
//!
//! ```no_run
//! use otel_kit_core::{Telemetry, tracing_bridge::TracingOptions};
//!
//! # fn main() -> Result<(), otel_kit_core::SetupError> {
//! let _telemetry = Telemetry::builder()
//!     .with_tracing(TracingOptions::default().filter("info,my_service=debug"))
//!     .install()?;
//! tracing::info_span!("load").in_scope(|| tracing::info!(rows = 3, "loaded"));
//! # Ok(()) }
//! ```

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::fmt;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, format::Writer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// What the `tracing` bridge installs.
#[derive(Clone, Debug)]
pub struct TracingOptions {
    filter: Option<String>,
    spans: bool,
    logs: bool,
    terminal: bool,
}

impl Default for TracingOptions {
    /// Spans and log records on, terminal output on, filter from `RUST_LOG`
    /// (or `info`).
    fn default() -> Self {
        Self {
            filter: None,
            spans: true,
            logs: true,
            terminal: true,
        }
    }
}

impl TracingOptions {
    /// An `EnvFilter` directive (`info,hyper=warn`) instead of `RUST_LOG`.
    pub fn filter(mut self, directive: impl Into<String>) -> Self {
        self.filter = Some(directive.into());
        self
    }

    /// Whether `tracing` spans become OpenTelemetry spans (default on).
    pub fn spans(mut self, on: bool) -> Self {
        self.spans = on;
        self
    }

    /// Whether `tracing` events become OpenTelemetry log records (default on).
    pub fn logs(mut self, on: bool) -> Self {
        self.logs = on;
        self
    }

    /// Whether events are also printed on stderr, with their trace and span
    /// ids (default on).
    pub fn terminal(mut self, on: bool) -> Self {
        self.terminal = on;
        self
    }
}

/// The layers the bridge is made of, for users who build their own
/// subscriber: add it with `.with(otel_kit_core::tracing_bridge::layer(..))`.
pub fn layer<S>(
    options: &TracingOptions,
    tracer_provider: &SdkTracerProvider,
    logger_provider: &SdkLoggerProvider,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let mut layers: Vec<Box<dyn Layer<S> + Send + Sync>> = Vec::new();
    if options.spans {
        let tracer = tracer_provider.tracer("otel-core/tracing");
        layers.push(Box::new(tracing_opentelemetry::layer().with_tracer(tracer)));
    }
    if options.logs {
        layers.push(Box::new(
            opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(logger_provider),
        ));
    }
    if options.terminal {
        layers.push(Box::new(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .event_format(WithTraceIds),
        ));
    }
    Box::new(layers)
}

/// Installs the bridge as the global default subscriber.
pub(crate) fn install(
    options: TracingOptions,
    tracer_provider: &SdkTracerProvider,
    logger_provider: &SdkLoggerProvider,
) -> Result<(), String> {
    let filter = match &options.filter {
        Some(d) => EnvFilter::try_new(d).map_err(|e| format!("invalid filter {d:?}: {e}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::registry()
        .with(layer(&options, tracer_provider, logger_provider))
        .with(filter)
        .try_init()
        .map_err(|e| format!("a global tracing subscriber is already set: {e}"))
}

/// Terminal format: `LEVEL target: message fields trace_id=… span_id=…`.
struct WithTraceIds;

impl<S, N> FormatEvent<S, N> for WithTraceIds
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        write!(writer, "{:>5} {}: ", meta.level(), meta.target())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            write!(
                writer,
                " trace_id={} span_id={}",
                sc.trace_id(),
                sc.span_id()
            )?;
        }
        writeln!(writer)
    }
}
