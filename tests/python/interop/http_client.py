"""A Python HTTP client instrumented by hand: one CLIENT span around a GET,
its context injected into the request headers by the chosen propagator.

usage: http_client.py URL --propagator {w3c,b3,b3multi} [--unsampled]
                      [--tracestate KEY=VALUE,...] [--baggage KEY=VALUE ...]

Reports a "request" record (the headers sent, the CLIENT span's context, the
response status and body) and, when sampled, the CLIENT span itself.
Exits non-zero when the response is not 200.
"""

import argparse
import http.client
import sys
import urllib.parse

from opentelemetry import baggage, context
from opentelemetry.trace import SpanKind, TraceState

import peer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--propagator", choices=sorted(peer.PROPAGATORS), required=True)
    parser.add_argument("--unsampled", action="store_true", help="make the CLIENT span unsampled")
    parser.add_argument("--tracestate", help="tracestate the CLIENT span carries (W3C list)")
    parser.add_argument("--baggage", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    trace_state = TraceState.from_header([args.tracestate]) if args.tracestate else None
    tracer, provider = peer.tracer("interop.http_client", sampled=not args.unsampled, trace_state=trace_state)
    propagator = peer.propagator(args.propagator)

    for entry in args.baggage:
        key, value = entry.split("=", 1)
        context.attach(baggage.set_baggage(key, value))

    url = urllib.parse.urlsplit(args.url)
    with tracer.start_as_current_span(
        "GET",
        kind=SpanKind.CLIENT,
        attributes={
            "http.request.method": "GET",
            "url.full": args.url,
            "server.address": url.hostname,
            "server.port": url.port,
        },
    ) as span:
        headers = {}
        propagator.inject(headers)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        try:
            connection.request("GET", url.path or "/", headers=headers)
            response = connection.getresponse()
            body = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        span.set_attribute("http.response.status_code", response.status)
        peer.emit(
            {
                "type": "request",
                "headers": headers,
                "span": peer.context_record(span.get_span_context()),
                "status": response.status,
                "body": body,
            }
        )
    provider.shutdown()
    if response.status != 200:
        print(f"GET {args.url} answered {response.status}: {body}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
