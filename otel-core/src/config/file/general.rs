//! The top level of a file: `disabled`, `log_level`, `attribute_limits`,
//! `instrumentation/development` (semantic-convention opt-ins) and the
//! dispatch to each section.

use super::diagnostics::join;
use super::node::Node;
use super::translate::Translation;

/// Translates the whole document (a mapping; `file_format` is checked by the caller).
pub(crate) fn document(t: &mut Translation<'_>, entries: &[(String, Node)]) {
    let [
        _file_format,
        disabled,
        log_level,
        attribute_limits,
        resource,
        propagator,
        tracer_provider,
        meter_provider,
        logger_provider,
        instrumentation,
        distribution,
    ] = t.fields(
        entries,
        "",
        [
            "file_format",
            "disabled",
            "log_level",
            "attribute_limits",
            "resource",
            "propagator",
            "tracer_provider",
            "meter_provider",
            "logger_provider",
            "instrumentation/development",
            "distribution",
        ],
    );
    if let Some(b) = disabled.and_then(|n| t.boolean(n, "disabled")) {
        t.set("OTEL_SDK_DISABLED", b.to_string(), "disabled");
    }
    if let Some(node) = log_level
        && let Some(level) = t.string(node, "log_level")
    {
        let value = match level.as_str() {
            "trace" | "debug" => Some("debug"),
            "info" => Some("info"),
            "warn" => Some("warn"),
            "error" | "fatal" => Some("error"),
            _ => None,
        };
        match value {
            Some(v) => t.set("OTEL_LOG_LEVEL", v, "log_level"),
            None => t.invalid(
                "log_level",
                node,
                "unknown level (trace, debug, info, warn, error, fatal)",
                "using info",
            ),
        }
    }
    if let Some(node) = attribute_limits {
        limits(t, node);
    }
    super::resource::resource(t, resource);
    super::propagator::propagator(t, propagator);
    super::tracer_provider::tracer_provider(t, tracer_provider);
    super::meter_provider::meter_provider(t, meter_provider);
    super::logger_provider::logger_provider(t, logger_provider);
    if let Some(node) = instrumentation {
        self::instrumentation(t, node);
    }
    if let Some(node) = distribution
        && *node != Node::Null
    {
        t.unsupported("distribution", node, " (no distribution-specific settings)");
    }
}

fn limits(t: &mut Translation<'_>, node: &Node) {
    let path = "attribute_limits";
    let Some(entries) = t.map(node, path) else {
        return;
    };
    let [length, count] = t.fields(
        entries,
        path,
        ["attribute_value_length_limit", "attribute_count_limit"],
    );
    let p = join(path, "attribute_value_length_limit");
    if let Some(v) = length.and_then(|n| t.integer_at_least(n, &p, 0)) {
        t.set("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", v, &p);
    }
    let p = join(path, "attribute_count_limit");
    if let Some(v) = count.and_then(|n| t.integer_at_least(n, &p, 0)) {
        t.set("OTEL_ATTRIBUTE_COUNT_LIMIT", v, &p);
    }
}

/// `instrumentation/development`: only `general.stability_opt_in_list`
/// (`OTEL_SEMCONV_STABILITY_OPT_IN`) concerns this crate's instrumentations.
fn instrumentation(t: &mut Translation<'_>, node: &Node) {
    let path = "instrumentation/development";
    let Some(entries) = t.map(node, path) else {
        return;
    };
    for (key, value) in entries {
        let p = join(path, key);
        if key != "general" {
            if *value != Node::Null {
                t.unsupported(&p, value, " (instrumentation settings of other languages)");
            }
            continue;
        }
        let Some(general) = t.map(value, &p) else {
            continue;
        };
        for (key, value) in general {
            let q = join(&p, key);
            if key == "stability_opt_in_list" {
                if let Some(list) = t.string(value, &q) {
                    t.set("OTEL_SEMCONV_STABILITY_OPT_IN", list, &q);
                }
            } else if *value != Node::Null {
                t.unsupported(&q, value, "");
            }
        }
    }
}
