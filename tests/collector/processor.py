# Rotel (rotel==0.0.1a15) Python processor used by `otel_tests::collector::Collector`.
#
# Rotel loads this file for traces, metrics and logs (`--otlp-with-*-processor`)
# and calls `process_spans` / `process_metrics` / `process_logs` on every batch
# it receives. Each span, metric data point and log record is appended as one
# JSON line to `spans.jsonl`, `metrics.jsonl` or `logs.jsonl` in the directory
# named by OTEL_TESTS_COLLECTOR_DIR. Nothing is modified: the batch goes on to
# the (blackhole) exporter unchanged.
#
# Facts about rotel's Python objects this relies on (checked against 0.0.1a15):
# - ids are `bytes` (`.hex()`), kind / status code / severity are ints;
# - attribute lists iterate; `ArrayValue` and `KeyValueList` values can only be
#   indexed (index until IndexError), not iterated or measured with len();
# - bytes values arrive as a list of ints;
# - `Metric.data` is `MetricData_<Type>` with the payload in `._0`, a number
#   point value is `NumberDataPointValue_AsInt` / `_AsDouble` with `._0`.
# Any error is written to `errors.jsonl` (the Rust side shows it) and swallowed,
# so a bug here never stops the collector.

import json
import math
import os
import threading
import traceback

_DIR = os.environ.get("OTEL_TESTS_COLLECTOR_DIR", ".")
_LOCK = threading.Lock()


def _append(name, records):
    if not records:
        return
    data = "".join(json.dumps(r, allow_nan=False, sort_keys=True) + "\n" for r in records)
    with _LOCK:
        # One write per batch, O_APPEND: a reader never sees half a batch
        # except at the very end, and it ignores an unterminated last line.
        fd = os.open(os.path.join(_DIR, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data.encode("utf-8"))
        finally:
            os.close(fd)


def _report_error(where):
    try:
        _append("errors.jsonl", [{"where": where, "error": traceback.format_exc()}])
    except Exception:
        pass


def _indexed(seq):
    """Items of a rotel sequence that may support only indexing."""
    if seq is None:
        return []
    if isinstance(seq, (list, tuple)):
        return list(seq)
    out = []
    i = 0
    while True:
        try:
            out.append(seq[i])
        except IndexError:
            return out
        i += 1
        if i > 1_000_000:  # defensive: never loop forever on a strange object
            return out


def _iter(seq):
    """Items of a rotel list: iterate when possible, else index."""
    if seq is None:
        return []
    try:
        return list(iter(seq))
    except TypeError:
        return _indexed(seq)


def _hex(b):
    if b is None:
        return ""
    if isinstance(b, (bytes, bytearray)):
        return bytes(b).hex()
    try:
        return bytes(_iter(b)).hex()
    except Exception:
        return str(b)


def _float(x):
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def _scalar(v):
    if isinstance(v, float):
        return _float(v)
    return v


def _value(v):
    """An AnyValue's payload as JSON: str/int/float/bool as is, arrays as lists,
    key-value lists as objects, bytes as a lowercase hex string."""
    if v is None:
        return None
    inner = getattr(v, "value", v)
    if inner is None or isinstance(inner, (str, bool, int)):
        return inner
    if isinstance(inner, float):
        return _float(inner)
    if isinstance(inner, (bytes, bytearray)):
        return bytes(inner).hex()
    if isinstance(inner, list):  # bytes_value arrives as a list of ints
        try:
            return bytes(inner).hex()
        except Exception:
            return [_scalar(x) for x in inner]
    tname = type(inner).__name__
    if tname == "ArrayValue":
        return [_value(x) for x in _indexed(inner)]
    if tname == "KeyValueList":
        return {kv.key: _value(kv.value) for kv in _indexed(inner)}
    if hasattr(inner, "key") and hasattr(inner, "value"):
        return {inner.key: _value(inner.value)}
    return str(inner)


def _attrs(kvs):
    return {kv.key: _value(kv.value) for kv in _iter(kvs)}


def _resource(res):
    if res is None:
        return {}
    return _attrs(res.attributes)


def _scope(scope):
    if scope is None:
        return "", ""
    return scope.name or "", scope.version or ""


# ---------------------------------------------------------------- traces


def _span(span, resource, scope_name, scope_version):
    status = span.status
    return {
        "trace_id": _hex(span.trace_id),
        "span_id": _hex(span.span_id),
        "parent_span_id": _hex(span.parent_span_id),
        "trace_state": span.trace_state or "",
        "flags": span.flags or 0,
        "name": span.name,
        "kind": int(span.kind or 0),
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "status_code": int(status.code) if status is not None else 0,
        "status_message": (status.message or "") if status is not None else "",
        "attributes": _attrs(span.attributes),
        "dropped_attributes_count": span.dropped_attributes_count,
        "events": [
            {
                "name": e.name,
                "time_unix_nano": e.time_unix_nano,
                "attributes": _attrs(e.attributes),
            }
            for e in _iter(span.events)
        ],
        "links": [
            {
                "trace_id": _hex(l.trace_id),
                "span_id": _hex(l.span_id),
                "trace_state": l.trace_state or "",
                "attributes": _attrs(l.attributes),
            }
            for l in _iter(span.links)
        ],
        "resource": resource,
        "scope_name": scope_name,
        "scope_version": scope_version,
    }


def process_spans(resource_spans):
    try:
        resource = _resource(resource_spans.resource)
        out = []
        for ss in _iter(resource_spans.scope_spans):
            name, version = _scope(ss.scope)
            for span in _iter(ss.spans):
                out.append(_span(span, resource, name, version))
        _append("spans.jsonl", out)
    except Exception:
        _report_error("process_spans")


# ---------------------------------------------------------------- metrics


def _variant(obj, prefix):
    """('Gauge', payload) for a rotel `MetricData_Gauge` and the like."""
    tname = type(obj).__name__
    kind = tname[len(prefix):] if tname.startswith(prefix) else tname
    return kind, getattr(obj, "_0", obj)


def _number_value(v):
    if v is None:
        return None, None
    kind, payload = _variant(v, "NumberDataPointValue_")
    if kind == "AsInt":
        return int(payload), None
    return None, _float(payload)


def _point(metric, kind, data, dp, resource, scope_name, scope_version):
    rec = {
        "name": metric.name,
        "description": metric.description or "",
        "unit": metric.unit or "",
        "kind": kind,
        "temporality": getattr(data, "aggregation_temporality", None),
        "is_monotonic": getattr(data, "is_monotonic", None),
        "attributes": _attrs(dp.attributes),
        "start_time_unix_nano": getattr(dp, "start_time_unix_nano", None),
        "time_unix_nano": getattr(dp, "time_unix_nano", None),
        "resource": resource,
        "scope_name": scope_name,
        "scope_version": scope_version,
    }
    if rec["temporality"] is not None:
        rec["temporality"] = int(rec["temporality"])
    if kind in ("Gauge", "Sum"):
        rec["as_int"], rec["as_double"] = _number_value(dp.value)
    else:
        rec["count"] = getattr(dp, "count", None)
        rec["sum"] = _float(getattr(dp, "sum", None))
        rec["min"] = _float(getattr(dp, "min", None))
        rec["max"] = _float(getattr(dp, "max", None))
    if kind == "Histogram":
        rec["bucket_counts"] = [int(x) for x in _iter(dp.bucket_counts)]
        rec["explicit_bounds"] = [_float(x) for x in _iter(dp.explicit_bounds)]
    if kind == "ExponentialHistogram":
        rec["scale"] = getattr(dp, "scale", None)
        rec["zero_count"] = getattr(dp, "zero_count", None)
    if kind == "Summary":
        rec["quantiles"] = [
            {"quantile": _float(q.quantile), "value": _float(q.value)}
            for q in _iter(getattr(dp, "quantile_values", None))
        ]
    return rec


def _empty_metric(metric, resource, scope_name, scope_version):
    return {
        "name": metric.name,
        "description": metric.description or "",
        "unit": metric.unit or "",
        "kind": "Empty",
        "temporality": None,
        "is_monotonic": None,
        "attributes": {},
        "start_time_unix_nano": None,
        "time_unix_nano": None,
        "resource": resource,
        "scope_name": scope_name,
        "scope_version": scope_version,
    }


def process_metrics(resource_metrics):
    try:
        resource = _resource(resource_metrics.resource)
        out = []
        for sm in _iter(resource_metrics.scope_metrics):
            scope_name, scope_version = _scope(sm.scope)
            for metric in _iter(sm.metrics):
                if metric.data is None:
                    # rotel decoded the metric without its data (seen with
                    # some OTLP/JSON payloads): record that it came, empty.
                    out.append(_empty_metric(metric, resource, scope_name, scope_version))
                    continue
                kind, data = _variant(metric.data, "MetricData_")
                for dp in _iter(data.data_points):
                    out.append(_point(metric, kind, data, dp, resource, scope_name, scope_version))
        _append("metrics.jsonl", out)
    except Exception:
        _report_error("process_metrics")


# ---------------------------------------------------------------- logs


def _log(lr, resource, scope_name, scope_version):
    return {
        "time_unix_nano": lr.time_unix_nano,
        "observed_time_unix_nano": lr.observed_time_unix_nano,
        "severity_number": int(lr.severity_number or 0),
        "severity_text": lr.severity_text or "",
        "body": _value(lr.body),
        "attributes": _attrs(lr.attributes),
        "event_name": getattr(lr, "event_name", "") or "",
        "flags": lr.flags or 0,
        "trace_id": _hex(lr.trace_id),
        "span_id": _hex(lr.span_id),
        "resource": resource,
        "scope_name": scope_name,
        "scope_version": scope_version,
    }


def process_logs(resource_logs):
    try:
        resource = _resource(resource_logs.resource)
        out = []
        for sl in _iter(resource_logs.scope_logs):
            scope_name, scope_version = _scope(sl.scope)
            for lr in _iter(sl.log_records):
                out.append(_log(lr, resource, scope_name, scope_version))
        _append("logs.jsonl", out)
    except Exception:
        _report_error("process_logs")
