"""A Python HTTP server (stdlib http.server) that extracts the incoming
context with the chosen propagator and handles each request in a SERVER span.

usage: http_server.py --propagator {w3c,b3,b3multi}

Reports {"type": "listening", "port": N} once it accepts connections, then per
request a "request" record (the headers received, the extracted remote
context, the SERVER span's context, the baggage seen) and, when sampled, the
SERVER span. Answers 200 with the request record as JSON. Stops when stdin
is closed.
"""

import argparse
import http.server
import json
import sys
import threading

from opentelemetry import context, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind

import peer


class HeadersGetter(Getter):
    """Reads propagation fields from http.server's case-insensitive headers."""

    def get(self, carrier, key):
        return carrier.get_all(key)

    def keys(self, carrier):
        return list(carrier.keys())


def handler(tracer, propagator):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            remote = propagator.extract(self.headers, getter=HeadersGetter())
            token = context.attach(remote)
            try:
                with tracer.start_as_current_span(
                    f"GET {self.path}",
                    kind=SpanKind.SERVER,
                    attributes={"http.request.method": "GET", "url.path": self.path},
                ) as span:
                    record = {
                        "type": "request",
                        "path": self.path,
                        "headers": {name.lower(): value for name, value in self.headers.items()},
                        "remote": peer.context_record(trace.get_current_span(remote).get_span_context()),
                        "span": peer.context_record(span.get_span_context()),
                        "baggage": peer.current_baggage(),
                    }
                    peer.emit(record)
                    body = json.dumps(record).encode("utf-8")
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    span.set_attribute("http.response.status_code", 200)
            finally:
                context.detach(token)

        def log_message(self, format, *args):
            print(format % args, file=sys.stderr)

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--propagator", choices=sorted(peer.PROPAGATORS), required=True)
    args = parser.parse_args()

    tracer, provider = peer.tracer("interop.http_server")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(tracer, peer.propagator(args.propagator)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    peer.emit({"type": "listening", "port": server.server_address[1]})

    sys.stdin.read()  # until the Rust side closes our stdin
    server.shutdown()
    server.server_close()
    provider.shutdown()


if __name__ == "__main__":
    main()
