//! `propagator`: `composite` (a list of single-entry mappings) and
//! `composite_list` (the `OTEL_PROPAGATORS` format), merged in that order
//! without duplicates. `tracecontext`, `baggage`, `b3`, `b3multi`, and two
//! extensions: `jaeger` (not in the schema) and `mesh`, this crate's
//! forwarding of mesh headers (`x-request-id` always; `headers: [...]` more;
//! `force_trace_header: name`; `enabled: false` turns forwarding off).
//! Without a `propagator` section no propagator is installed, as the schema
//! says (mesh forwarding stays as the builder sets it).

use super::diagnostics::join;
use super::node::Node;
use super::translate::{Translation, single};

const KNOWN: [&str; 5] = ["tracecontext", "baggage", "b3", "b3multi", "jaeger"];

pub(crate) fn propagator(t: &mut Translation<'_>, node: Option<&Node>) {
    let path = "propagator";
    let Some(entries) = node.and_then(|n| t.map(n, path)) else {
        t.set("OTEL_PROPAGATORS", "none", path);
        return;
    };
    let [composite, list] = t.fields(entries, path, ["composite", "composite_list"]);
    let mut names: Vec<String> = Vec::new();
    let p = join(path, "composite");
    if let Some(items) = composite.and_then(|n| t.seq(n, &p)) {
        for (i, item) in items.iter().enumerate() {
            let q = format!("{p}[{i}]");
            let Some((name, body)) = single(t, item, &q, "propagator") else {
                continue;
            };
            if name == "mesh" {
                mesh(t, body, &join(&q, name));
                continue;
            }
            if let Node::Map(extra) = body {
                for (key, node) in extra {
                    t.unknown(&join(&join(&q, name), key), node);
                }
            }
            if KNOWN.contains(&name) {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            } else {
                t.unsupported(
                    &join(&q, name),
                    body,
                    " (propagators: tracecontext, baggage, b3, b3multi, jaeger, mesh)",
                );
            }
        }
    }
    let p = join(path, "composite_list");
    if let Some(list) = list.and_then(|n| t.string(n, &p)) {
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let lower = name.to_ascii_lowercase();
            if KNOWN.contains(&lower.as_str()) || lower == "none" {
                if !names.contains(&lower) {
                    names.push(lower);
                }
            } else {
                t.invalid(
                    &p,
                    &Node::Null,
                    format!(
                        "{name:?} is not supported (tracecontext, baggage, b3, b3multi, jaeger, none)"
                    ),
                    "skipped",
                );
            }
        }
    }
    if names.len() > 1 {
        names.retain(|n| n != "none");
    }
    let value = if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(",")
    };
    t.set("OTEL_PROPAGATORS", value, path);
}

/// The `mesh` extension.
fn mesh(t: &mut Translation<'_>, body: &Node, path: &str) {
    t.mesh.enabled = Some(true);
    t.used.push(path.to_owned());
    let Some(entries) = t.map(body, path) else {
        return;
    };
    let [enabled, headers, force] =
        t.fields(entries, path, ["enabled", "headers", "force_trace_header"]);
    if let Some(on) = enabled.and_then(|n| t.boolean(n, &join(path, "enabled"))) {
        t.mesh.enabled = Some(on);
    }
    let p = join(path, "headers");
    if let Some(items) = headers.and_then(|n| t.seq(n, &p)) {
        for (i, item) in items.iter().enumerate() {
            if let Some(name) = t.string(item, &format!("{p}[{i}]")) {
                t.mesh.headers.push(name);
            }
        }
    }
    t.mesh.force_trace_header = force.and_then(|n| t.string(n, &join(path, "force_trace_header")));
}
