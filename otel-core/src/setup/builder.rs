use super::SetupError;
use super::batch_export::BatchExport;
use super::guard::{SetupReport, Telemetry, ValueSource};
use super::limits::ValueLengthLimit;
use super::runtime::RuntimeHandle;
use super::runtime::{ExportRuntime, OnExportRuntime};
use super::span_pipeline::{CountedExporter, QueueLimit, SpanPipeline};
use crate::config::{
    self, Config, Diagnostics, Environment, ExporterKind, LogLevel, PropagatorKind, Protocol,
    Signal,
};
use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracerProvider, ShouldSample, SpanLimits, SpanProcessor};
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Telemetry`] from the environment plus what the code gives.
///
/// **The deployment wins.** A value given to a setter is a *default*: the
/// matching `OTEL_*` variable, when the environment sets it, overrides it,
/// so an operator can rename, relabel or re-point a binary without
/// rebuilding it. Code that must win says so with a `force_*` setter.
/// [`SetupReport::sources`] says where each effective value came from.
///
/// | setter (default) | variable(s) that override it | forcing setter |
/// |---|---|---|
/// | `service_name` | `OTEL_SERVICE_NAME`, `service.name` in `OTEL_RESOURCE_ATTRIBUTES` | `force_service_name` |
/// | `service_version` | `service.version` in `OTEL_RESOURCE_ATTRIBUTES` | `force_resource_attributes` |
/// | `resource_attributes` | the same keys in `OTEL_RESOURCE_ATTRIBUTES` | `force_resource_attributes` |
/// | `sampler` | `OTEL_TRACES_SAMPLER` (with `OTEL_TRACES_SAMPLER_ARG`) | `force_sampler` |
/// | `propagators` | `OTEL_PROPAGATORS` | `force_var` |
/// | `traces_exporter`, `metrics_exporter`, `logs_exporter` | `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER` | `force_var` |
/// | `otlp_endpoint` | `OTEL_EXPORTER_OTLP_ENDPOINT` or any `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT` | `force_var` |
/// | `otlp_protocol` | `OTEL_EXPORTER_OTLP_PROTOCOL` or any per-signal `_PROTOCOL` | `force_var` |
/// | `otlp_headers` | `OTEL_EXPORTER_OTLP_HEADERS` or any per-signal `_HEADERS` | `force_var` |
/// | `otlp_timeout` | `OTEL_EXPORTER_OTLP_TIMEOUT` or any per-signal `_TIMEOUT` | `force_var` |
/// | `span_export_delay` | `OTEL_BSP_SCHEDULE_DELAY` | `force_var` |
/// | `disabled` | `OTEL_SDK_DISABLED` | `force_var` |
/// | `var(NAME, value)` | `NAME` | `force_var(NAME, value)` |
/// | `config_file` | `OTEL_CONFIG_FILE` | – |
///
/// With a configuration file (feature `config-file`), the file takes the
/// environment's place in this table: the setters are defaults below what
/// it sets, `force_*` setters win over it, and the other `OTEL_*` variables
/// are ignored (`otel_kit_core::config::file`).
///
/// Setters without a variable (`forward_headers`, `force_trace_header`,
/// `with_span_processor`, `install_global`, `strict`, ...) simply apply.
///
/// ```no_run
/// use otel_kit_core::{Telemetry, config::{ExporterKind, Protocol}};
///
/// # fn main() -> Result<(), otel_kit_core::SetupError> {
/// let telemetry = Telemetry::builder()
///     .service_name("checkout")
///     .service_version(env!("CARGO_PKG_VERSION"))
///     .otlp_endpoint("http://collector:4317")
///     .otlp_protocol(Protocol::Grpc)
///     .console_when_unconfigured(true)
///     .install()?;
/// # Ok(()) }
/// ```
#[must_use = "call .install() to set up telemetry"]
pub struct TelemetryBuilder {
    env: Option<Environment>,
    /// Groups of variables given by code: a group applies when the
    /// environment sets none of its variables.
    defaults: Vec<Vec<(&'static str, Option<String>)>>,
    /// Variables code forces over the environment.
    forced: Vec<(&'static str, Option<String>)>,
    /// Resource attributes below the environment's.
    default_resource: Vec<KeyValue>,
    /// Resource attributes above every other source.
    forced_resource: Vec<KeyValue>,
    sampler: Option<Box<dyn ShouldSample>>,
    sampler_forced: bool,
    span_processors: Vec<Box<dyn SpanProcessor>>,
    /// [`with_span_exporter`](Self::with_span_exporter)'s, with their type names.
    span_exporters: Vec<(&'static str, Box<SpanExporterHook>)>,
    /// [`with_metric_exporter`](Self::with_metric_exporter)'s, with their type names.
    metric_exporters: Vec<(&'static str, Box<MetricExporterHook>)>,
    forward_headers: Vec<String>,
    mesh_forwarding: bool,
    force_trace_header: Option<String>,
    force_keep: bool,
    install_global: bool,
    strict: bool,
    console_fallback: bool,
    detection: crate::resource::ResourceDetection,
    shutdown_timeout: Option<Duration>,
    config_file: Option<std::path::PathBuf>,
    /// The runtime whose `tokio.*` metrics are reported (default: the current one).
    tokio_runtime: Option<tokio::runtime::Handle>,
    #[cfg(feature = "tracing")]
    tracing: Option<crate::tracing_bridge::TracingOptions>,
}

impl Default for TelemetryBuilder {
    fn default() -> Self {
        Self {
            env: None,
            defaults: Vec::new(),
            forced: Vec::new(),
            default_resource: Vec::new(),
            forced_resource: Vec::new(),
            sampler: None,
            sampler_forced: false,
            span_processors: Vec::new(),
            span_exporters: Vec::new(),
            metric_exporters: Vec::new(),
            forward_headers: Vec::new(),
            mesh_forwarding: true,
            force_trace_header: None,
            force_keep: true,
            install_global: true,
            strict: false,
            console_fallback: false,
            detection: crate::resource::ResourceDetection::new(),
            shutdown_timeout: None,
            config_file: None,
            tokio_runtime: None,
            #[cfg(feature = "tracing")]
            tracing: None,
        }
    }
}

impl std::fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("install_global", &self.install_global)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

fn join<T>(items: &[T], name: impl Fn(&T) -> &'static str) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items.iter().map(name).collect::<Vec<_>>().join(",")
}

impl TelemetryBuilder {
    /// A default for `var` (the environment's value wins).
    fn set(self, var: &'static str, value: Option<String>) -> Self {
        self.set_group(vec![(var, value)])
    }

    /// Defaults for a group of variables, applied only when the environment
    /// sets none of them (an endpoint and its per-signal forms, ...).
    fn set_group(mut self, group: Vec<(&'static str, Option<String>)>) -> Self {
        self.defaults.push(group);
        self
    }

    /// The default declarative configuration file (YAML, file format 1.x;
    /// see `otel_kit_core::config::file`), used unless `OTEL_CONFIG_FILE` names
    /// another. When a file is used the other `OTEL_*` variables are ignored
    /// (except through `${VAR}` substitution in the file), and the setters
    /// above give defaults for what the file leaves unset. Without the
    /// `config-file` feature the file is reported and the environment used.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), otel_kit_core::SetupError> {
    /// let telemetry = otel_kit_core::Telemetry::builder()
    ///     .service_name("checkout")
    ///     .config_file("/etc/otel/config.yaml")
    ///     .install()?;
    /// # Ok(()) }
    /// ```
    pub fn config_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Reads this environment instead of the process's (tests, embedding).
    pub fn environment(mut self, env: Environment) -> Self {
        self.env = Some(env);
        self
    }

    /// The default `service.name`: `OTEL_SERVICE_NAME` or a `service.name`
    /// in `OTEL_RESOURCE_ATTRIBUTES` replaces it.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.default_resource.push(KeyValue::new(
            crate::semconv::resource::SERVICE_NAME,
            name.into(),
        ));
        self
    }

    /// `service.name`, whatever the environment says.
    pub fn force_service_name(mut self, name: impl Into<String>) -> Self {
        self.forced_resource.push(KeyValue::new(
            crate::semconv::resource::SERVICE_NAME,
            name.into(),
        ));
        self
    }

    /// The default `service.version` (a `service.version` in
    /// `OTEL_RESOURCE_ATTRIBUTES` replaces it).
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.default_resource.push(KeyValue::new(
            crate::semconv::resource::SERVICE_VERSION,
            version.into(),
        ));
        self
    }

    /// Default resource attributes: above the detected ones, below
    /// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`.
    pub fn resource_attributes(mut self, attrs: impl IntoIterator<Item = KeyValue>) -> Self {
        self.default_resource.extend(attrs);
        self
    }

    /// Resource attributes that win over every detected or configured one
    /// (the environment's included).
    pub fn force_resource_attributes(mut self, attrs: impl IntoIterator<Item = KeyValue>) -> Self {
        self.forced_resource.extend(attrs);
        self
    }

    /// Which resource detectors run (default: all but command-line arguments;
    /// `ResourceDetection::none()` turns detection off).
    pub fn resource_detection(mut self, detection: crate::resource::ResourceDetection) -> Self {
        self.detection = detection;
        self
    }

    /// The default sampler (see [`crate::sampling`]): used unless
    /// `OTEL_TRACES_SAMPLER` is set.
    pub fn sampler(mut self, sampler: impl ShouldSample + 'static) -> Self {
        self.sampler = Some(Box::new(sampler));
        self.sampler_forced = false;
        self
    }

    /// The sampler, whatever `OTEL_TRACES_SAMPLER` says.
    pub fn force_sampler(mut self, sampler: impl ShouldSample + 'static) -> Self {
        self.sampler = Some(Box::new(sampler));
        self.sampler_forced = true;
        self
    }

    /// The propagators in composite order (`OTEL_PROPAGATORS`); empty = none.
    pub fn propagators(self, kinds: &[PropagatorKind]) -> Self {
        let v = join(kinds, |k| k.as_str());
        self.set("OTEL_PROPAGATORS", Some(v))
    }

    /// Extra headers forwarded from incoming to outgoing requests, on top of
    /// `x-request-id` (always forwarded; see [`crate::propagation::ForwardHeadersPropagator`]).
    pub fn forward_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.forward_headers
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Whether mesh headers (`x-request-id`, ...) are forwarded (default on).
    pub fn mesh_forwarding(mut self, on: bool) -> Self {
        self.mesh_forwarding = on;
        self
    }

    /// A request header that forces the trace to be kept whatever the
    /// sampler says (e.g. `x-envoy-force-trace`). Off by default: any client
    /// can send a header, so only name one behind a proxy that controls it.
    pub fn force_trace_header(mut self, name: impl Into<String>) -> Self {
        self.force_trace_header = Some(name.into());
        self
    }

    /// Whether an upstream debug flag (B3 `d` / `X-B3-Flags: 1`, Jaeger
    /// debug) or the force-trace header keeps a trace whatever the
    /// environment's sampler decides (default on, as B3 specifies). Applies
    /// to samplers from `OTEL_TRACES_SAMPLER`, not to one set with
    /// [`sampler`](Self::sampler).
    pub fn force_keep(mut self, on: bool) -> Self {
        self.force_keep = on;
        self
    }

    /// A default for any `OTEL_*` variable (the code-level equivalent of
    /// every variable without a dedicated setter), e.g.
    /// `.var("OTEL_BSP_MAX_QUEUE_SIZE", "4096")`; the environment's value,
    /// when set, wins.
    pub fn var(self, name: &'static str, value: impl Into<String>) -> Self {
        self.set(name, Some(value.into()))
    }

    /// Sets any `OTEL_*` variable for this setup, whatever the environment
    /// says (an empty value unsets it).
    pub fn force_var(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        self.forced
            .push((name, (!value.is_empty()).then_some(value)));
        self
    }

    /// Trace exporters (`OTEL_TRACES_EXPORTER`); empty = none.
    pub fn traces_exporter(self, kinds: &[ExporterKind]) -> Self {
        let v = join(kinds, |k| k.as_str());
        self.set("OTEL_TRACES_EXPORTER", Some(v))
    }

    /// Metric exporters (`OTEL_METRICS_EXPORTER`); empty = none.
    pub fn metrics_exporter(self, kinds: &[ExporterKind]) -> Self {
        let v = join(kinds, |k| k.as_str());
        self.set("OTEL_METRICS_EXPORTER", Some(v))
    }

    /// Log exporters (`OTEL_LOGS_EXPORTER`); empty = none.
    pub fn logs_exporter(self, kinds: &[ExporterKind]) -> Self {
        let v = join(kinds, |k| k.as_str());
        self.set("OTEL_LOGS_EXPORTER", Some(v))
    }

    /// OTLP base endpoint of every signal (`OTEL_EXPORTER_OTLP_ENDPOINT`;
    /// clears the per-signal endpoint variables). For HTTP the signal paths
    /// `v1/traces`, ... are appended.
    pub fn otlp_endpoint(self, url: impl Into<String>) -> Self {
        self.set_group(vec![
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", None),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", None),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", Some(url.into())),
        ])
    }

    /// OTLP transport of every signal (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub fn otlp_protocol(self, protocol: Protocol) -> Self {
        self.set_group(vec![
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", None),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", None),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", None),
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                Some(protocol.as_str().into()),
            ),
        ])
    }

    /// OTLP request headers of every signal (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub fn otlp_headers<I, K, V>(self, headers: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let v = headers
            .into_iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    k.as_ref(),
                    utf8_percent_encode(v.as_ref(), NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        self.set_group(vec![
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", None),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", None),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", None),
            ("OTEL_EXPORTER_OTLP_HEADERS", Some(v)),
        ])
    }

    /// OTLP export timeout of every signal (`OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub fn otlp_timeout(self, timeout: Duration) -> Self {
        // 0 keeps its specification meaning: no limit.
        let ms = timeout.as_millis().min(i32::MAX as u128).to_string();
        self.set_group(vec![
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", None),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", None),
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", None),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", Some(ms)),
        ])
    }

    /// Delay between two span exports (`OTEL_BSP_SCHEDULE_DELAY`).
    pub fn span_export_delay(self, delay: Duration) -> Self {
        let ms = delay.as_millis().min(i32::MAX as u128).to_string();
        self.set("OTEL_BSP_SCHEDULE_DELAY", Some(ms))
    }

    /// Disables every signal (`OTEL_SDK_DISABLED`); propagators still work.
    pub fn disabled(self, disabled: bool) -> Self {
        self.set("OTEL_SDK_DISABLED", Some(disabled.to_string()))
    }

    /// An extra span processor (e.g. the test kit's), after the configured ones.
    pub fn with_span_processor(mut self, processor: impl SpanProcessor + 'static) -> Self {
        self.span_processors.push(Box::new(processor));
        self
    }

    /// An extra span exporter (a vendor's, or the SDK's `InMemorySpanExporter`
    /// in tests) behind otel-kit-core's own batch processor, next to the
    /// configured exporters: it gets the `OTEL_BSP_*` settings, concurrent
    /// exports, counted drops ([`Telemetry::export_stats`](super::Telemetry::export_stats))
    /// and the `otel.sdk.*` metrics, where [`with_span_processor`](Self::with_span_processor)
    /// gets none of them.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use otel_kit_core::opentelemetry::trace::Tracer;
    /// use otel_kit_core::Telemetry;
    ///
    /// # fn main() -> Result<(), otel_kit_core::SetupError> {
    /// let spans = InMemorySpanExporter::default();
    /// let telemetry = Telemetry::builder()
    ///     .traces_exporter(&[]) // only this one
    ///     .with_span_exporter(spans.clone())
    ///     .install_global(false)
    ///     .install()?;
    /// telemetry.tracer("app").in_span("work", |_| {});
    /// telemetry.tracer_provider().force_flush().expect("flushed");
    /// assert_eq!(spans.get_finished_spans().unwrap().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn with_span_exporter(
        mut self,
        exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
    ) -> Self {
        let name = std::any::type_name_of_val(&exporter);
        self.span_exporters.push((
            name,
            Box::new(move |config, rt, pipelines, sdk_metrics| {
                let report = (config.log_level >= LogLevel::Warn)
                    .then(super::span_pipeline::stderr_reporter);
                let b = &config.span_batch;
                let pipeline =
                    SpanPipeline::with_setting(name, b.max_queue_size, b.queue_setting, report);
                let processor = batch_spans(exporter, config, rt, pipeline.clone(), false)?;
                sdk_metrics.span_pipeline(&pipeline, std::borrow::Cow::Borrowed(name));
                pipelines.push(pipeline);
                Ok(processor)
            }),
        ));
        self
    }

    /// An extra metric exporter (e.g. the SDK's `InMemoryMetricExporter` in
    /// tests), read every `OTEL_METRIC_EXPORT_INTERVAL` next to the
    /// configured exporters and flushed with them.
    pub fn with_metric_exporter(
        mut self,
        exporter: impl opentelemetry_sdk::metrics::exporter::PushMetricExporter,
    ) -> Self {
        let name = std::any::type_name_of_val(&exporter);
        self.metric_exporters.push((
            name,
            Box::new(move |b, config, rt, sdk_metrics| {
                let component = std::borrow::Cow::Borrowed(name);
                b.with_reader(periodic(exporter, config, rt, sdk_metrics, component))
            }),
        ));
        self
    }

    /// Whether the providers and propagator become the global ones (default
    /// on; turn off in tests that run in parallel).
    pub fn install_global(mut self, on: bool) -> Self {
        self.install_global = on;
        self
    }

    /// Strict mode: any configuration problem fails [`install`](Self::install)
    /// with [`SetupError::InvalidConfiguration`] instead of a warning.
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }

    /// When no exporter variable and no OTLP endpoint is set, print to the
    /// console instead of exporting OTLP to `localhost` (examples, local runs).
    pub fn console_when_unconfigured(mut self, on: bool) -> Self {
        self.console_fallback = on;
        self
    }

    /// Longest time the final flush and shutdown may take (default: the
    /// longest OTLP timeout of the installed exporters plus one second).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Whether the SDK reports its own metrics (`otel.sdk.span.started`,
    /// `otel.sdk.processor.span.processed` with `error.type=queue_full` for
    /// dropped spans, `otel.sdk.exporter.span.exported` with the failures'
    /// `error.type`, queue size, in-flight items, export durations; see
    /// `docs/conventions.md`) through this setup's meter provider: on by
    /// default whenever a metric exporter is installed. `OTEL_KIT_SDK_METRICS`
    /// (`true`/`false`) overrides it.
    pub fn sdk_metrics(self, on: bool) -> Self {
        self.set(crate::sdk_metrics::VARIABLE, Some(on.to_string()))
    }

    /// Runtime metrics to report (default none): `process.*` from
    /// `/proc/self` (Linux) and `tokio.*` from the Tokio runtime (see
    /// [`crate::runtime_metrics`]). `OTEL_KIT_RUNTIME_METRICS`
    /// (`process,tokio`, `none`) overrides it.
    pub fn runtime_metrics(self, kinds: &[crate::runtime_metrics::RuntimeMetric]) -> Self {
        let v = join(kinds, |k| k.as_str());
        self.set(crate::runtime_metrics::VARIABLE, Some(v))
    }

    /// The Tokio runtime whose `tokio.*` metrics are reported when runtime
    /// metrics include `tokio` (default: the runtime `install` runs in).
    pub fn tokio_runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.tokio_runtime = Some(handle);
        self
    }

    /// Installs the `tracing` bridge: `tracing` spans become OpenTelemetry
    /// spans nested with ours, and events become log records carrying
    /// `trace_id`/`span_id` (feature `tracing`).
    #[cfg(feature = "tracing")]
    pub fn with_tracing(mut self, options: crate::tracing_bridge::TracingOptions) -> Self {
        self.tracing = Some(options);
        self
    }

    /// Reads the configuration, builds and installs everything.
    pub fn install(self) -> Result<Telemetry, SetupError> {
        let deployment = self.env.clone().unwrap_or_else(Environment::from_process);
        let file_name = deployment
            .get("OTEL_CONFIG_FILE")
            .or_else(|| deployment.get("OTEL_EXPERIMENTAL_CONFIG_FILE"))
            .map(std::path::PathBuf::from)
            .or_else(|| self.config_file.clone());
        #[allow(unused_mut, reason = "only without the config-file feature")]
        let mut early = Diagnostics::default();
        #[cfg(feature = "config-file")]
        let file = match &file_name {
            Some(path) => Some(
                config::file::FileSettings::load(path, &deployment)
                    .map_err(SetupError::ConfigFile)?,
            ),
            None => None,
        };
        #[cfg(not(feature = "config-file"))]
        if let Some(path) = &file_name {
            early.push(
                "OTEL_CONFIG_FILE",
                path.display().to_string(),
                "otel-kit-core was built without its `config-file` feature",
                "the OTEL_* variables are used instead",
            );
        }
        // What the deployment says: the file's settings, or the environment.
        #[cfg(feature = "config-file")]
        let base = match &file {
            Some(f) => f.environment().clone(),
            None => deployment.clone(),
        };
        #[cfg(not(feature = "config-file"))]
        let base = deployment.clone();
        let mut env = base.clone();
        let mut sources: std::collections::BTreeMap<String, ValueSource> =
            std::collections::BTreeMap::new();
        #[cfg(feature = "config-file")]
        if let Some(f) = &file {
            sources.extend(f.paths().iter().map(|p| (p.clone(), ValueSource::File)));
        }
        // Without the feature a file is only reported (above).
        let file_used = cfg!(feature = "config-file") && file_name.is_some();
        let ignored_variables: Vec<String> = if file_used {
            deployment
                .otel_names()
                .into_iter()
                .filter(|n| !n.ends_with("CONFIG_FILE"))
                .map(str::to_owned)
                .collect()
        } else {
            sources.extend(
                deployment
                    .otel_names()
                    .into_iter()
                    .map(|n| (n.to_owned(), ValueSource::Environment)),
            );
            Vec::new()
        };
        for group in &self.defaults {
            if group.iter().any(|(var, _)| base.get(var).is_some()) {
                continue;
            }
            for (var, value) in group {
                env.set(*var, value.clone().unwrap_or_default());
                if value.is_some() {
                    sources.insert((*var).to_owned(), ValueSource::Code);
                }
            }
        }
        for (var, value) in &self.forced {
            env.set(*var, value.clone().unwrap_or_default());
            match value {
                Some(_) => sources.insert((*var).to_owned(), ValueSource::Forced),
                None => sources.remove(*var),
            };
        }
        #[allow(unused_mut, reason = "completed by a configuration file")]
        let (mut config, diag) = Config::from_env(&env);
        let mut diag = {
            let mut all = early;
            #[cfg(feature = "config-file")]
            if let Some(f) = &file {
                f.complete(&mut config);
                all.extend(f.diagnostics().clone());
            }
            all.extend(diag);
            all
        };

        // Exporter defaults: OTLP per the specification, or the console when
        // asked to and nothing is configured.
        let fallback = |kinds: &Option<Vec<ExporterKind>>, signal: Signal, config: &Config| {
            kinds.clone().unwrap_or_else(|| {
                if self.console_fallback && !config.otlp(signal).endpoint_configured {
                    vec![ExporterKind::Console]
                } else {
                    vec![ExporterKind::Otlp]
                }
            })
        };
        let traces = fallback(&config.traces_exporter, Signal::Traces, &config);
        let metrics = fallback(&config.metrics_exporter, Signal::Metrics, &config);
        let logs = fallback(&config.logs_exporter, Signal::Logs, &config);

        // Telemetry about the telemetry, and runtime metrics (their own modules).
        let mut sdk_metrics = crate::sdk_metrics::SdkMetrics::new(
            crate::sdk_metrics::enabled(&env, &mut diag)
                && !config.sdk_disabled
                && (!metrics.is_empty() || !self.metric_exporters.is_empty()),
        );
        let runtime_metrics = crate::runtime_metrics::RuntimeMetrics::resolve(
            &crate::runtime_metrics::from_env(&env, &mut diag),
            self.tokio_runtime.clone(),
            &mut diag,
        );

        let resource = self.build_resource(&config, &env, &mut diag);
        for key in [
            crate::semconv::resource::SERVICE_NAME,
            crate::semconv::resource::SERVICE_VERSION,
        ] {
            let source = if self.forced_resource.iter().any(|kv| kv.key.as_str() == key) {
                Some(ValueSource::Forced)
            } else if config.resource.iter().any(|kv| kv.key.as_str() == key) {
                Some(ValueSource::File)
            } else if (key == crate::semconv::resource::SERVICE_NAME
                && env.get("OTEL_SERVICE_NAME").is_some())
                || env
                    .get("OTEL_RESOURCE_ATTRIBUTES")
                    .and_then(|v| crate::resource::parse_resource_attributes(v).ok())
                    .is_some_and(|attrs| attrs.iter().any(|kv| kv.key.as_str() == key))
            {
                Some(ValueSource::Environment)
            } else if self
                .default_resource
                .iter()
                .any(|kv| kv.key.as_str() == key)
            {
                Some(ValueSource::Code)
            } else {
                None
            };
            if let Some(source) = source {
                sources.insert(key.to_owned(), source);
            }
        }
        let code_sampler = match self.sampler {
            Some(s)
                if self.sampler_forced
                    || (env.get("OTEL_TRACES_SAMPLER").is_none()
                        && config.sampler_spec.is_none()) =>
            {
                let source = if self.sampler_forced {
                    ValueSource::Forced
                } else {
                    ValueSource::Code
                };
                sources.insert("OTEL_TRACES_SAMPLER".to_owned(), source);
                Some(s)
            }
            _ => None,
        };
        let (sampler, sampler_text) = match code_sampler {
            Some(s) => (s, "set by code".to_string()),
            None => super::compose::sampler(&config, self.force_keep, &mut diag),
        };
        // Mesh forwarding: the builder's, completed by a configuration file's
        // `mesh` propagator.
        let mesh = &config.mesh;
        let mut forward_headers = self.forward_headers.clone();
        forward_headers.extend(mesh.headers.iter().cloned());
        let propagator: std::sync::Arc<dyn TextMapPropagator + Send + Sync> =
            std::sync::Arc::new(super::compose::propagator(
                &config.propagators,
                mesh.enabled
                    .unwrap_or(self.mesh_forwarding)
                    .then_some(forward_headers.as_slice()),
                mesh.force_trace_header
                    .as_deref()
                    .or(self.force_trace_header.as_deref()),
                &mut diag,
            ));

        // Diagnostics of the file's values name its fields.
        #[cfg(feature = "config-file")]
        if let Some(f) = &file {
            f.rename(&mut diag);
        }

        // Strict mode fails before anything global changes.
        if self.strict && !diag.is_empty() {
            return Err(SetupError::InvalidConfiguration(diag));
        }

        let runtime = ExportRuntime::start().map_err(SetupError::Runtime)?;
        let rt = runtime.handle();
        let mut installed = (Vec::new(), Vec::new(), Vec::new());
        let mut span_pipelines = Vec::new();

        let mut tracer_builder = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            // The SDK's random ids, remembered so that the traces this
            // process starts go out with the Level 2 random-trace-id flag.
            .with_id_generator(crate::propagation::RandomTraceIdGenerator::new())
            .with_sampler(sdk_metrics.sampler(sampler))
            .with_span_limits(SpanLimits {
                max_attributes_per_span: config.limits.span_attribute_count,
                max_events_per_span: config.limits.span_event_count,
                max_links_per_span: config.limits.span_link_count,
                max_attributes_per_event: config.limits.event_attribute_count,
                max_attributes_per_link: config.limits.link_attribute_count,
            });
        let mut meter_builder = SdkMeterProvider::builder().with_resource(resource.clone());
        let limits = config.cardinality_limits;
        if config.metrics.exponential_histograms || !limits.is_empty() {
            // Instruments no configured view selects: with
            // OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION every
            // histogram becomes a base-2 exponential one (160 buckets, scale
            // 20: the specification's defaults; advisory explicit buckets do
            // not apply to that aggregation), and a configuration file's
            // reader cardinality limits apply by instrument kind.
            let views = config.metric_views.clone();
            let exponential = config.metrics.exponential_histograms;
            meter_builder =
                meter_builder.with_view(move |i: &opentelemetry_sdk::metrics::Instrument| {
                    if views.iter().any(|v| v.matches(i)) {
                        return None;
                    }
                    let histogram = exponential
                        && i.kind() == opentelemetry_sdk::metrics::InstrumentKind::Histogram;
                    let limit = limits.for_kind(i.kind());
                    if !histogram && limit.is_none() {
                        return None;
                    }
                    let mut stream = opentelemetry_sdk::metrics::Stream::builder();
                    if histogram {
                        stream = stream.with_aggregation(
                            opentelemetry_sdk::metrics::Aggregation::Base2ExponentialHistogram {
                                max_size: 160,
                                max_scale: 20,
                                record_min_max: true,
                            },
                        );
                    }
                    if let Some(limit) = limit {
                        stream = stream.with_cardinality_limit(limit);
                    }
                    stream.build().ok()
                });
        }
        for view in config.metric_views.clone() {
            meter_builder =
                meter_builder.with_view(move |i: &opentelemetry_sdk::metrics::Instrument| {
                    if !view.matches(i) {
                        return None;
                    }
                    match (view.cardinality_limit, limits.for_kind(i.kind())) {
                        (None, Some(limit)) => {
                            let mut v = view.clone();
                            v.cardinality_limit = Some(limit);
                            v.stream()
                        }
                        _ => view.stream(),
                    }
                });
        }
        let mut logger_builder = SdkLoggerProvider::builder().with_resource(resource.clone());
        #[cfg(feature = "prometheus")]
        let mut prometheus = None;

        if !config.sdk_disabled {
            for kind in &traces {
                if let Some(p) = span_processor(
                    *kind,
                    &config,
                    &rt,
                    &mut diag,
                    &mut span_pipelines,
                    &mut sdk_metrics,
                )? {
                    tracer_builder = match config.limits.span_attribute_value_length {
                        Some(max) => {
                            tracer_builder.with_span_processor(ValueLengthLimit { inner: p, max })
                        }
                        None => tracer_builder.with_span_processor(p),
                    };
                    installed.0.push(kind.as_str());
                }
            }
            for (name, add) in self.span_exporters {
                let p = add(&config, &rt, &mut span_pipelines, &mut sdk_metrics)?;
                installed.0.push(name);
                tracer_builder = match config.limits.span_attribute_value_length {
                    Some(max) => {
                        tracer_builder.with_span_processor(ValueLengthLimit { inner: p, max })
                    }
                    None => tracer_builder.with_span_processor(p),
                };
            }
            for p in self.span_processors {
                tracer_builder = match config.limits.span_attribute_value_length {
                    Some(max) => tracer_builder.with_span_processor(ValueLengthLimit {
                        inner: BoxedProcessor(p),
                        max,
                    }),
                    None => tracer_builder.with_span_processor(BoxedProcessor(p)),
                };
            }
            for kind in &metrics {
                match kind {
                    ExporterKind::Console => {
                        let exporter = crate::export::ConsoleMetricExporter::new();
                        let component = exporter_type(Signal::Metrics, *kind, &config);
                        meter_builder = meter_builder.with_reader(periodic(
                            exporter,
                            &config,
                            &rt,
                            &mut sdk_metrics,
                            component,
                        ));
                        installed.1.push(kind.as_str());
                    }
                    #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
                    ExporterKind::Otlp => {
                        match super::otlp::metric_exporter(
                            &config.otlp_metrics,
                            config.metrics.temporality,
                            &rt,
                            &mut diag,
                        ) {
                            Ok(exporter) => {
                                let component = exporter_type(Signal::Metrics, *kind, &config);
                                meter_builder = meter_builder.with_reader(periodic(
                                    exporter,
                                    &config,
                                    &rt,
                                    &mut sdk_metrics,
                                    component,
                                ));
                                installed.1.push(kind.as_str());
                            }
                            Err(e) => exporter_failed(&mut diag, Signal::Metrics, &config, e),
                        }
                    }
                    #[cfg(feature = "prometheus")]
                    ExporterKind::Prometheus => {
                        match super::prometheus::PrometheusEndpoint::start(&config.prometheus, &rt)
                        {
                            Ok((reader, endpoint)) => {
                                meter_builder = meter_builder.with_reader(reader);
                                prometheus = Some(endpoint);
                                installed.1.push(kind.as_str());
                            }
                            Err(e) => diag.push(
                                "OTEL_EXPORTER_PROMETHEUS_HOST/PORT",
                                format!("{}:{}", config.prometheus.host, config.prometheus.port),
                                e,
                                "no Prometheus endpoint",
                            ),
                        }
                    }
                    #[allow(unreachable_patterns)]
                    other => missing_feature(&mut diag, "OTEL_METRICS_EXPORTER", *other),
                }
            }
            for (name, add) in self.metric_exporters {
                meter_builder = add(meter_builder, &config, &rt, &mut sdk_metrics);
                installed.1.push(name);
            }
            for kind in &logs {
                match kind {
                    ExporterKind::Console => {
                        let exporter = crate::export::ConsoleLogExporter::new();
                        let component = exporter_type(Signal::Logs, *kind, &config);
                        logger_builder = logger_builder.with_log_processor(batch_logs(
                            exporter,
                            &config,
                            &rt,
                            &mut sdk_metrics,
                            component,
                        ));
                        installed.2.push(kind.as_str());
                    }
                    #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
                    ExporterKind::Otlp => {
                        match super::otlp::log_exporter(&config.otlp_logs, &rt, &mut diag) {
                            Ok(exporter) => {
                                let component = exporter_type(Signal::Logs, *kind, &config);
                                logger_builder = logger_builder.with_log_processor(batch_logs(
                                    exporter,
                                    &config,
                                    &rt,
                                    &mut sdk_metrics,
                                    component,
                                ));
                                installed.2.push(kind.as_str());
                            }
                            Err(e) => exporter_failed(&mut diag, Signal::Logs, &config, e),
                        }
                    }
                    #[allow(unreachable_patterns)]
                    other => missing_feature(&mut diag, "OTEL_LOGS_EXPORTER", *other),
                }
            }
        }

        if self.strict && !diag.is_empty() {
            return Err(SetupError::InvalidConfiguration(diag));
        }

        let tracer_provider = tracer_builder.build();
        let meter_provider = meter_builder.build();
        sdk_metrics.register(&meter_provider);
        if !config.sdk_disabled {
            runtime_metrics.register(&meter_provider);
        }
        let logger_provider = logger_builder.build();
        #[cfg(feature = "tracing")]
        if let Some(options) = self.tracing
            && let Err(e) =
                crate::tracing_bridge::install(options, &tracer_provider, &logger_provider)
        {
            diag.push(
                "tracing",
                "subscriber",
                e,
                "the tracing bridge was not installed",
            );
            if self.strict {
                return Err(SetupError::InvalidConfiguration(diag));
            }
        }

        // Global side effects last, once nothing can fail any more.
        config::set_semconv_stability(config.semconv);
        if self.install_global {
            opentelemetry::global::set_text_map_propagator(SharedPropagator(propagator.clone()));
            if !config.sdk_disabled {
                opentelemetry::global::set_tracer_provider(tracer_provider.clone());
                opentelemetry::global::set_meter_provider(meter_provider.clone());
                // Exceptions as log records need somewhere to go: with no
                // log exporter, layers keep recording span events.
                if !installed.2.is_empty() {
                    crate::instrument::set_global_logger_provider(logger_provider.clone());
                }
            }
        }

        if config.log_level >= LogLevel::Warn {
            for d in &diag {
                eprintln!("otel-kit-core: warning: {d}");
            }
        }

        let shutdown_timeout = self.shutdown_timeout.unwrap_or_else(|| {
            let mut longest = Duration::from_secs(1);
            for (signal, kinds) in [
                (Signal::Traces, &traces),
                (Signal::Metrics, &metrics),
                (Signal::Logs, &logs),
            ] {
                if kinds.contains(&ExporterKind::Otlp) {
                    longest = longest.max(config.otlp(signal).timeout);
                }
            }
            (longest + Duration::from_secs(1)).min(Duration::from_secs(60))
        });

        let report = SetupReport {
            config,
            diagnostics: diag,
            resource,
            traces: installed.0,
            metrics: installed.1,
            logs: installed.2,
            sampler: sampler_text,
            sources,
            config_file: file_name.filter(|_| file_used),
            ignored_variables,
        };
        Ok(Telemetry {
            propagator,
            tracer_provider,
            meter_provider,
            logger_provider,
            report,
            shutdown_timeout,
            runtime: Some(runtime),
            span_pipelines,
            #[cfg(feature = "prometheus")]
            prometheus,
            done: false,
        })
    }

    fn build_resource(
        &self,
        config: &Config,
        env: &Environment,
        diag: &mut Diagnostics,
    ) -> Resource {
        super::compose::resource(
            config,
            env,
            config.resource_detection.unwrap_or(self.detection),
            self.default_resource.clone(),
            self.forced_resource.clone(),
            diag,
        )
    }
}

/// Installs one [`TelemetryBuilder::with_span_exporter`] exporter.
type SpanExporterHook = dyn FnOnce(
    &Config,
    &RuntimeHandle,
    &mut Vec<Arc<SpanPipeline>>,
    &mut crate::sdk_metrics::SdkMetrics,
) -> Result<BoxedProcessor, SetupError>;

/// Adds a user's metric exporter once the configuration and runtime exist.
type MetricExporterHook = dyn FnOnce(
    opentelemetry_sdk::metrics::MeterProviderBuilder,
    &Config,
    &RuntimeHandle,
    &mut crate::sdk_metrics::SdkMetrics,
) -> opentelemetry_sdk::metrics::MeterProviderBuilder;

/// `otel.component.type` of a `kind` exporter of `signal` in this setup.
fn exporter_type(
    signal: Signal,
    kind: ExporterKind,
    config: &Config,
) -> std::borrow::Cow<'static, str> {
    crate::sdk_metrics::exporter_type(signal, kind, config.otlp(signal).protocol)
}

/// The setup's propagator, shared between the global registry and
/// [`Telemetry::propagator`].
#[derive(Debug)]
struct SharedPropagator(std::sync::Arc<dyn TextMapPropagator + Send + Sync>);

impl TextMapPropagator for SharedPropagator {
    fn inject_context(
        &self,
        cx: &opentelemetry::Context,
        injector: &mut dyn opentelemetry::propagation::Injector,
    ) {
        self.0.inject_context(cx, injector)
    }
    fn extract_with_context(
        &self,
        cx: &opentelemetry::Context,
        extractor: &dyn opentelemetry::propagation::Extractor,
    ) -> opentelemetry::Context {
        self.0.extract_with_context(cx, extractor)
    }
    fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
        self.0.fields()
    }
}

/// A boxed processor, so user processors can be added after the typed ones.
#[derive(Debug)]
struct BoxedProcessor(Box<dyn SpanProcessor>);

impl SpanProcessor for BoxedProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx)
    }
    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        self.0.on_end(span)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource)
    }
}

/// The span pipeline of one exporter: its losses are reported on stderr
/// unless `OTEL_LOG_LEVEL` is below `warn`.
fn span_pipeline(kind: ExporterKind, config: &Config) -> Arc<SpanPipeline> {
    let report = (config.log_level >= LogLevel::Warn).then(super::span_pipeline::stderr_reporter);
    let b = &config.span_batch;
    SpanPipeline::with_setting(kind.as_str(), b.max_queue_size, b.queue_setting, report)
}

/// The span processor of one exporter: otel-kit-core's batch processor, or
/// the SDK's simple one behind the queue limit when the configuration file
/// asks for it. `ordered` exporters (the console) export one batch at a time.
fn batch_spans<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
    exporter: E,
    config: &Config,
    rt: &RuntimeHandle,
    pipeline: Arc<SpanPipeline>,
    ordered: bool,
) -> Result<BoxedProcessor, SetupError> {
    let b = &config.span_batch;
    let exporter = CountedExporter {
        inner: OnExportRuntime::new(exporter, rt.clone(), b.export_timeout),
        pipeline: pipeline.clone(),
    };
    Ok(BoxedProcessor(match config.span_processor {
        config::ProcessorKind::Simple => Box::new(QueueLimit {
            inner: opentelemetry_sdk::trace::SimpleSpanProcessor::new(exporter),
            pipeline,
        }),
        config::ProcessorKind::Batch => {
            let concurrent = if ordered { 1 } else { b.max_concurrent_exports };
            Box::new(
                BatchExport::new(exporter, b, concurrent, rt.clone(), pipeline)
                    .map_err(SetupError::Runtime)?,
            )
        }
    }))
}

/// The log processor of one exporter: batch, or simple when the
/// configuration file asks for it.
fn batch_logs<E: opentelemetry_sdk::logs::LogExporter + 'static>(
    exporter: E,
    config: &Config,
    rt: &RuntimeHandle,
    sdk_metrics: &mut crate::sdk_metrics::SdkMetrics,
    component: std::borrow::Cow<'static, str>,
) -> crate::sdk_metrics::LogQueueLimit<
    LogProcessorKind<
        crate::sdk_metrics::Released<crate::sdk_metrics::Observed<OnExportRuntime<E>>>,
    >,
> {
    use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SimpleLogProcessor};
    let b = &config.log_batch;
    let exporter = OnExportRuntime::new(exporter, rt.clone(), b.export_timeout);
    let exporter = sdk_metrics.observe(Signal::Logs, component, exporter);
    let queue = sdk_metrics.log_queue(b.max_queue_size);
    let exporter = crate::sdk_metrics::Released {
        inner: exporter,
        queue: queue.clone(),
    };
    let inner = match config.log_processor {
        config::ProcessorKind::Simple => {
            LogProcessorKind::Simple(SimpleLogProcessor::new(exporter))
        }
        config::ProcessorKind::Batch => LogProcessorKind::Batch(
            BatchLogProcessor::builder(exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_max_queue_size(b.max_queue_size)
                        .with_max_export_batch_size(b.max_export_batch_size)
                        .with_scheduled_delay(b.schedule_delay)
                        .build(),
                )
                .build(),
        ),
    };
    crate::sdk_metrics::LogQueueLimit { inner, queue }
}

/// A batch or a simple log processor.
#[derive(Debug)]
enum LogProcessorKind<E: opentelemetry_sdk::logs::LogExporter> {
    Batch(opentelemetry_sdk::logs::BatchLogProcessor),
    Simple(opentelemetry_sdk::logs::SimpleLogProcessor<E>),
}

impl<E: opentelemetry_sdk::logs::LogExporter> opentelemetry_sdk::logs::LogProcessor
    for LogProcessorKind<E>
{
    fn emit(
        &self,
        record: &mut opentelemetry_sdk::logs::SdkLogRecord,
        scope: &opentelemetry::InstrumentationScope,
    ) {
        match self {
            Self::Batch(p) => p.emit(record, scope),
            Self::Simple(p) => p.emit(record, scope),
        }
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            Self::Batch(p) => p.force_flush(),
            Self::Simple(p) => p.force_flush(),
        }
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            Self::Batch(p) => p.shutdown_with_timeout(timeout),
            Self::Simple(p) => p.shutdown_with_timeout(timeout),
        }
    }
    fn event_enabled(
        &self,
        level: opentelemetry::logs::Severity,
        target: &str,
        name: Option<&str>,
    ) -> bool {
        match self {
            Self::Batch(p) => p.event_enabled(level, target, name),
            Self::Simple(p) => p.event_enabled(level, target, name),
        }
    }
    fn set_resource(&mut self, resource: &Resource) {
        match self {
            Self::Batch(p) => p.set_resource(resource),
            Self::Simple(p) => p.set_resource(resource),
        }
    }
}

fn periodic<E: opentelemetry_sdk::metrics::exporter::PushMetricExporter>(
    exporter: E,
    config: &Config,
    rt: &RuntimeHandle,
    sdk_metrics: &mut crate::sdk_metrics::SdkMetrics,
    component: std::borrow::Cow<'static, str>,
) -> opentelemetry_sdk::metrics::PeriodicReader<crate::sdk_metrics::Observed<OnExportRuntime<E>>> {
    let exporter = OnExportRuntime::new(exporter, rt.clone(), config.metrics.export_timeout);
    let exporter = sdk_metrics.observe(Signal::Metrics, component, exporter);
    opentelemetry_sdk::metrics::PeriodicReader::builder(exporter)
        .with_interval(config.metrics.export_interval)
        .build()
}

fn span_processor(
    kind: ExporterKind,
    config: &Config,
    rt: &RuntimeHandle,
    diag: &mut Diagnostics,
    pipelines: &mut Vec<Arc<SpanPipeline>>,
    sdk_metrics: &mut crate::sdk_metrics::SdkMetrics,
) -> Result<Option<BoxedProcessor>, SetupError> {
    let pipeline = span_pipeline(kind, config);
    let processor = match kind {
        ExporterKind::Console => Some(batch_spans(
            crate::export::ConsoleSpanExporter::new(),
            config,
            rt,
            pipeline.clone(),
            true,
        )?),
        #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
        ExporterKind::Otlp => {
            match super::otlp::span_exporter(&config.otlp_traces, rt, diag, &pipeline) {
                Ok(exporter) => Some(batch_spans(exporter, config, rt, pipeline.clone(), false)?),
                Err(e) => {
                    exporter_failed(diag, Signal::Traces, config, e);
                    None
                }
            }
        }
        #[allow(unreachable_patterns)]
        other => {
            missing_feature(diag, "OTEL_TRACES_EXPORTER", other);
            None
        }
    };
    if processor.is_some() {
        sdk_metrics.span_pipeline(&pipeline, exporter_type(Signal::Traces, kind, config));
        pipelines.push(pipeline);
    }
    Ok(processor)
}

#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
fn exporter_failed(
    diag: &mut Diagnostics,
    signal: Signal,
    config: &Config,
    error: super::otlp::ExporterError,
) {
    let error = match error {
        // Already reported, naming the protocol variable and the feature.
        super::otlp::ExporterError::TransportMissing => return,
        super::otlp::ExporterError::Build(e) => e,
    };
    diag.push(
        format!("OTEL_EXPORTER_OTLP_[{}_]ENDPOINT", signal.env_infix()),
        config::redact_userinfo(&config.otlp(signal).endpoint).into_owned(),
        format!("cannot build the OTLP {signal} exporter: {error}"),
        format!("{signal} are not exported"),
    );
}

/// An exporter named by `var` whose cargo feature is off.
#[cfg_attr(
    all(feature = "otlp-grpc", feature = "otlp-http", feature = "prometheus"),
    allow(dead_code, reason = "every exporter is compiled in")
)]
fn missing_feature(diag: &mut Diagnostics, var: &str, kind: ExporterKind) {
    let feature = match kind {
        ExporterKind::Otlp => "an OTLP cargo feature (`otlp`, `otlp-grpc` or `otlp-http`)",
        ExporterKind::Prometheus => "its `prometheus` cargo feature",
        _ => "the feature this exporter needs",
    };
    diag.push(
        var,
        kind.as_str(),
        format!("otel-kit-core was built without {feature}"),
        "exporter skipped",
    );
}
