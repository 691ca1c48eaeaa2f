"""What every interop script shares: a tracer provider that reports spans as
JSON lines on stdout, the propagators by name, and the record format.

Each line on stdout is one JSON object with a "type":
- "span": a finished span (see `span_record`);
- anything else a script reports (e.g. "listening", "request").
The Rust side (`otel_tests::python`) reads these lines; stderr is for humans.
"""

import json
import sys
import threading

from opentelemetry import baggage
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.b3 import B3MultiFormat, B3SingleFormat
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_STDOUT_LOCK = threading.Lock()

PROPAGATORS = {
    "w3c": lambda: CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()]),
    "b3": B3SingleFormat,
    "b3multi": B3MultiFormat,
}


def propagator(name):
    """The propagator named on the command line: w3c (with baggage), b3 or b3multi."""
    return PROPAGATORS[name]()


def emit(record):
    """Writes one record as a JSON line on stdout, at once."""
    line = json.dumps(record, sort_keys=True)
    with _STDOUT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def context_record(span_context):
    """Ids, sampled flag and tracestate of a span context."""
    return {
        "trace_id": format_trace_id(span_context.trace_id),
        "span_id": format_span_id(span_context.span_id),
        "sampled": span_context.trace_flags.sampled,
        "trace_state": span_context.trace_state.to_header(),
    }


def span_record(span):
    """A finished SDK span as a "span" record."""
    record = context_record(span.context)
    record.update(
        type="span",
        name=span.name,
        kind=span.kind.name,
        parent_span_id=format_span_id(span.parent.span_id) if span.parent else None,
        parent_is_remote=bool(span.parent and span.parent.is_remote),
        links=[
            {"trace_id": format_trace_id(link.context.trace_id), "span_id": format_span_id(link.context.span_id)}
            for link in span.links
        ],
        attributes={key: value for key, value in (span.attributes or {}).items() if isinstance(value, (str, int, float, bool))},
    )
    return record


def current_baggage(context=None):
    """The baggage entries of `context` (default: the current one) as a dict of strings."""
    return {key: str(value) for key, value in baggage.get_all(context).items()}


class JsonLinesExporter(SpanExporter):
    """Emits every span as a "span" record the moment it ends."""

    def export(self, spans):
        for span in spans:
            emit(span_record(span))
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


class WithTraceState(Sampler):
    """Samples as `inner` does and gives the spans it samples a fixed tracestate,
    as a vendor's sampler does (the SDK's own samplers only copy the parent's)."""

    def __init__(self, inner, trace_state):
        self._inner = inner
        self._trace_state = trace_state

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        result = self._inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        return SamplingResult(result.decision, result.attributes, self._trace_state)

    def get_description(self):
        return f"WithTraceState{{{self._inner.get_description()}}}"


def tracer(name, sampled=True, trace_state=None):
    """A tracer of a fresh provider reporting spans as JSON lines. Root spans
    are sampled (or not, `sampled=False`); child spans follow their parent."""
    sampler = ParentBased(ALWAYS_ON if sampled else ALWAYS_OFF)
    if trace_state is not None:
        sampler = WithTraceState(sampler, trace_state)
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter()))
    return provider.get_tracer(name), provider
