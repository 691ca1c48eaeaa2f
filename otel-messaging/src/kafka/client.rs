//! What a traced Kafka producer and consumer share: the instrumentation and
//! the client's identity (`client.id`, `group.id`, cluster id, bootstrap
//! broker), read from the client's configuration, and the operations they
//! describe.

use std::sync::Arc;

use otel_kit_core::opentelemetry::{KeyValue, StringValue};
use otel_kit_core::semconv::attribute as attr;
use rdkafka::ClientConfig;
use rdkafka::message::{Message, ToBytes};
use rdkafka::producer::FutureRecord;

use super::MESSAGING_KAFKA_CLUSTER_ID;
use crate::instrumentation::Instrumentation;
use crate::operation::{Operation, OperationType};

const SYSTEM: &str = "kafka";

/// The instrumentation and identity of one Kafka client.
#[derive(Clone, Debug)]
pub(crate) struct KafkaClient {
    pub inst: Instrumentation,
    pub group: Option<String>,
    pub client_id: Option<String>,
    pub cluster_id: Option<StringValue>,
    pub server: Option<Arc<(String, u16)>>,
}

impl KafkaClient {
    pub(crate) fn new(inst: Instrumentation) -> Self {
        Self {
            inst,
            group: None,
            client_id: None,
            cluster_id: None,
            server: None,
        }
    }

    /// Reads `group.id`, `client.id` and `bootstrap.servers` from `config`
    /// (each only when set).
    pub(crate) fn read_config(&mut self, config: &ClientConfig) {
        if let Some(group) = config.get("group.id").filter(|g| !g.is_empty()) {
            self.group = Some(group.to_owned());
        }
        if let Some(id) = config.get("client.id").filter(|g| !g.is_empty()) {
            self.client_id = Some(id.to_owned());
        }
        if let Some(servers) = config.get("bootstrap.servers") {
            self.set_bootstrap_servers(servers);
        }
    }

    pub(crate) fn set_cluster_id(&mut self, cluster_id: String) {
        self.cluster_id = Some(StringValue::from(Arc::<str>::from(cluster_id)));
    }

    pub(crate) fn set_server(&mut self, host: String, port: u16) {
        self.server = Some(Arc::new((host, port)));
    }

    pub(crate) fn set_bootstrap_servers(&mut self, list: &str) {
        if let Some((host, port)) = first_bootstrap_server(list) {
            self.set_server(host.to_owned(), port);
        }
    }

    pub(crate) fn op(&self, name: &'static str, op_type: OperationType, topic: &str) -> Operation {
        let mut op = Operation::new(SYSTEM, name, op_type).destination(topic);
        op.server = self.server.clone();
        if let Some(id) = &self.client_id {
            op.span_attrs
                .push(KeyValue::new(attr::MESSAGING_CLIENT_ID, id.clone()));
        }
        if let Some(id) = &self.cluster_id {
            op.span_attrs
                .push(KeyValue::new(MESSAGING_KAFKA_CLUSTER_ID, id.clone()));
        }
        if op_type != OperationType::Send {
            op.consumer_group = self.group.clone();
        }
        op
    }

    /// The `send` operation of one record: topic, partition when chosen,
    /// key, body size or tombstone.
    pub(crate) fn record_op<K, P>(&self, record: &FutureRecord<'_, K, P>) -> Operation
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let mut op = self.op("send", OperationType::Send, record.topic);
        if let Some(p) = record.partition {
            op.partition = Some(p.to_string());
        }
        if let Some(key) = record
            .key
            .and_then(|k| std::str::from_utf8(k.to_bytes()).ok())
        {
            op.span_attrs.push(KeyValue::new(
                attr::MESSAGING_KAFKA_MESSAGE_KEY,
                key.to_owned(),
            ));
        }
        match record.payload {
            Some(p) => op.span_attrs.push(KeyValue::new(
                attr::MESSAGING_MESSAGE_BODY_SIZE,
                p.to_bytes().len() as i64,
            )),
            None => op
                .span_attrs
                .push(KeyValue::new(attr::MESSAGING_KAFKA_MESSAGE_TOMBSTONE, true)),
        }
        op
    }

    /// The `process` operation of a consumed message.
    pub(crate) fn consumer_op<M: Message>(&self, message: &M) -> Operation {
        let mut op = self.op("process", OperationType::Process, message.topic());
        op.partition = Some(message.partition().to_string());
        op.counts_consumed = true;
        op.span_attrs.push(KeyValue::new(
            attr::MESSAGING_KAFKA_OFFSET,
            message.offset(),
        ));
        if let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) {
            op.span_attrs.push(KeyValue::new(
                attr::MESSAGING_KAFKA_MESSAGE_KEY,
                key.to_owned(),
            ));
        }
        match message.payload() {
            Some(p) => op.span_attrs.push(KeyValue::new(
                attr::MESSAGING_MESSAGE_BODY_SIZE,
                p.len() as i64,
            )),
            None => op
                .span_attrs
                .push(KeyValue::new(attr::MESSAGING_KAFKA_MESSAGE_TOMBSTONE, true)),
        }
        op
    }
}

/// The option setters and accessors [`TracedProducer`](super::TracedProducer)
/// and [`TracedConsumer`](super::TracedConsumer) share (same names on both).
macro_rules! kafka_options {
    () => {
        /// Reads `client.id`, `bootstrap.servers` and (consumers)
        /// `group.id` from the configuration the client was created with,
        /// as `from_config` does (each only when set).
        pub fn with_config(mut self, config: &rdkafka::ClientConfig) -> Self {
            self.client.read_config(config);
            self
        }

        /// `messaging.kafka.cluster.id` on every span.
        pub fn with_cluster_id(mut self, cluster_id: impl Into<String>) -> Self {
            self.client.set_cluster_id(cluster_id.into());
            self
        }

        /// `messaging.client.id` (the client's `client.id`; read by
        /// `from_config`).
        pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
            self.client.client_id = Some(client_id.into());
            self
        }

        /// `server.address` / `server.port` on every span and metric (a
        /// bootstrap broker). librdkafka does not tell which broker served
        /// an operation, so nothing is recorded unless this, a
        /// `bootstrap.servers` entry read by `from_config`, or
        /// [`with_bootstrap_servers`](Self::with_bootstrap_servers) sets it.
        pub fn with_server(mut self, host: impl Into<String>, port: u16) -> Self {
            self.client.set_server(host.into(), port);
            self
        }

        /// `server.address` / `server.port` from a `bootstrap.servers`
        /// list (its first entry: `host:port`, `[v6-address]:port`,
        /// optionally with a `PLAINTEXT://`-style prefix; port 9092 when
        /// none is given). Unchanged when the list holds no usable entry.
        pub fn with_bootstrap_servers(mut self, bootstrap_servers: &str) -> Self {
            self.client.set_bootstrap_servers(bootstrap_servers);
            self
        }

        /// The configured `messaging.kafka.cluster.id`.
        pub fn cluster_id(&self) -> Option<&str> {
            self.client
                .cluster_id
                .as_ref()
                .map(otel_kit_core::opentelemetry::StringValue::as_str)
        }

        /// The configured `messaging.client.id`.
        pub fn client_id(&self) -> Option<&str> {
            self.client.client_id.as_deref()
        }

        /// The configured `server.address` and `server.port`.
        pub fn server(&self) -> Option<(&str, u16)> {
            self.client.server.as_deref().map(|(h, p)| (h.as_str(), *p))
        }

        /// The instrumentation in use.
        pub fn instrumentation(&self) -> &crate::Instrumentation {
            &self.client.inst
        }
    };
}

pub(crate) use kafka_options;

/// The first `host:port` of a `bootstrap.servers` list (see
/// `with_bootstrap_servers`).
fn first_bootstrap_server(list: &str) -> Option<(&str, u16)> {
    const DEFAULT_PORT: u16 = 9092;
    let entry = list.split(',').map(str::trim).find(|e| !e.is_empty())?;
    let entry = entry.split_once("://").map_or(entry, |(_, rest)| rest);
    if let Some(v6) = entry.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if rest.is_empty() => DEFAULT_PORT,
            None => return None,
        };
        return (!host.is_empty()).then_some((host, port));
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (entry, DEFAULT_PORT),
    };
    (!host.is_empty() && !host.contains(':')).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_servers_give_the_first_broker() {
        for (list, expected) in [
            ("127.0.0.1:9092", Some(("127.0.0.1", 9092))),
            (" kafka-1:9093 , kafka-2:9093", Some(("kafka-1", 9093))),
            ("kafka", Some(("kafka", 9092))),
            (
                "SASL_SSL://broker.example:9094",
                Some(("broker.example", 9094)),
            ),
            ("[::1]:29092,other:1", Some(("::1", 29092))),
            ("[fe80::1]", Some(("fe80::1", 9092))),
            ("", None),
            (",", None),
            ("host:notaport", None),
            (":9092", None),
            ("::1", None),
        ] {
            assert_eq!(first_bootstrap_server(list), expected, "{list:?}");
        }
    }

    #[test]
    fn the_configuration_gives_group_client_and_server() {
        let mut config = ClientConfig::new();
        config
            .set("group.id", "billing")
            .set("client.id", "billing-1")
            .set("bootstrap.servers", "kafka-1:9093,kafka-2:9093");
        let mut client = KafkaClient::new(Instrumentation::default());
        client.read_config(&config);
        assert_eq!(client.group.as_deref(), Some("billing"));
        assert_eq!(client.client_id.as_deref(), Some("billing-1"));
        assert_eq!(
            client.server.as_deref().map(|(h, p)| (h.as_str(), *p)),
            Some(("kafka-1", 9093))
        );
        // Consumer operations carry the group, sends do not.
        let process = client.op("process", OperationType::Process, "orders");
        assert_eq!(process.consumer_group.as_deref(), Some("billing"));
        assert!(
            client
                .op("send", OperationType::Send, "orders")
                .consumer_group
                .is_none()
        );
    }
}
