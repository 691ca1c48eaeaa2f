//! The names of the `OTEL_*` environment variables this crate reads.
//!
//! Deployment files (Kubernetes manifests, compose files, CI settings) name
//! variables by hand; a misspelt one (`OTEL_TRACE_SAMPLER`) is silently
//! ignored by every SDK. [`KNOWN_VARIABLES`] lists exactly the variables that
//! [`Config::from_env`](super::Config::from_env) and the resource setup read,
//! so a tool or a test can reject a name this crate would never look at.
//!
//! The list is kept equal to what the parser reads by a unit test that runs
//! the parser over an [`Environment`](super::Environment) recording every
//! lookup: a variable read but missing here, or listed here but never read,
//! fails that test.

/// Every `OTEL_*` environment variable otel-kit-core reads, sorted by name.
///
/// Per-signal OTLP variables are listed one by one
/// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `…_METRICS_…`, `…_LOGS_…`).
/// `OTEL_CONFIG_FILE` (or its former name `OTEL_EXPERIMENTAL_CONFIG_FILE`)
/// names a declarative configuration file (feature `config-file`); the variables of
/// the log-record limits and `OTEL_METRICS_EXEMPLAR_FILTER` are read to
/// report values the SDK cannot honour.
///
/// ```
/// use otel_kit_core::config::{KNOWN_VARIABLES, is_known_variable};
///
/// assert!(is_known_variable("OTEL_TRACES_SAMPLER"));
/// assert!(!is_known_variable("OTEL_TRACE_SAMPLER")); // misspelt: no SDK reads it
/// assert!(KNOWN_VARIABLES.windows(2).all(|w| w[0] < w[1]));
/// ```
pub const KNOWN_VARIABLES: &[&str] = &[
    "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_BLRP_EXPORT_TIMEOUT",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    "OTEL_BLRP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_CONFIG_FILE",
    "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_EXPERIMENTAL_CONFIG_FILE",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_INSECURE",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_INSECURE",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_PROMETHEUS_HOST",
    "OTEL_EXPORTER_PROMETHEUS_PORT",
    "OTEL_KIT_RUNTIME_METRICS",
    "OTEL_KIT_SDK_METRICS",
    "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_LOGS_EXPORTER",
    "OTEL_LOG_LEVEL",
    "OTEL_METRICS_EXEMPLAR_FILTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_METRIC_EXPORT_TIMEOUT",
    "OTEL_PROPAGATORS",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN",
    "OTEL_SEMCONV_STABILITY_OPT_IN",
    "OTEL_SERVICE_NAME",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
];

/// Whether otel-kit-core reads the environment variable `name` (exact,
/// case-sensitive match against [`KNOWN_VARIABLES`]).
pub fn is_known_variable(name: &str) -> bool {
    KNOWN_VARIABLES.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Environment, ExporterKind};
    use std::collections::BTreeSet;

    /// The `OTEL_*` names the whole setup path looks up in `env`: the
    /// configuration parser plus what `Telemetry::install` reads beyond it
    /// (resource, sampler, propagators).
    fn names_read(env: Environment) -> BTreeSet<String> {
        let (env, log) = env.recording();
        let _ = Config::from_env(&env);
        let telemetry = crate::Telemetry::builder()
            .environment(env)
            .traces_exporter(&[ExporterKind::Console])
            .metrics_exporter(&[])
            .logs_exporter(&[])
            .install_global(false)
            .install()
            .expect("setup with a console exporter");
        drop(telemetry);
        let read = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        read.into_iter()
            .filter(|n| n.starts_with("OTEL_"))
            .collect()
    }

    #[test]
    fn the_list_is_sorted_without_duplicates() {
        assert!(
            KNOWN_VARIABLES.windows(2).all(|w| w[0] < w[1]),
            "KNOWN_VARIABLES must be sorted and unique (is_known_variable searches it)"
        );
    }

    #[test]
    fn the_list_is_exactly_what_the_parser_reads() {
        // Unset, every fallback is looked up too (per-signal then general,
        // specific limit then general limit, new config-file name then old).
        let read = names_read(Environment::default());
        let known: BTreeSet<String> = KNOWN_VARIABLES.iter().map(|s| s.to_string()).collect();
        let unlisted: Vec<_> = read.difference(&known).collect();
        assert!(
            unlisted.is_empty(),
            "read by the parser but missing from KNOWN_VARIABLES: {unlisted:?}"
        );
        let never_read: Vec<_> = known.difference(&read).collect();
        assert!(
            never_read.is_empty(),
            "listed in KNOWN_VARIABLES but never read: {never_read:?}"
        );
    }

    #[test]
    fn setting_variables_reveals_no_further_reads() {
        // A branch taken only when a variable has a value must not read a
        // name the list does not have either.
        // (Not the file names: a file replaces every other variable.)
        let env = Environment::from_pairs(
            KNOWN_VARIABLES
                .iter()
                .filter(|v| !v.ends_with("CONFIG_FILE"))
                .map(|v| (*v, "1")),
        );
        let read = names_read(env);
        let unlisted: Vec<_> = read.iter().filter(|n| !is_known_variable(n)).collect();
        assert!(
            unlisted.is_empty(),
            "read with every variable set but missing from KNOWN_VARIABLES: {unlisted:?}"
        );
        assert!(is_known_variable("OTEL_SERVICE_NAME"));
        assert!(!is_known_variable("OTEL_TRACE_SAMPLER"));
        assert!(!is_known_variable("otel_service_name"));
    }
}
