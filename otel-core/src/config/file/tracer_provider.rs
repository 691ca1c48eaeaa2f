//! `tracer_provider`: processors, span limits and the sampler. Without it no
//! span is exported (`OTEL_TRACES_EXPORTER=none`), as the schema's no-op
//! tracer provider says.

use super::diagnostics::join;
use super::node::Node;
use super::translate::Translation;
use crate::config::Signal;

pub(crate) fn tracer_provider(t: &mut Translation<'_>, node: Option<&Node>) {
    let path = "tracer_provider";
    let Some(entries) = node.and_then(|n| t.map(n, path)) else {
        t.set("OTEL_TRACES_EXPORTER", "none", path);
        return;
    };
    let [processors, limits, sampler, id_generator, configurator] = t.fields(
        entries,
        path,
        [
            "processors",
            "limits",
            "sampler",
            "id_generator",
            "tracer_configurator/development",
        ],
    );
    super::processors::processors(t, processors, &join(path, "processors"), Signal::Traces);
    if let Some(node) = limits {
        span_limits(t, node, &join(path, "limits"));
    }
    if let Some(node) = sampler.filter(|n| **n != Node::Null) {
        let p = join(path, "sampler");
        if let Some(spec) = super::sampler::sampler(t, node, &p) {
            t.sampler = Some(spec);
            t.used.push(p);
        }
    }
    if let Some(node) = id_generator.filter(|n| **n != Node::Null) {
        t.unsupported(
            &join(path, "id_generator"),
            node,
            " (random ids with the W3C random flag are always used)",
        );
    }
    if let Some(node) = configurator.filter(|n| **n != Node::Null) {
        t.unsupported(&join(path, "tracer_configurator/development"), node, "");
    }
}

fn span_limits(t: &mut Translation<'_>, node: &Node, path: &str) {
    let Some(entries) = t.map(node, path) else {
        return;
    };
    let names = [
        (
            "attribute_value_length_limit",
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        ),
        ("attribute_count_limit", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"),
        ("event_count_limit", "OTEL_SPAN_EVENT_COUNT_LIMIT"),
        ("link_count_limit", "OTEL_SPAN_LINK_COUNT_LIMIT"),
        (
            "event_attribute_count_limit",
            "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
        ),
        (
            "link_attribute_count_limit",
            "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
        ),
    ];
    for (key, node) in entries {
        let p = join(path, key);
        match names.iter().find(|(k, _)| k == key) {
            Some((_, var)) => {
                if let Some(v) = t.integer_at_least(node, &p, 0) {
                    t.set(*var, v, &p);
                }
            }
            None => t.unknown(&p, node),
        }
    }
}
