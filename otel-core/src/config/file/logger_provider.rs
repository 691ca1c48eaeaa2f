//! `logger_provider`: processors and exporters as for traces. Log record
//! limits and the logger configurator are reported (the SDK cannot set
//! them). Without `logger_provider` no log record is exported.

use super::diagnostics::join;
use super::node::Node;
use super::translate::Translation;
use crate::config::Signal;

pub(crate) fn logger_provider(t: &mut Translation<'_>, node: Option<&Node>) {
    let path = "logger_provider";
    let Some(entries) = node.and_then(|n| t.map(n, path)) else {
        t.set("OTEL_LOGS_EXPORTER", "none", path);
        return;
    };
    let [processors, limits, configurator] = t.fields(
        entries,
        path,
        ["processors", "limits", "logger_configurator/development"],
    );
    super::processors::processors(t, processors, &join(path, "processors"), Signal::Logs);
    let p = join(path, "limits");
    if let Some(entries) = limits.and_then(|n| t.map(n, &p)) {
        for (key, node) in entries {
            let q = join(&p, key);
            match key.as_str() {
                "attribute_value_length_limit" | "attribute_count_limit" => {
                    if *node != Node::Null {
                        t.unsupported(
                            &q,
                            node,
                            " (log record limits are not configurable in opentelemetry_sdk 0.33)",
                        );
                    }
                }
                _ => t.unknown(&q, node),
            }
        }
    }
    if let Some(node) = configurator.filter(|n| **n != Node::Null) {
        t.unsupported(&join(path, "logger_configurator/development"), node, "");
    }
}
