//! A distributed trace from a [`SpanStore`](super::spans::SpanStore) as an
//! indented tree (service, span name, kind, duration, key attributes,
//! links), and the test for "this trace is complete".

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use otel_kit_core::opentelemetry::trace::{SpanId, SpanKind, Status};
use otel_kit_core::opentelemetry_sdk::trace::SpanData;

use super::spans::ServiceSpan;

/// Attributes shown next to a span, in this order, when present.
pub const KEY_ATTRIBUTES: &[&str] = &[
    "http.route",
    "http.response.status_code",
    "http.request.resend_count",
    "rpc.response.status_code",
    "rpc.request.metadata.x-request-id",
    "messaging.system",
    "messaging.destination.name",
    "messaging.consumer.group.name",
    "saga.outcome",
    "saga.step.attempts",
    "saga.compensation.trigger.step",
    "retry.attempt",
    "retry.attempts",
    "retry.outcome",
    "circuit_breaker.state",
    "shop.order.id",
    "shop.customer",
    "shop.order.status",
    "shop.payment.outcome",
    "error.type",
];

fn kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Server => "SERVER",
        SpanKind::Client => "CLIENT",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
        SpanKind::Internal => "INTERNAL",
    }
}

fn format_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1_000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

fn duration(span: &SpanData) -> Duration {
    span.end_time
        .duration_since(span.start_time)
        .unwrap_or_default()
}

/// Whether `span` calls another process and so must have a child there:
/// an HTTP or gRPC client span, or a message producer.
fn expects_remote_child(span: &SpanData) -> bool {
    match span.span_kind {
        SpanKind::Producer => true,
        SpanKind::Client => span.attributes.iter().any(|kv| {
            kv.key.as_str() == "http.request.method" || kv.key.as_str() == "rpc.system.name"
        }),
        _ => false,
    }
}

/// Whether the spans of one trace form a finished whole: exactly one span
/// whose parent is not among them (the entry span), every other span's
/// parent present (a parent ends after its children), and every HTTP/gRPC
/// client and every producer span answered by a child span (the server
/// or consumer side, which may end after the caller's span).
pub fn is_complete(trace: &[ServiceSpan]) -> bool {
    if trace.is_empty() {
        return false;
    }
    let ids: HashSet<SpanId> = trace
        .iter()
        .map(|s| s.span.span_context.span_id())
        .collect();
    let parents: HashSet<SpanId> = trace.iter().map(|s| s.span.parent_span_id).collect();
    let entries = trace
        .iter()
        .filter(|s| !ids.contains(&s.span.parent_span_id))
        .count();
    entries == 1
        && trace.iter().all(|s| {
            !expects_remote_child(&s.span) || parents.contains(&s.span.span_context.span_id())
        })
}

/// The trace as an indented tree: the entry span first, children in start
/// order. Each line: span name, `[service]`, kind, duration, `ERROR` and its
/// description when failed, then the [`KEY_ATTRIBUTES`] present; each link
/// on a line of its own, marked `↪ link`, naming the linked span when it is
/// in the same trace.
pub fn render(trace: &[ServiceSpan]) -> String {
    let by_id: HashMap<SpanId, &ServiceSpan> = trace
        .iter()
        .map(|s| (s.span.span_context.span_id(), s))
        .collect();
    let mut children: HashMap<SpanId, Vec<&ServiceSpan>> = HashMap::new();
    let mut roots = Vec::new();
    for s in trace {
        if by_id.contains_key(&s.span.parent_span_id) {
            children.entry(s.span.parent_span_id).or_default().push(s);
        } else {
            roots.push(s);
        }
    }
    roots.sort_by_key(|s| s.span.start_time);
    for list in children.values_mut() {
        list.sort_by_key(|s| s.span.start_time);
    }
    let mut out = String::new();
    for root in roots {
        write_span(&mut out, root, "", "", &children, &by_id);
    }
    out
}

fn write_span(
    out: &mut String,
    s: &ServiceSpan,
    prefix: &str,
    branch: &str,
    children: &HashMap<SpanId, Vec<&ServiceSpan>>,
    by_id: &HashMap<SpanId, &ServiceSpan>,
) {
    let span = &s.span;
    let _ = write!(
        out,
        "{prefix}{branch}{} [{}] {} {}",
        span.name,
        s.service,
        kind_name(&span.span_kind),
        format_duration(duration(span))
    );
    if let Status::Error { description } = &span.status {
        let _ = write!(out, " ERROR");
        if !description.is_empty() {
            let _ = write!(out, " {description:?}");
        }
    }
    for key in KEY_ATTRIBUTES {
        if let Some(kv) = span.attributes.iter().find(|kv| kv.key.as_str() == *key) {
            let _ = write!(out, " {key}={}", kv.value);
        }
    }
    out.push('\n');
    let kids = children.get(&span.span_context.span_id());
    let inner_prefix = format!(
        "{prefix}{}",
        match branch {
            "" => "",
            "├─ " => "│  ",
            _ => "   ",
        }
    );
    let has_kids = kids.is_some_and(|k| !k.is_empty());
    for link in span.links.iter() {
        let target = by_id
            .get(&link.span_context.span_id())
            .map(|t| format!("{} [{}]", t.span.name, t.service))
            .unwrap_or_else(|| format!("span {}", link.span_context.span_id()));
        let role = link
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "saga.link.role")
            .map(|kv| format!(" ({})", kv.value))
            .unwrap_or_default();
        let bar = if has_kids { "│  " } else { "   " };
        let _ = writeln!(out, "{inner_prefix}{bar}↪ link → {target}{role}");
    }
    if let Some(kids) = kids {
        let n = kids.len();
        for (i, kid) in kids.iter().enumerate() {
            let b = if i + 1 == n { "└─ " } else { "├─ " };
            write_span(out, kid, &inner_prefix, b, children, by_id);
        }
    }
}
