//! `meter_provider.views`: a selector (`instrument_name` with `*` and `?`,
//! `instrument_type`, `unit`, `meter_name`, `meter_version`,
//! `meter_schema_url`) and a stream (`name`, `description`, `aggregation`,
//! `aggregation_cardinality_limit`, `attribute_keys.included`), each a
//! [`MetricView`]. `attribute_keys.excluded` is reported: the SDK can only
//! keep listed keys.

use super::diagnostics::join;
use super::node::Node;
use super::translate::{Translation, single};
use crate::config::MetricView;
use opentelemetry_sdk::metrics::{Aggregation, InstrumentKind};

pub(crate) fn views(t: &mut Translation<'_>, node: &Node, path: &str) {
    let Some(items) = t.seq(node, path) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(entries) = t.map(item, &p) else {
            continue;
        };
        let [selector, stream] = t.fields(entries, &p, ["selector", "stream"]);
        let mut view = MetricView::default();
        let ok = selector.is_some_and(|n| select(t, n, &join(&p, "selector"), &mut view))
            && stream.is_some_and(|n| make_stream(t, n, &join(&p, "stream"), &mut view));
        if !ok {
            if selector.is_none() || stream.is_none() {
                t.invalid(&p, item, "selector and stream are required", "view ignored");
            }
            continue;
        }
        let wildcard = view
            .instrument_name
            .as_deref()
            .is_none_or(|n| n.contains(['*', '?']));
        if view.name.is_some() && wildcard {
            t.invalid(
                &join(&join(&p, "stream"), "name"),
                &Node::Null,
                "a stream name needs a selector naming one instrument (no wildcard)",
                "view ignored",
            );
            continue;
        }
        t.views.push(view);
        t.used.push(p);
    }
}

/// Fills the selector; `false` (reported) when the view must be ignored.
fn select(t: &mut Translation<'_>, node: &Node, path: &str, view: &mut MetricView) -> bool {
    let Some(entries) = t.map(node, path) else {
        return false;
    };
    let mut ok = true;
    for (key, node) in entries {
        let p = join(path, key);
        let Some(value) = t.string(node, &p) else {
            continue;
        };
        match key.as_str() {
            "instrument_name" => view.instrument_name = Some(value),
            "unit" => view.unit = Some(value),
            "meter_name" => view.meter_name = Some(value),
            "meter_version" => view.meter_version = Some(value),
            "meter_schema_url" => view.meter_schema_url = Some(value),
            "instrument_type" => {
                let kind = match value.as_str() {
                    "counter" => InstrumentKind::Counter,
                    "up_down_counter" => InstrumentKind::UpDownCounter,
                    "histogram" => InstrumentKind::Histogram,
                    "gauge" => InstrumentKind::Gauge,
                    "observable_counter" => InstrumentKind::ObservableCounter,
                    "observable_up_down_counter" => InstrumentKind::ObservableUpDownCounter,
                    "observable_gauge" => InstrumentKind::ObservableGauge,
                    _ => {
                        t.invalid(
                            &p,
                            node,
                            "unknown instrument type (counter, up_down_counter, histogram, gauge, \
                             observable_counter, observable_up_down_counter, observable_gauge)",
                            "view ignored",
                        );
                        ok = false;
                        continue;
                    }
                };
                view.instrument_kind = Some(kind);
            }
            _ => t.unknown(&p, node),
        }
    }
    ok
}

/// Fills the stream; `false` (reported) when the view must be ignored.
fn make_stream(t: &mut Translation<'_>, node: &Node, path: &str, view: &mut MetricView) -> bool {
    let Some(entries) = t.map(node, path) else {
        return true;
    };
    for (key, node) in entries {
        let p = join(path, key);
        match key.as_str() {
            "name" => view.name = t.string(node, &p),
            "description" => view.description = t.string(node, &p),
            "aggregation_cardinality_limit" => {
                if let Some(v) = t.integer(node, &p) {
                    match usize::try_from(v) {
                        Ok(v) if v > 0 => view.cardinality_limit = Some(v),
                        _ => {
                            t.invalid(&p, node, "must be at least 1", "view ignored");
                            return false;
                        }
                    }
                }
            }
            "attribute_keys" => {
                let Some(entries) = t.map(node, &p) else {
                    continue;
                };
                for (key, node) in entries {
                    let q = join(&p, key);
                    match key.as_str() {
                        "included" => {
                            let items = t.seq(node, &q).unwrap_or_default();
                            view.attribute_keys = Some(
                                items
                                    .iter()
                                    .enumerate()
                                    .filter_map(|(i, n)| t.string(n, &format!("{q}[{i}]")))
                                    .collect(),
                            );
                        }
                        "excluded" if *node != Node::Null => t.unsupported(
                            &q,
                            node,
                            " (opentelemetry_sdk 0.33 keeps listed keys only: use included)",
                        ),
                        "excluded" => {}
                        _ => t.unknown(&q, node),
                    }
                }
            }
            "aggregation" => {
                if *node == Node::Null {
                    continue;
                }
                match aggregation(t, node, &p) {
                    Some(a) => view.aggregation = Some(a),
                    None => return false,
                }
            }
            _ => t.unknown(&p, node),
        }
    }
    true
}

fn aggregation(t: &mut Translation<'_>, node: &Node, path: &str) -> Option<Aggregation> {
    let (name, body) = single(t, node, path, "aggregation")?;
    let p = join(path, name);
    let entries: &[(String, Node)] = match body {
        Node::Map(e) => e,
        _ => &[],
    };
    match name {
        "default" | "drop" | "sum" | "last_value" => {
            for (key, node) in entries {
                t.unknown(&join(&p, key), node);
            }
            Some(match name {
                "default" => Aggregation::Default,
                "drop" => Aggregation::Drop,
                "sum" => Aggregation::Sum,
                _ => Aggregation::LastValue,
            })
        }
        "explicit_bucket_histogram" => {
            let [boundaries, record] = t.fields(entries, &p, ["boundaries", "record_min_max"]);
            let bp = join(&p, "boundaries");
            let mut bounds = Vec::new();
            match boundaries.and_then(|n| t.seq(n, &bp)) {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        bounds.push(t.number(item, &format!("{bp}[{i}]"))?);
                    }
                    if bounds.windows(2).any(|w| w[0] >= w[1]) {
                        t.invalid(&bp, boundaries?, "must increase strictly", "view ignored");
                        return None;
                    }
                }
                // The specification's default boundaries.
                None => {
                    bounds = vec![
                        0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0,
                        2500.0, 5000.0, 7500.0, 10000.0,
                    ]
                }
            }
            let record_min_max = record
                .and_then(|n| t.boolean(n, &join(&p, "record_min_max")))
                .unwrap_or(true);
            Some(Aggregation::ExplicitBucketHistogram {
                boundaries: bounds,
                record_min_max,
            })
        }
        "base2_exponential_bucket_histogram" => {
            let [scale, size, record] =
                t.fields(entries, &p, ["max_scale", "max_size", "record_min_max"]);
            let sp = join(&p, "max_scale");
            let max_scale = match scale.and_then(|n| t.integer(n, &sp)) {
                None => 20,
                Some(v) if (-10..=20).contains(&v) => v as i8,
                Some(_) => {
                    t.invalid(&sp, scale?, "must be between -10 and 20", "view ignored");
                    return None;
                }
            };
            let zp = join(&p, "max_size");
            let max_size = match size.and_then(|n| t.integer(n, &zp)) {
                None => 160,
                Some(v) if v >= 2 && v <= u32::MAX as i128 => v as u32,
                Some(_) => {
                    t.invalid(&zp, size?, "must be at least 2", "view ignored");
                    return None;
                }
            };
            let record_min_max = record
                .and_then(|n| t.boolean(n, &join(&p, "record_min_max")))
                .unwrap_or(true);
            Some(Aggregation::Base2ExponentialHistogram {
                max_size,
                max_scale,
                record_min_max,
            })
        }
        _ => {
            t.unsupported(
                &p,
                body,
                " (aggregations: default, drop, sum, last_value, explicit_bucket_histogram, \
                 base2_exponential_bucket_histogram)",
            );
            None
        }
    }
}
