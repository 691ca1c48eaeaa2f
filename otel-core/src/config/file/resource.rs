//! `resource`: typed `attributes`, `attributes_list` (the
//! `OTEL_RESOURCE_ATTRIBUTES` format, below `attributes`) and
//! `detection/development.detectors` (`service`, `host`, `process`,
//! `container`, and this crate's `kubernetes` extension).

use super::diagnostics::join;
use super::node::Node;
use super::translate::{Translation, single};
use crate::resource::Detector;
use opentelemetry::{Array, KeyValue, StringValue, Value};

pub(crate) fn resource(t: &mut Translation<'_>, node: Option<&Node>) {
    let path = "resource";
    let Some(entries) = node.and_then(|n| t.map(n, path)) else {
        return;
    };
    let [attributes, list, detection, schema_url] = t.fields(
        entries,
        path,
        [
            "attributes",
            "attributes_list",
            "detection/development",
            "schema_url",
        ],
    );
    let p = join(path, "attributes_list");
    if let Some(list) = list.and_then(|n| t.string(n, &p)) {
        t.set("OTEL_RESOURCE_ATTRIBUTES", list, &p);
    }
    let p = join(path, "attributes");
    if let Some(items) = attributes.and_then(|n| t.seq(n, &p)) {
        for (i, item) in items.iter().enumerate() {
            let q = format!("{p}[{i}]");
            if let Some(kv) = attribute(t, item, &q) {
                t.resource.retain(|have| have.key != kv.key);
                t.resource.push(kv);
                t.used.push(q);
            }
        }
    }
    if let Some(node) = detection {
        detectors(t, node, &join(path, "detection/development"));
    }
    if let Some(node) = schema_url.filter(|n| **n != Node::Null) {
        t.unsupported(&join(path, "schema_url"), node, "");
    }
}

/// One `{name, value, type}` entry.
fn attribute(t: &mut Translation<'_>, node: &Node, path: &str) -> Option<KeyValue> {
    let entries = t.map(node, path)?;
    let [name, value, ty] = t.fields(entries, path, ["name", "value", "type"]);
    let name = match name.and_then(|n| t.string(n, &join(path, "name"))) {
        Some(n) if !n.is_empty() => n,
        _ => {
            t.invalid(path, node, "name is required", "attribute ignored");
            return None;
        }
    };
    let vpath = join(path, "value");
    let Some(value) = value.filter(|v| **v != Node::Null) else {
        t.invalid(path, node, "value is required", "attribute ignored");
        return None;
    };
    let ty = match ty {
        Some(n) => t.string(n, &join(path, "type"))?,
        None => "string".to_owned(),
    };
    let bad = |t: &mut Translation<'_>, what: &str| {
        t.invalid(
            &vpath,
            value,
            format!("not {what} (type {ty})"),
            "attribute ignored",
        );
        None
    };
    let scalar = |n: &Node, ty: &str| -> Option<Value> {
        match (ty, n) {
            ("string", Node::Seq(_) | Node::Map(_) | Node::Null) => None,
            ("string", other) => other.scalar_text().map(Value::from),
            ("bool", Node::Bool(b)) => Some(Value::Bool(*b)),
            ("int", Node::Int(i)) => i64::try_from(*i).ok().map(Value::I64),
            ("double", Node::Float(f)) => Some(Value::F64(*f)),
            ("double", Node::Int(i)) => Some(Value::F64(*i as f64)),
            _ => None,
        }
    };
    let v = match ty.as_str() {
        "string" | "bool" | "int" | "double" => match scalar(value, &ty) {
            Some(v) => v,
            None => return bad(t, "a single value of that type"),
        },
        "string_array" | "bool_array" | "int_array" | "double_array" => {
            let Node::Seq(items) = value else {
                return bad(t, "a sequence");
            };
            let elem = ty.trim_end_matches("_array");
            let values: Option<Vec<Value>> = items.iter().map(|n| scalar(n, elem)).collect();
            let Some(values) = values else {
                return bad(t, "a sequence of that type");
            };
            match elem {
                "string" => Value::Array(Array::String(
                    values
                        .into_iter()
                        .map(|v| StringValue::from(v.to_string()))
                        .collect(),
                )),
                "bool" => Value::Array(Array::Bool(
                    values
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::Bool(b) => Some(b),
                            _ => None,
                        })
                        .collect(),
                )),
                "int" => Value::Array(Array::I64(
                    values
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::I64(i) => Some(i),
                            _ => None,
                        })
                        .collect(),
                )),
                _ => Value::Array(Array::F64(
                    values
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::F64(f) => Some(f),
                            _ => None,
                        })
                        .collect(),
                )),
            }
        }
        other => {
            t.invalid(
                &join(path, "type"),
                &Node::Null,
                format!(
                    "unknown type {other:?} (string, bool, int, double, string_array, \
                     bool_array, int_array, double_array)"
                ),
                "attribute ignored",
            );
            return None;
        }
    };
    Some(KeyValue::new(name, v))
}

fn detectors(t: &mut Translation<'_>, node: &Node, path: &str) {
    let Some(entries) = t.map(node, path) else {
        return;
    };
    let [attributes, list] = t.fields(entries, path, ["attributes", "detectors"]);
    if let Some(node) = attributes.filter(|n| **n != Node::Null) {
        t.unsupported(
            &join(path, "attributes"),
            node,
            " (detected attributes are not filtered)",
        );
    }
    let p = join(path, "detectors");
    let Some(items) = list.and_then(|n| t.seq(n, &p)) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let q = format!("{p}[{i}]");
        let Some((name, body)) = single(t, item, &q, "detector") else {
            continue;
        };
        let detectors: &[Detector] = match name {
            "service" => {
                // service.name from OTEL_SERVICE_NAME, as the schema says.
                if let Some(name) = t.deployment.get("OTEL_SERVICE_NAME") {
                    let name = name.to_owned();
                    t.set("OTEL_SERVICE_NAME", name, &join(&q, "service"));
                }
                &[Detector::ServiceInstanceId]
            }
            "host" => &[Detector::Host, Detector::HostId, Detector::Os],
            "process" => &[Detector::Process],
            "container" => &[Detector::Container],
            "kubernetes" => &[Detector::Kubernetes],
            other => {
                t.unsupported(
                    &join(&q, other),
                    body,
                    " (detectors: service, host, process, container, kubernetes)",
                );
                continue;
            }
        };
        if let Node::Map(extra) = body {
            for (key, node) in extra {
                t.unknown(&join(&join(&q, name), key), node);
            }
        }
        for d in detectors {
            t.detection = t.detection.enable(*d);
        }
        t.used.push(join(&q, name));
    }
}
