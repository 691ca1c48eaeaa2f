use super::runtime::ExportRuntime;
use crate::config::{Config, Diagnostics, LogLevel};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::fmt;
use std::time::Duration;

/// What setup did: the effective configuration, the resource, and every
/// problem found. `Display` prints it all with secrets redacted.
#[derive(Debug, Clone)]
pub struct SetupReport {
    pub(crate) config: Config,
    pub(crate) diagnostics: Diagnostics,
    pub(crate) resource: Resource,
    pub(crate) traces: Vec<&'static str>,
    pub(crate) metrics: Vec<&'static str>,
    pub(crate) logs: Vec<&'static str>,
    pub(crate) sampler: String,
    pub(crate) sources: std::collections::BTreeMap<String, ValueSource>,
    pub(crate) config_file: Option<std::path::PathBuf>,
    pub(crate) ignored_variables: Vec<String>,
}

/// Where an effective setting came from (see [`SetupReport::sources`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ValueSource {
    /// A builder setter's default, used because the deployment set nothing.
    Code,
    /// The process environment (or the [`Environment`](crate::config::Environment)
    /// given to the builder).
    Environment,
    /// A `force_*` builder setter, which wins over the environment.
    Forced,
    /// The declarative configuration file (keyed by the field's YAML path).
    File,
}

impl ValueSource {
    /// `code`, `environment`, `forced by code` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueSource::Code => "code",
            ValueSource::Environment => "environment",
            ValueSource::Forced => "forced by code",
            ValueSource::File => "file",
        }
    }
}

impl fmt::Display for ValueSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SetupReport {
    /// Where each effective setting came from: every `OTEL_*` variable that
    /// has a value (from the environment, a builder default or a forcing
    /// setter), `OTEL_TRACES_SAMPLER` when a sampler was given in code, and
    /// the resource's `service.name` / `service.version` when code or the
    /// environment set them. Settings absent here have the specification's
    /// defaults.
    ///
    /// ```
    /// use otel_kit_core::config::Environment;
    /// use otel_kit_core::ValueSource;
    ///
    /// # fn main() -> Result<(), otel_kit_core::SetupError> {
    /// let telemetry = otel_kit_core::Telemetry::builder()
    ///     .environment(Environment::from_pairs([("OTEL_SERVICE_NAME", "payments")]))
    ///     .service_name("compiled-in")
    ///     .traces_exporter(&[])
    ///     .metrics_exporter(&[])
    ///     .logs_exporter(&[])
    ///     .install_global(false)
    ///     .install()?;
    /// let report = telemetry.report();
    /// assert_eq!(report.sources()["service.name"], ValueSource::Environment);
    /// assert_eq!(report.sources()["OTEL_TRACES_EXPORTER"], ValueSource::Code);
    /// # Ok(()) }
    /// ```
    pub fn sources(&self) -> &std::collections::BTreeMap<String, ValueSource> {
        &self.sources
    }

    /// The declarative configuration file used, if any (`OTEL_CONFIG_FILE`
    /// or [`TelemetryBuilder::config_file`](super::TelemetryBuilder::config_file)).
    pub fn config_file(&self) -> Option<&std::path::Path> {
        self.config_file.as_deref()
    }

    /// The `OTEL_*` variables of the environment that were not read because
    /// a configuration file replaced them (they still count through `${VAR}`
    /// substitution in the file). Empty without a file.
    pub fn ignored_variables(&self) -> &[String] {
        &self.ignored_variables
    }

    /// The configuration in effect (environment plus builder overrides).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every problem found in the configuration; each names the variable and value.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diagnostics
    }

    /// The resource every signal carries.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// The exporters installed for traces (e.g. `["otlp"]`, `["console"]`, `[]`);
    /// one given to [`TelemetryBuilder::with_span_exporter`](super::TelemetryBuilder::with_span_exporter)
    /// is listed by its type name, after the configured ones.
    pub fn trace_exporters(&self) -> &[&'static str] {
        &self.traces
    }

    /// The exporters (or readers) installed for metrics; one given to
    /// [`TelemetryBuilder::with_metric_exporter`](super::TelemetryBuilder::with_metric_exporter)
    /// is listed by its type name, after the configured ones.
    pub fn metric_exporters(&self) -> &[&'static str] {
        &self.metrics
    }

    /// The exporters installed for logs.
    pub fn log_exporters(&self) -> &[&'static str] {
        &self.logs
    }
}

impl fmt::Display for SetupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "OpenTelemetry setup")?;
        let mut attrs: Vec<String> = self
            .resource
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        attrs.sort();
        writeln!(f, "resource: {}", attrs.join(", "))?;
        writeln!(f, "sampler: {}", self.sampler)?;
        writeln!(
            f,
            "installed exporters: traces=[{}] metrics=[{}] logs=[{}]",
            self.traces.join(","),
            self.metrics.join(","),
            self.logs.join(",")
        )?;
        writeln!(f, "{}", self.config)?;
        let sources: Vec<String> = self
            .sources
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(f, "sources: {}", sources.join(", "))?;
        if let Some(path) = &self.config_file {
            writeln!(f, "config file: {}", path.display())?;
            if !self.ignored_variables.is_empty() {
                writeln!(
                    f,
                    "ignored (the file replaces them, ${{VAR}} substitution aside): {}",
                    self.ignored_variables.join(", ")
                )?;
            }
        }
        if self.diagnostics.is_empty() {
            write!(f, "diagnostics: none")
        } else {
            write!(f, "diagnostics:\n{}", self.diagnostics)
        }
    }
}

/// A problem met while flushing and shutting a provider down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownError {
    /// One line per signal that failed, e.g. `traces: Operation timed out after 10s`.
    pub failures: Vec<String>,
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "telemetry shutdown: {}", self.failures.join("; "))
    }
}

impl std::error::Error for ShutdownError {}

/// The installed telemetry. Dropping it flushes and shuts down the tracer,
/// meter and logger providers (within [`TelemetryBuilder::shutdown_timeout`]):
/// nothing recorded before a clean shutdown is lost.
///
/// Dropping is safe anywhere: inside a multi-thread or current-thread Tokio
/// runtime or outside any runtime. Exporters do their I/O on a runtime of
/// their own, so a flush never waits for the runtime that is dropping the
/// guard. In async code prefer [`Telemetry::shutdown`], which does not block
/// the calling task's thread.
///
/// [`TelemetryBuilder::shutdown_timeout`]: super::TelemetryBuilder::shutdown_timeout
#[must_use = "dropping Telemetry shuts telemetry down at once: bind it, e.g. `let _telemetry = otel_kit_core::init()?;`"]
pub struct Telemetry {
    pub(crate) tracer_provider: SdkTracerProvider,
    pub(crate) meter_provider: SdkMeterProvider,
    pub(crate) logger_provider: SdkLoggerProvider,
    pub(crate) report: SetupReport,
    pub(crate) propagator:
        std::sync::Arc<dyn opentelemetry::propagation::TextMapPropagator + Send + Sync>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) runtime: Option<ExportRuntime>,
    pub(crate) span_pipelines: Vec<std::sync::Arc<super::span_pipeline::SpanPipeline>>,
    #[cfg(feature = "prometheus")]
    pub(crate) prometheus: Option<super::prometheus::PrometheusEndpoint>,
    pub(crate) done: bool,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("report", &self.report)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// A builder over the environment: values set on it win over `OTEL_*`.
    pub fn builder() -> super::TelemetryBuilder {
        super::TelemetryBuilder::default()
    }

    /// The tracer provider (also installed globally unless disabled).
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// The meter provider (also installed globally unless disabled).
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// The logger provider: bridge log libraries to it (feature `tracing`
    /// does that for the `tracing` crate).
    pub fn logger_provider(&self) -> &SdkLoggerProvider {
        &self.logger_provider
    }

    /// A tracer from this setup's provider.
    pub fn tracer(&self, name: impl Into<std::borrow::Cow<'static, str>>) -> SdkTracer {
        use opentelemetry::trace::TracerProvider as _;
        self.tracer_provider.tracer(name)
    }

    /// A meter from this setup's provider.
    pub fn meter(&self, name: &'static str) -> opentelemetry::metrics::Meter {
        use opentelemetry::metrics::MeterProvider as _;
        self.meter_provider.meter(name)
    }

    /// The configured propagator (the `OTEL_PROPAGATORS` composite plus mesh
    /// header forwarding), also installed globally unless disabled: hand it
    /// to layers built with injected providers.
    pub fn propagator(
        &self,
    ) -> std::sync::Arc<dyn opentelemetry::propagation::TextMapPropagator + Send + Sync> {
        self.propagator.clone()
    }

    /// The effective configuration, resource and diagnostics.
    pub fn report(&self) -> &SetupReport {
        &self.report
    }

    /// The address the Prometheus scrape endpoint listens on, when
    /// `OTEL_METRICS_EXPORTER=prometheus` (feature `prometheus`).
    #[cfg(feature = "prometheus")]
    pub fn prometheus_addr(&self) -> Option<std::net::SocketAddr> {
        self.prometheus.as_ref().map(|p| p.local_addr())
    }

    /// What the span exporters have lost so far: spans dropped because the
    /// export queue was full and spans of failed exports, with the first
    /// export error. Each kind of loss is also printed once on stderr
    /// (unless `OTEL_LOG_LEVEL` is below `warn`), and the totals at shutdown.
    pub fn export_stats(&self) -> super::ExportStats {
        let mut total = super::ExportStats::default();
        for p in &self.span_pipelines {
            total.add(p.stats());
        }
        total
    }

    /// Exports everything buffered so far, without shutting down.
    pub fn force_flush(&self) -> Result<(), ShutdownError> {
        let mut failures = Vec::new();
        if let Err(e) = self.tracer_provider.force_flush() {
            failures.push(format!("traces: {e}"));
        }
        if let Err(e) = self.meter_provider.force_flush() {
            failures.push(format!("metrics: {e}"));
        }
        if let Err(e) = self.logger_provider.force_flush() {
            failures.push(format!("logs: {e}"));
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ShutdownError { failures })
        }
    }

    /// Flushes and shuts down every provider, blocking the calling thread for
    /// at most the shutdown timeout. Idempotent; `Drop` calls it.
    pub fn shutdown_blocking(&mut self) -> Result<(), ShutdownError> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(());
        }
        let timeout = self.shutdown_timeout;
        // The batch processor's shutdown fails only on a timeout: what the
        // final exports lost is counted by the span pipelines (below).
        let failed_before = self.export_stats().spans_failed;
        // The three providers shut down in parallel, so the whole shutdown is
        // bounded by one timeout, not three. The meter provider's final
        // collection waits (for at most half the timeout) for traces and logs
        // to finish, so that the SDK metrics count their final exports.
        let started = std::time::Instant::now();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let (tracer_provider, meter_provider, logger_provider) = (
            &self.tracer_provider,
            &self.meter_provider,
            &self.logger_provider,
        );
        let (traces, metrics, logs) = std::thread::scope(|s| {
            let t_done = done_tx.clone();
            let t = s.spawn(move || {
                let r = tracer_provider.shutdown_with_timeout(timeout);
                let _ = t_done.send(());
                r
            });
            let l_done = done_tx;
            let l = s.spawn(move || {
                let r = logger_provider.shutdown_with_timeout(timeout);
                let _ = l_done.send(());
                r
            });
            let m = s.spawn(move || {
                let wait_until = started + timeout / 2;
                for _ in 0..2 {
                    let left = wait_until.saturating_duration_since(std::time::Instant::now());
                    if done_rx.recv_timeout(left).is_err() {
                        break;
                    }
                }
                let left = timeout.saturating_sub(started.elapsed());
                meter_provider.shutdown_with_timeout(left.max(timeout / 2))
            });
            (t.join(), m.join(), l.join())
        });
        let mut failures = Vec::new();
        let mut settled = true;
        for (signal, result) in [("traces", traces), ("metrics", metrics), ("logs", logs)] {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e @ opentelemetry_sdk::error::OTelSdkError::Timeout(_))) => {
                    // The provider's thread may still be exporting.
                    settled = false;
                    failures.push(format!("{signal}: {e}"));
                }
                // A provider with nothing installed, or shut down already by a
                // clone of it, is not a failure of this shutdown.
                Ok(Err(opentelemetry_sdk::error::OTelSdkError::AlreadyShutdown)) => {}
                Ok(Err(e)) => failures.push(format!("{signal}: {e}")),
                Err(_) => failures.push(format!("{signal}: shutdown panicked")),
            }
        }
        let lost = self.export_stats().spans_failed - failed_before;
        if lost > 0 {
            failures.push(format!(
                "traces: the final export failed, {lost} spans lost"
            ));
        }
        #[cfg(feature = "prometheus")]
        drop(self.prometheus.take());
        // Stopping the export runtime last: the flush above needed it. After
        // a timeout it is closed (pending exports end at their next poll) but
        // not torn down under them.
        if let Some(rt) = self.runtime.take() {
            rt.close(settled);
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ShutdownError { failures })
        }
    }

    /// Flushes and shuts down every provider without blocking the async
    /// runtime's thread (the blocking part runs on a thread of its own).
    pub async fn shutdown(mut self) -> Result<(), ShutdownError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("otel-shutdown".into())
            .spawn(move || {
                let result = self.shutdown_blocking();
                let _ = tx.send(result);
            });
        match spawned {
            Ok(_) => rx.await.unwrap_or_else(|_| {
                Err(ShutdownError {
                    failures: vec!["shutdown thread panicked".into()],
                })
            }),
            Err(e) => Err(ShutdownError {
                failures: vec![format!("cannot spawn the shutdown thread: {e}")],
            }),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_blocking()
            && self.report.config.log_level >= LogLevel::Error
        {
            eprintln!("otel-kit-core: {e}");
        }
    }
}
