"""A Python NATS producer (nats-py): publishes one message per subject, each
in its own root PRODUCER span whose context the W3C propagator writes into
the message headers.

usage: nats_producer.py NATS_URL SUBJECT [SUBJECT ...]

Reports each PRODUCER span ("send {subject}") once the message is flushed
to the server.
"""

import argparse
import asyncio

import nats
from opentelemetry.trace import SpanKind

import peer


async def publish(url, subjects):
    tracer, provider = peer.tracer("interop.nats_producer")
    propagator = peer.propagator("w3c")
    client = await nats.connect(url, connect_timeout=10, max_reconnect_attempts=0)
    try:
        for subject in subjects:
            with tracer.start_as_current_span(
                f"send {subject}",
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": subject,
                },
            ):
                headers = {}
                propagator.inject(headers)
                await client.publish(subject, b"hello from python", headers=headers)
                await client.flush(timeout=10)
    finally:
        await client.close()
        provider.shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("subjects", nargs="+")
    args = parser.parse_args()
    asyncio.run(publish(args.url, args.subjects))


if __name__ == "__main__":
    main()
