//! The declarative configuration file (`OTEL_CONFIG_FILE`): YAML of the
//! [opentelemetry-configuration](https://github.com/open-telemetry/opentelemetry-configuration)
//! file format 1.0 / 1.1 (feature `config-file`, on by default).
//!
//! Setup reads it when `OTEL_CONFIG_FILE` names it or the code gives it
//! ([`TelemetryBuilder::config_file`](crate::TelemetryBuilder::config_file)).
//! As the specification says, the other `OTEL_*` variables are then ignored
//! (the report lists them), except through `${VAR}` substitution in the
//! file. The file is translated into the same [`Config`] the environment
//! produces, so both paths share one setup and one validation.
//!
//! - **Substitution**: `${NAME}`, `${env:NAME}`, `${NAME:-default}` in
//!   values (never in keys), `$$` for `$`, applied to each scalar after
//!   parsing so no value can inject YAML structure; an unquoted scalar is
//!   then typed (`${PORT}` is an integer), a quoted one stays a string.
//! - **Errors that stop setup** ([`FileError`]): an unreadable file, YAML
//!   that does not parse (with line and column), an invalid reference such
//!   as `${X:?required}`, a missing or unknown `file_format`.
//! - **Diagnostics** name the YAML path: a bad value
//!   (`tracer_provider.processors[0].batch.exporter.otlp_http.endpoint="htp:/x":
//!   not an http:// or https:// URL`), an unknown field, and every field of
//!   the schema this crate does not honour (one warning each; an error in
//!   strict mode).
//!
//! Supported: `disabled`, `log_level`, `attribute_limits`, `resource`
//! (`attributes`, `attributes_list`, detectors `service`, `host`,
//! `process`, `container`, and `kubernetes` as an extension), `propagator`
//! (`tracecontext`, `baggage`, `b3`, `b3multi`; `jaeger` and `mesh`
//! header forwarding as extensions), `tracer_provider` (`batch` and `simple` processors;
//! `otlp_http`, `otlp_grpc`, `console` exporters with endpoint, headers,
//! compression, timeout, encoding and TLS files; samplers `always_on`,
//! `always_off`, `trace_id_ratio_based`, `parent_based` with its five
//! branches, and the extensions `rate_limiting: {per_second: N}` and
//! `rules: {rules: [...]}`; span limits), `meter_provider` (`periodic`
//! readers with OTLP or console exporters, temporality and default
//! histogram aggregation; a `pull` reader with `prometheus/development`
//! host and port; views with stream name, description, aggregation,
//! cardinality limit and kept attribute keys), `logger_provider` (as
//! traces), and `instrumentation/development.general.stability_opt_in_list`.
//! The readers' `cardinality_limits` apply to every reader (the SDK sets
//! them per provider): readers that differ are reported. Not supported:
//! exemplar filters other than
//! `trace_based` (opentelemetry_sdk 0.33 has no exemplar setting), excluded
//! attribute keys, a second OTLP exporter for one signal.
//!
//! ```
//! use otel_kit_core::config::Environment;
//! use otel_kit_core::config::file::FileSettings;
//!
//! let yaml = r#"
//! file_format: "1.1"
//! resource:
//!   attributes:
//!     - name: service.name
//!       value: ${SERVICE:-checkout}
//! tracer_provider:
//!   processors:
//!     - batch:
//!         exporter:
//!           otlp_grpc:
//!             endpoint: http://collector:4317
//!   sampler:
//!     parent_based:
//!       root:
//!         trace_id_ratio_based:
//!           ratio: 0.25
//! "#;
//! let env = Environment::from_pairs([("SERVICE", "payments")]);
//! let file = FileSettings::parse(yaml, "otel.yaml", &env)?;
//! let (config, diagnostics) = file.config();
//! assert!(diagnostics.is_empty(), "{diagnostics}");
//! assert_eq!(config.otlp_traces.endpoint, "http://collector:4317");
//! assert_eq!(
//!     config.sampler_spec.as_ref().map(|s| s.to_string()).as_deref(),
//!     Some("parentbased_traceidratio(0.25) + force-keep"),
//! );
//! # Ok::<(), otel_kit_core::config::file::FileError>(())
//! ```

mod diagnostics;
mod exporter;
mod general;
mod logger_provider;
mod meter_provider;
mod node;
mod processors;
mod propagator;
mod resource;
mod sampler;
mod substitute;
mod tracer_provider;
mod translate;
mod views;

pub use diagnostics::FileError;

use super::{Config, Diagnostics, Environment, ProcessorKind};
use crate::resource::ResourceDetection;
use crate::sampling::SamplerSpec;
use node::Node;
use opentelemetry::KeyValue;
use std::path::{Path, PathBuf};

/// A configuration file, read and translated: the variables it stands for,
/// what no variable can say, and every problem found (by YAML path).
#[derive(Clone, Debug)]
pub struct FileSettings {
    path: PathBuf,
    environment: Environment,
    renames: Vec<(String, String)>,
    diagnostics: Diagnostics,
    sampler: Option<SamplerSpec>,
    resource: Vec<KeyValue>,
    detection: ResourceDetection,
    span_processor: ProcessorKind,
    log_processor: ProcessorKind,
    views: Vec<super::MetricView>,
    mesh: super::MeshSettings,
    cardinality_limits: super::CardinalityLimits,
    paths: Vec<String>,
}

impl FileSettings {
    /// Reads and translates the file at `path`, substituting from `env`
    /// (non-`OTEL_*` variables of `env` are kept for resource detection).
    pub fn load(path: impl AsRef<Path>, env: &Environment) -> Result<Self, FileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, env)
    }

    /// Translates `text`; `path` only names the file in messages.
    pub fn parse(text: &str, path: impl AsRef<Path>, env: &Environment) -> Result<Self, FileError> {
        let path = path.as_ref().to_owned();
        let tree = node::parse(text).map_err(|e| {
            let loc = e.location();
            FileError::Parse {
                path: path.clone(),
                line: loc.as_ref().map(|l| l.line()),
                column: loc.as_ref().map(|l| l.column()),
                message: e.to_string(),
            }
        })?;
        let tree =
            substitute::substitute_tree(tree, env, "").map_err(|(yaml_path, offset, e)| {
                FileError::Substitution {
                    path: path.clone(),
                    yaml_path,
                    line: offset.map(|o| node::line_column(text, o).0),
                    reference: e.reference,
                }
            })?;
        let Node::Map(entries) = &tree else {
            return Err(FileError::FileFormat { path, value: None });
        };
        let format = entries
            .iter()
            .find(|(k, _)| k == "file_format")
            .and_then(|(_, n)| n.scalar_text());
        match format.as_deref() {
            Some(v) if v == "1" || v.starts_with("1.") => {}
            _ => {
                return Err(FileError::FileFormat {
                    path,
                    value: format,
                });
            }
        }
        let mut t = translate::Translation::new(env);
        let minor = format.as_deref().and_then(|v| {
            let rest = v.strip_prefix("1.")?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        });
        if minor.is_some_and(|m| m > 1) {
            t.diag.push(
                "file_format",
                format.clone().unwrap_or_default(),
                "newer than 1.1, the newest format this crate knows",
                "read as 1.1: newer fields are reported as unknown",
            );
        }
        general::document(&mut t, entries);

        let mut environment = env.without_otel();
        let mut renames = Vec::new();
        let mut paths = t.used;
        for (var, value, yaml_path) in t.vars {
            environment.set(var.clone(), value);
            if !paths.contains(&yaml_path) {
                paths.push(yaml_path.clone());
            }
            renames.push((var, yaml_path));
        }
        Ok(Self {
            path,
            environment,
            renames,
            diagnostics: t.diag,
            sampler: t.sampler,
            resource: t.resource,
            detection: t.detection,
            span_processor: t.span_processor,
            log_processor: t.log_processor,
            views: t.views,
            mesh: t.mesh,
            cardinality_limits: t.cardinality_limits.map(|(l, _)| l).unwrap_or_default(),
            paths,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The problems found while translating (each names its YAML path);
    /// [`FileSettings::config`] adds those of the values themselves.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diagnostics
    }

    /// The YAML paths that set something, in file order.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The environment the file stands for: the deployment's non-`OTEL_*`
    /// variables plus the `OTEL_*` variables of the file's settings.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// The effective configuration and every problem, named by YAML path.
    pub fn config(&self) -> (Config, Diagnostics) {
        let (mut config, mut diag) = Config::from_env(&self.environment);
        self.complete(&mut config);
        self.rename(&mut diag);
        let mut all = self.diagnostics.clone();
        all.extend(diag);
        (config, all)
    }

    /// Adds to `config` what no variable can say.
    pub(crate) fn complete(&self, config: &mut Config) {
        config.sampler_spec = self.sampler.clone();
        config.resource = self.resource.clone();
        config.resource_detection = Some(self.detection);
        config.span_processor = self.span_processor;
        config.log_processor = self.log_processor;
        config.metric_views = self.views.clone();
        config.mesh = self.mesh.clone();
        config.cardinality_limits = self.cardinality_limits;
        // The variables are ignored: name the file's fields in messages.
        config.span_batch.queue_setting = "tracer_provider.processors[].batch.max_queue_size";
        config.log_batch.queue_setting = "logger_provider.processors[].batch.max_queue_size";
    }

    /// Names the file's fields instead of the variables they stand for.
    pub(crate) fn rename(&self, diag: &mut Diagnostics) {
        diag.rename(&self.renames);
    }
}

#[cfg(test)]
mod tests;
