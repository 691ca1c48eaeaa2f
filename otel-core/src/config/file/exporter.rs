//! Exporters of every signal: `otlp_http`, `otlp_grpc` and `console`, each
//! translated to the per-signal `OTEL_EXPORTER_OTLP_{SIGNAL}_*` variables
//! (an `otlp_http` endpoint is used as given, as a per-signal endpoint is).
//! One OTLP exporter per signal: a second one is reported and skipped.

use super::diagnostics::join;
use super::node::Node;
use super::translate::{Translation, single};
use crate::config::{ExporterKind, Signal};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Characters escaped in a header value of `OTEL_EXPORTER_OTLP_HEADERS`.
const HEADER_VALUE: &AsciiSet = &CONTROLS.add(b'%').add(b',').add(b'=').add(b' ');

/// Translates the exporter mapping at `path` (`{otlp_http: {...}}`) of
/// `signal`; `None` when it names nothing this crate can install.
pub(crate) fn exporter(
    t: &mut Translation<'_>,
    node: &Node,
    path: &str,
    signal: Signal,
) -> Option<ExporterKind> {
    let (name, body) = single(t, node, path, "exporter")?;
    let path = join(path, name);
    match name {
        "otlp_http" | "otlp_grpc" => {
            let var = |suffix: &str| format!("OTEL_EXPORTER_OTLP_{}_{suffix}", signal.env_infix());
            if t.is_set(&var("PROTOCOL")) {
                t.unsupported(
                    &path,
                    body,
                    &format!(" (one OTLP exporter per signal; the first {signal} one is used)"),
                );
                return None;
            }
            otlp(t, body, &path, signal, name == "otlp_grpc", &var);
            Some(ExporterKind::Otlp)
        }
        "console" => {
            if let Some(entries) = t.map(body, &path) {
                metric_preferences(t, entries, &path, signal, true);
            }
            Some(ExporterKind::Console)
        }
        _ => {
            t.unsupported(
                &path,
                body,
                &format!(" ({signal} exporters: otlp_http, otlp_grpc, console)"),
            );
            None
        }
    }
}

fn otlp(
    t: &mut Translation<'_>,
    body: &Node,
    path: &str,
    signal: Signal,
    grpc: bool,
    var: &dyn Fn(&str) -> String,
) {
    let protocol = if grpc { "grpc" } else { "http/protobuf" };
    t.set(var("PROTOCOL"), protocol, path);
    let Some(entries) = t.map(body, path) else {
        return;
    };
    let mut rest = Vec::new();
    for (key, node) in entries {
        let p = join(path, key);
        match key.as_str() {
            "endpoint" => {
                if let Some(v) = t.string(node, &p) {
                    t.set(var("ENDPOINT"), v, &p);
                }
            }
            "compression" => {
                if let Some(v) = t.string(node, &p) {
                    t.set(var("COMPRESSION"), v, &p);
                }
            }
            "timeout" => {
                if let Some(v) = t.integer_at_least(node, &p, 0) {
                    t.set(var("TIMEOUT"), v, &p);
                }
            }
            "encoding" if !grpc => match t.string(node, &p).as_deref() {
                None | Some("protobuf") => {}
                Some("json") => t.set(var("PROTOCOL"), "http/json", &p),
                Some(other) => t.invalid(
                    &p,
                    node,
                    format!("unknown encoding {other:?} (protobuf, json)"),
                    "using protobuf",
                ),
            },
            "headers" | "headers_list" => {}
            "tls" => tls(t, node, &p, grpc, var),
            _ => rest.push((key.clone(), node.clone())),
        }
    }
    headers(t, entries, path, var);
    metric_preferences(t, &rest, path, signal, false);
}

fn tls(t: &mut Translation<'_>, node: &Node, path: &str, grpc: bool, var: &dyn Fn(&str) -> String) {
    let Some(entries) = t.map(node, path) else {
        return;
    };
    for (key, node) in entries {
        let p = join(path, key);
        let suffix = match key.as_str() {
            "ca_file" => "CERTIFICATE",
            "key_file" => "CLIENT_KEY",
            "cert_file" => "CLIENT_CERTIFICATE",
            "insecure" if grpc => {
                if let Some(b) = t.boolean(node, &p) {
                    t.set(var("INSECURE"), b.to_string(), &p);
                }
                continue;
            }
            _ => {
                t.unknown(&p, node);
                continue;
            }
        };
        if let Some(v) = t.string(node, &p) {
            t.set(var(suffix), v, &p);
        }
    }
}

/// `headers_list` (the `OTEL_EXPORTER_OTLP_HEADERS` format) and `headers`
/// (name/value pairs, which win over the list).
fn headers(
    t: &mut Translation<'_>,
    entries: &[(String, Node)],
    path: &str,
    var: &dyn Fn(&str) -> String,
) {
    let mut parts: Vec<String> = Vec::new();
    let mut source = String::new();
    if let Some((_, node)) = entries.iter().find(|(k, _)| k == "headers_list") {
        let p = join(path, "headers_list");
        if let Some(list) = t.string(node, &p).filter(|s| !s.trim().is_empty()) {
            parts.push(list);
            source = p;
        }
    }
    if let Some((_, node)) = entries.iter().find(|(k, _)| k == "headers") {
        let p = join(path, "headers");
        if let Some(items) = t.seq(node, &p) {
            for (i, item) in items.iter().enumerate() {
                let q = format!("{p}[{i}]");
                let Some(pair) = t.map(item, &q) else {
                    continue;
                };
                let [name, value] = t.fields(pair, &q, ["name", "value"]);
                let name = name.and_then(|n| t.string(n, &join(&q, "name")));
                let value = value.and_then(|n| t.string(n, &join(&q, "value")));
                match (name, value) {
                    (Some(n), Some(v)) if !n.is_empty() => {
                        parts.push(format!("{n}={}", utf8_percent_encode(&v, HEADER_VALUE)));
                        source = p.clone();
                    }
                    _ => t.invalid(&q, item, "name and value are required", "header ignored"),
                }
            }
        }
    }
    if !parts.is_empty() {
        t.set(var("HEADERS"), parts.join(","), &source);
    }
}

/// `temporality_preference` and `default_histogram_aggregation` (metric
/// exporters); anything else in `rest` is reported as unknown.
fn metric_preferences(
    t: &mut Translation<'_>,
    rest: &[(String, Node)],
    path: &str,
    signal: Signal,
    console: bool,
) {
    for (key, node) in rest {
        let p = join(path, key);
        match key.as_str() {
            "temporality_preference" | "default_histogram_aggregation"
                if signal == Signal::Metrics =>
            {
                let Some(v) = t.string(node, &p) else {
                    continue;
                };
                if console {
                    if v != "cumulative" && v != "explicit_bucket_histogram" {
                        t.unsupported(&p, node, " for the console exporter");
                    }
                    continue;
                }
                let (var, value) = if key == "temporality_preference" {
                    (
                        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                        v.replace("low_memory", "lowmemory"),
                    )
                } else {
                    (
                        "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
                        v,
                    )
                };
                t.set(var, value, &p);
            }
            _ => t.unknown(&p, node),
        }
    }
}
