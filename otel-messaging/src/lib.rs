//! Messaging instrumentation for Kafka (rdkafka), NATS (async-nats) and RabbitMQ (lapin). Work in progress: see the otel-messaging issue.
#![forbid(unsafe_code)]
