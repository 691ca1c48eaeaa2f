//! `meter_provider`: `periodic` readers with an OTLP or console exporter
//! (interval and timeout as `OTEL_METRIC_EXPORT_*`), a `pull` reader with
//! the Prometheus exporter (host and port), views, and `exemplar_filter`
//! (only `trace_based`, the SDK's behaviour, is honoured). The readers'
//! cardinality limits apply to the whole provider (one set: a reader with
//! other limits is reported). Producers and the meter configurator are
//! reported as unsupported. Without `meter_provider` no metric is exported.

use super::diagnostics::join;
use super::exporter::exporter;
use super::node::Node;
use super::translate::{Translation, single};
use crate::config::{CardinalityLimits, ExporterKind, Signal};

pub(crate) fn meter_provider(t: &mut Translation<'_>, node: Option<&Node>) {
    let path = "meter_provider";
    let Some(entries) = node.and_then(|n| t.map(n, path)) else {
        t.set("OTEL_METRICS_EXPORTER", "none", path);
        return;
    };
    let [readers, views, exemplar_filter, configurator] = t.fields(
        entries,
        path,
        [
            "readers",
            "views",
            "exemplar_filter",
            "meter_configurator/development",
        ],
    );
    let p = join(path, "readers");
    let mut kinds: Vec<ExporterKind> = Vec::new();
    let items = readers.and_then(|n| t.seq(n, &p)).unwrap_or_default();
    for (i, item) in items.iter().enumerate() {
        let q = format!("{p}[{i}]");
        let Some((name, body)) = single(t, item, &q, "reader") else {
            continue;
        };
        let r = join(&q, name);
        let kind = match name {
            "periodic" => periodic(t, body, &r),
            "pull" => pull(t, body, &r),
            _ => {
                t.unsupported(&r, body, " (readers: periodic, pull)");
                None
            }
        };
        match kind {
            Some(k) if kinds.contains(&k) => {
                t.unsupported(&r, body, &format!(" (one {} metric exporter)", k.as_str()))
            }
            Some(k) => {
                kinds.push(k);
                t.used.push(r);
            }
            None => {}
        }
    }
    let list = if kinds.is_empty() {
        "none".to_owned()
    } else {
        kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    t.set("OTEL_METRICS_EXPORTER", list, &p);
    if let Some(node) = views {
        super::views::views(t, node, &join(path, "views"));
    }
    let p = join(path, "exemplar_filter");
    if let Some(v) = exemplar_filter.and_then(|n| t.string(n, &p)) {
        t.set("OTEL_METRICS_EXEMPLAR_FILTER", v, &p);
    }
    if let Some(node) = configurator.filter(|n| **n != Node::Null) {
        t.unsupported(&join(path, "meter_configurator/development"), node, "");
    }
}

fn periodic(t: &mut Translation<'_>, body: &Node, path: &str) -> Option<ExporterKind> {
    let entries = t.map(body, path)?;
    let [interval, timeout, exp, producers, limits, batch] = t.fields(
        entries,
        path,
        [
            "interval",
            "timeout",
            "exporter",
            "producers",
            "cardinality_limits",
            "max_export_batch_size/development",
        ],
    );
    let Some(exp) = exp.filter(|n| **n != Node::Null) else {
        t.invalid(path, body, "exporter is required", "reader ignored");
        return None;
    };
    let kind = exporter(t, exp, &join(path, "exporter"), Signal::Metrics)?;
    for (key, node, var, min) in [
        ("interval", interval, "OTEL_METRIC_EXPORT_INTERVAL", 1),
        ("timeout", timeout, "OTEL_METRIC_EXPORT_TIMEOUT", 0),
    ] {
        let p = join(path, key);
        let Some(node) = node else { continue };
        let Some(v) = t.integer_at_least(node, &p, min) else {
            continue;
        };
        match t.vars.iter().find(|(have, _, _)| have == var) {
            Some((_, have, _)) if *have != v => t.unsupported(
                &p,
                node,
                " (one interval and timeout for every periodic reader; the first reader's apply)",
            ),
            Some(_) => {}
            None => t.set(var, v, &p),
        }
    }
    if let Some(node) = limits {
        cardinality_limits(t, node, &join(path, "cardinality_limits"));
    }
    for (key, node) in [
        ("producers", producers),
        ("max_export_batch_size/development", batch),
    ] {
        if let Some(node) = node.filter(|n| **n != Node::Null) {
            t.unsupported(&join(path, key), node, "");
        }
    }
    Some(kind)
}

fn pull(t: &mut Translation<'_>, body: &Node, path: &str) -> Option<ExporterKind> {
    let entries = t.map(body, path)?;
    let [exp, producers, limits] = t.fields(
        entries,
        path,
        ["exporter", "producers", "cardinality_limits"],
    );
    if let Some(node) = producers.filter(|n| **n != Node::Null) {
        t.unsupported(&join(path, "producers"), node, "");
    }
    if let Some(node) = limits {
        cardinality_limits(t, node, &join(path, "cardinality_limits"));
    }
    let exp_path = join(path, "exporter");
    let Some(exp) = exp.filter(|n| **n != Node::Null) else {
        t.invalid(path, body, "exporter is required", "reader ignored");
        return None;
    };
    let (name, body) = single(t, exp, &exp_path, "exporter")?;
    let p = join(&exp_path, name);
    if name != "prometheus/development" {
        t.unsupported(&p, body, " (pull exporters: prometheus/development)");
        return None;
    }
    if let Some(entries) = t.map(body, &p) {
        for (key, node) in entries {
            let q = join(&p, key);
            match key.as_str() {
                "host" => {
                    if let Some(v) = t.string(node, &q) {
                        t.set("OTEL_EXPORTER_PROMETHEUS_HOST", v, &q);
                    }
                }
                "port" => {
                    if let Some(v) = t.integer_at_least(node, &q, 0) {
                        t.set("OTEL_EXPORTER_PROMETHEUS_PORT", v, &q);
                    }
                }
                "scope_info_enabled"
                | "target_info_enabled/development"
                | "resource_constant_labels"
                | "translation_strategy"
                | "without_scope_info"
                | "without_target_info"
                | "without_units"
                | "without_type_suffix" => {
                    if *node != Node::Null {
                        t.unsupported(&q, node, "");
                    }
                }
                _ => t.unknown(&q, node),
            }
        }
    }
    Some(ExporterKind::Prometheus)
}

/// A reader's `cardinality_limits`.
fn cardinality_limits(t: &mut Translation<'_>, node: &Node, path: &str) {
    let Some(entries) = t.map(node, path) else {
        return;
    };
    let mut limits = CardinalityLimits::default();
    for (key, node) in entries {
        let p = join(path, key);
        if limits.slot(key).is_none() {
            t.unknown(&p, node);
            continue;
        }
        let Some(v) = t.integer(node, &p) else {
            continue;
        };
        match usize::try_from(v) {
            Ok(v) if v > 0 => {
                if let Some(slot) = limits.slot(key) {
                    *slot = Some(v);
                }
            }
            _ => t.invalid(&p, node, "must be at least 1", "ignored"),
        }
    }
    if limits.is_empty() {
        return;
    }
    match &t.cardinality_limits {
        Some((have, _)) if *have != limits => t.unsupported(
            path,
            node,
            " (one set of cardinality limits for every reader; the first reader's apply)",
        ),
        Some(_) => {}
        None => {
            t.cardinality_limits = Some((limits, path.to_owned()));
            t.used.push(path.to_owned());
        }
    }
}
