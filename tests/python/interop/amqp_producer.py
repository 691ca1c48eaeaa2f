"""A Python RabbitMQ producer (pika): publishes one message per queue through
the default exchange, each in its own root PRODUCER span whose context the
W3C propagator writes into the AMQP `headers` property.

usage: amqp_producer.py AMQP_URL QUEUE [QUEUE ...]

Publisher confirms are on: a span ends once the broker has confirmed its
message. Reports each PRODUCER span ("send {queue}").
"""

import argparse

import pika
from opentelemetry.trace import SpanKind

import peer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("queues", nargs="+")
    args = parser.parse_args()

    tracer, provider = peer.tracer("interop.amqp_producer")
    propagator = peer.propagator("w3c")
    parameters = pika.URLParameters(args.url)
    parameters.socket_timeout = 10
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for queue in args.queues:
            with tracer.start_as_current_span(
                f"send {queue}",
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": queue,
                },
            ):
                headers = {}
                propagator.inject(headers)
                channel.basic_publish(
                    exchange="",
                    routing_key=queue,
                    body=b"hello from python",
                    properties=pika.BasicProperties(headers=headers),
                    mandatory=True,
                )
    finally:
        connection.close()
        provider.shutdown()


if __name__ == "__main__":
    main()
