//! `processors` of the tracer and logger providers: `batch` (with its
//! settings, as `OTEL_BSP_*` / `OTEL_BLRP_*`) and `simple`, each with an
//! exporter. The processors of one signal share one set of batch settings
//! and one kind (batch or simple): a processor that differs is reported.

use super::diagnostics::join;
use super::exporter::exporter;
use super::node::Node;
use super::translate::{Translation, single};
use crate::config::{ExporterKind, ProcessorKind, Signal};

/// Translates the `processors` sequence at `path` for `signal` (traces or
/// logs), setting the exporter list (`none` when there is no processor).
pub(crate) fn processors(t: &mut Translation<'_>, node: Option<&Node>, path: &str, signal: Signal) {
    let (exporters_var, prefix) = match signal {
        Signal::Logs => ("OTEL_LOGS_EXPORTER", "OTEL_BLRP"),
        _ => ("OTEL_TRACES_EXPORTER", "OTEL_BSP"),
    };
    let mut kinds: Vec<ExporterKind> = Vec::new();
    let mut kind: Option<ProcessorKind> = None;
    let items = node.and_then(|n| t.seq(n, path)).unwrap_or_default();
    for (i, item) in items.iter().enumerate() {
        let q = format!("{path}[{i}]");
        let Some((name, body)) = single(t, item, &q, "processor") else {
            continue;
        };
        let p = join(&q, name);
        let this = match name {
            "batch" => ProcessorKind::Batch,
            "simple" => ProcessorKind::Simple,
            _ => {
                t.unsupported(&p, body, " (processors: batch, simple)");
                continue;
            }
        };
        if kind.is_some_and(|k| k != this) {
            t.unsupported(
                &p,
                body,
                &format!(
                    " (the {signal} processors are all batch or all simple; the first one decides)"
                ),
            );
            continue;
        }
        let Some(entries) = t.map(body, &p) else {
            t.invalid(&p, body, "exporter is required", "processor ignored");
            continue;
        };
        let settings: &[&str] = match this {
            ProcessorKind::Batch => &[
                "schedule_delay",
                "export_timeout",
                "max_queue_size",
                "max_export_batch_size",
            ],
            ProcessorKind::Simple => &[],
        };
        let mut exporter_node = None;
        let mut pending = Vec::new();
        for (key, node) in entries {
            let r = join(&p, key);
            if key == "exporter" {
                exporter_node = Some(node);
            } else if settings.contains(&key.as_str()) {
                let min = if key.starts_with("max_") { 1 } else { 0 };
                if let Some(v) = t.integer_at_least(node, &r, min) {
                    let var = format!("{prefix}_{}", key.to_ascii_uppercase());
                    pending.push((var, v, r, node));
                }
            } else {
                t.unknown(&r, node);
            }
        }
        let Some(exporter_node) = exporter_node.filter(|n| **n != Node::Null) else {
            t.invalid(&p, body, "exporter is required", "processor ignored");
            continue;
        };
        let Some(k) = exporter(t, exporter_node, &join(&p, "exporter"), signal) else {
            continue;
        };
        if kinds.contains(&k) {
            t.unsupported(
                &join(&p, "exporter"),
                exporter_node,
                &format!(" (one {} exporter per signal)", k.as_str()),
            );
            continue;
        }
        for (var, v, r, node) in pending {
            match t.vars.iter().find(|(have, _, _)| *have == var) {
                Some((_, have, _)) if *have != v => t.unsupported(
                    &r,
                    node,
                    &format!(" (one set of batch settings per signal; the first {signal} processor's apply)"),
                ),
                Some(_) => {}
                None => t.set(var, v, &r),
            }
        }
        kinds.push(k);
        kind = Some(this);
        t.used.push(p);
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
    t.set(exporters_var, list, path);
    if let Some(kind) = kind {
        match signal {
            Signal::Logs => t.log_processor = kind,
            _ => t.span_processor = kind,
        }
    }
}
