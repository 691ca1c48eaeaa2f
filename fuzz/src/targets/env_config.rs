//! The full `OTEL_*` environment parse (`Config::from_env`), with
//! `OTEL_EXPORTER_OTLP_HEADERS` and its per-signal variants parsed, over
//! arbitrary values: never panics, and no diagnostic or `Debug` output
//! echoes an OTLP header value (they hold API keys).
//!
//! Input: one variable per line; the first byte picks the variable name
//! from the list below, the rest of the line is its value.

use otel_kit_core::config::{Config, Environment, Signal};

const NAMES: &[&str] = &[
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SERVICE_NAME",
    "OTEL_PROPAGATORS",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_METRIC_EXPORT_TIMEOUT",
    "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT",
    "OTEL_EXPORTER_PROMETHEUS_HOST",
    "OTEL_EXPORTER_PROMETHEUS_PORT",
    "OTEL_SDK_DISABLED",
    "OTEL_LOG_LEVEL",
    "OTEL_SEMCONV_STABILITY_OPT_IN",
    "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN",
    "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS",
];

/// The variables holding OTLP headers (index into `NAMES`).
const HEADER_VARIABLES: usize = 4;

/// The `env_config` fuzz target's body (`fuzz_targets/env_config.rs`, replayed over
/// `seeds/env_config/` by the workspace test `tests/tests/fuzz_seeds.rs`).
pub fn env_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pairs: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| {
            let first = *line.as_bytes().first()?;
            let name = NAMES[usize::from(first) % NAMES.len()];
            Some((name, line.get(1..).unwrap_or_default()))
        })
        .collect();
    let env = Environment::from_pairs(pairs.iter().copied());
    let (config, diagnostics) = Config::from_env(&env);
    let shown = format!("{config:?} {diagnostics:?}");

    // Text that may legitimately be shown and so may contain a header value
    // by coincidence: the variable names, the values of the other variables
    // (service name, endpoints, ...), the header names, and everything the
    // configuration shows when every header value is empty (its structure,
    // redaction markers, diagnostics about names and members), plus the
    // diagnostics a bad value gets (`{name}=<redacted>`, `member {n}: ...`).
    let is_header = |name: &str| NAMES[..HEADER_VARIABLES].contains(&name);
    let stripped: Vec<(&str, String)> = pairs
        .iter()
        .map(|&(name, value)| {
            if !is_header(name) {
                return (name, value.to_owned());
            }
            let members: Vec<&str> = value
                .split(',')
                .map(|m| m.split_once('=').map_or(m, |(k, _)| k))
                .collect();
            // `k=` keeps the member's shape without its value.
            let shaped = value
                .split(',')
                .zip(members)
                .map(|(m, k)| {
                    if m.contains('=') {
                        format!("{k}=")
                    } else {
                        k.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(",");
            (name, shaped)
        })
        .collect();
    let (base_config, base_diagnostics) = Config::from_env(&Environment::from_pairs(
        stripped.iter().map(|(n, v)| (*n, v.as_str())),
    ));
    let mut public = format!("{NAMES:?} {base_config:?} {base_diagnostics:?}\n");
    for &(name, value) in &pairs {
        if !is_header(name) {
            public.push_str(value);
            public.push('\n');
            continue;
        }
        for (n, member) in value.split(',').enumerate() {
            if let Some((key, _)) = member.split_once('=') {
                public.push_str(&format!("{}=<redacted>\n", key.trim()));
            }
            for what in [
                "the value is not a valid header value",
                "invalid percent-encoding",
            ] {
                public.push_str(&format!("member {}: {what}\n", n + 1));
            }
        }
    }
    // Each header list is shown as `[name=<redacted>, ...]` (the names are
    // not secret): a value that is a piece of that text (`[name=`) is not a
    // leak.
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        let names: Vec<String> = config
            .otlp(signal)
            .headers
            .iter()
            .map(|(k, _)| format!("{k}=<redacted>"))
            .collect();
        public.push_str(&format!("[{}]\n", names.join(", ")));
    }
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        for (_, value) in &config.otlp(signal).headers {
            // Short values can occur in the output by coincidence (a "1" in
            // a timeout); a distinctive one must not.
            if value.len() >= 12 && !value.trim().is_empty() && !public.contains(value.as_str()) {
                assert!(
                    !shown.contains(value.as_str()),
                    "header value {value:?} leaked"
                );
            }
        }
    }
}
