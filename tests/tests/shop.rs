//! The demo shop's flow end to end (`otel_examples::shop`): five services,
//! each with its own tracer provider, one trace per order from the HTTP
//! gateway through gRPC and a broker to the order saga and its
//! compensations — for Kafka (librdkafka's mock cluster), NATS and RabbitMQ
//! (the real servers); the same run exported over OTLP to the real collector
//! (rotel); and the mesh headers (B3 multi-header, `x-request-id`) carried
//! from the gateway to the order service.

use std::time::Duration;

use otel_examples::shop::broker::{BrokerConfig, BrokerKind};
use otel_examples::shop::spans::{ServiceSpan, SpanStore};
use otel_examples::shop::{
    CUSTOMER_BAGGAGE, ORDER_ID_ATTRIBUTE, OrderAccepted, OrderRequest, Shop, ShopConfig, service,
    trace_tree,
};
use otel_kit_core::config::{PropagatorKind, Protocol};
use otel_kit_core::opentelemetry::trace::{SpanId, SpanKind, TraceId};
use otel_kit_core::opentelemetry::{Array, Value};
use otel_kit_core::testing::{CapturedSpan, assert_linked, assert_parent};
use otel_tests::collector::{Collector, ReceivedSpan};

const WAIT: Duration = Duration::from_secs(30);

/// A namespace no other test (or run) uses: its own topics, subjects, queues.
fn namespace(test: &str) -> String {
    format!(
        "shop-test-{test}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

fn broker(kind: BrokerKind, test: &str) -> BrokerConfig {
    let mut config = BrokerConfig::new(kind, namespace(test));
    if let Ok(url) = std::env::var("OTEL_TEST_NATS_URL") {
        config.nats_url = url;
    }
    if let Ok(url) = std::env::var("OTEL_TEST_AMQP_URL") {
        config.amqp_url = url;
    }
    config
}

fn declined_order(customer: &str) -> OrderRequest {
    OrderRequest {
        customer: customer.into(),
        item: "piano".into(),
        quantity: 1,
        amount_cents: 900_000,
        card: "declined".into(),
    }
}

/// Waits until the trace of `accepted` is complete in `store`; returns it.
async fn complete_trace(store: &SpanStore, accepted: &OrderAccepted) -> Vec<ServiceSpan> {
    let trace_id = TraceId::from_hex(&accepted.trace_id).expect("trace id");
    let done = store
        .wait_until(WAIT, |spans| {
            let trace: Vec<_> = spans
                .iter()
                .filter(|s| s.span.span_context.trace_id() == trace_id)
                .cloned()
                .collect();
            trace_tree::is_complete(&trace)
        })
        .await;
    let trace = store.trace(trace_id);
    assert!(
        done,
        "trace of {} not complete after {WAIT:?}:\n{}",
        accepted.order_id,
        trace_tree::render(&trace)
    );
    trace
}

/// The spans of a trace with the service that recorded each.
struct Trace {
    spans: Vec<(String, CapturedSpan)>,
    tree: String,
}

impl Trace {
    fn new(spans: &[ServiceSpan]) -> Self {
        Trace {
            spans: spans
                .iter()
                .map(|s| (s.service.clone(), CapturedSpan::new(s.span.clone())))
                .collect(),
            tree: trace_tree::render(spans),
        }
    }

    /// The one span of `service` named `name`.
    #[track_caller]
    fn one(&self, service: &str, name: &str) -> CapturedSpan {
        let found: Vec<_> = self
            .spans
            .iter()
            .filter(|(s, span)| s == service && span.name() == name)
            .map(|(_, span)| span.clone())
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one span {name:?} of {service}, found {}, in:\n{}",
            found.len(),
            self.tree
        );
        found.into_iter().next().expect("one")
    }

    /// The one child of `parent` that satisfies `predicate`.
    #[track_caller]
    fn child(
        &self,
        parent: &CapturedSpan,
        service: &str,
        predicate: impl Fn(&CapturedSpan) -> bool,
    ) -> CapturedSpan {
        let found: Vec<_> = self
            .spans
            .iter()
            .filter(|(s, span)| {
                s == service && span.parent_span_id() == parent.span_id() && predicate(span)
            })
            .map(|(_, span)| span.clone())
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one matching child of {:?} in {service}, found {}, in:\n{}",
            parent.name(),
            found.len(),
            self.tree
        );
        found.into_iter().next().expect("one")
    }

    fn service_of(&self, span_id: SpanId) -> Option<&str> {
        self.spans
            .iter()
            .find(|(_, s)| s.span_id() == span_id)
            .map(|(service, _)| service.as_str())
    }
}

/// The HTTP CLIENT span under `parent` (the consumer's) and the SERVER span
/// of `service` answering it on `route`.
#[track_caller]
fn http_hop(trace: &Trace, parent: &CapturedSpan, service: &str, route: &str) -> CapturedSpan {
    let client = trace.child(parent, service::CONSUMER, |s| {
        s.kind() == SpanKind::Client && s.attr_str("http.request.method") == Some("POST")
    });
    client.assert_attr("http.request.method", "POST");
    let server = trace.child(&client, service, |s| s.kind() == SpanKind::Server);
    server
        .assert_attr("http.route", route)
        .assert_attr("http.request.method", "POST");
    assert_eq!(server.name(), format!("POST {route}"));
    server
}

/// Asserts the whole flow of a declined order, hop by hop; returns the
/// trace for further checks.
fn assert_declined_flow(
    spans: &[ServiceSpan],
    broker: &BrokerConfig,
    accepted: &OrderAccepted,
) -> Trace {
    let trace = Trace::new(spans);
    let trace_id = TraceId::from_hex(&accepted.trace_id).expect("trace id");
    for (service, span) in &trace.spans {
        assert_eq!(span.trace_id(), trace_id, "{service} {span} left the trace");
    }

    // Gateway SERVER span: the entry of the trace.
    let gateway = trace.one(service::GATEWAY, "POST /orders");
    gateway
        .assert_kind(SpanKind::Server)
        .assert_attr("http.route", "/orders")
        .assert_attr("http.response.status_code", 202)
        .assert_attr(ORDER_ID_ATTRIBUTE, accepted.order_id.as_str());
    assert!(gateway.is_root(), "{gateway}");

    // gRPC CLIENT (gateway) -> gRPC SERVER (orders).
    let method = "shop.demo.v1.OrderService/PlaceOrder";
    let grpc_client = trace.one(service::GATEWAY, method);
    grpc_client
        .assert_kind(SpanKind::Client)
        .assert_attr("rpc.system.name", "grpc")
        .assert_attr("rpc.response.status_code", "OK");
    assert_parent(&grpc_client, &gateway);
    let grpc_server = trace.one(service::ORDERS, method);
    grpc_server
        .assert_kind(SpanKind::Server)
        .assert_attr("rpc.method", method)
        .assert_attr(ORDER_ID_ATTRIBUTE, accepted.order_id.as_str());
    assert_parent(&grpc_server, &grpc_client);

    // PRODUCER (orders) -> CONSUMER process (consumer): the shop uses
    // ProcessMode::Parent, so the process span is the producer's child.
    let created = broker.destination("order.created");
    let system = match broker.kind {
        BrokerKind::Kafka => "kafka",
        BrokerKind::Nats => "nats",
        BrokerKind::RabbitMq => "rabbitmq",
    };
    // otel-kit-messaging names the operation after each client's API.
    let send = match broker.kind {
        BrokerKind::Kafka => "send",
        BrokerKind::Nats | BrokerKind::RabbitMq => "publish",
    };
    let producer = trace.child(&grpc_server, service::ORDERS, |s| {
        s.kind() == SpanKind::Producer
    });
    producer
        .assert_attr("messaging.system", system)
        .assert_attr("messaging.destination.name", created.as_str());
    assert_eq!(producer.name(), format!("{send} {created}"));
    let process = trace.child(&producer, service::CONSUMER, |s| {
        s.kind() == SpanKind::Consumer
    });
    process
        .assert_attr("messaging.system", system)
        .assert_attr(ORDER_ID_ATTRIBUTE, accepted.order_id.as_str());
    assert_eq!(process.name(), format!("process {created}"));

    // The saga under the process span.
    let saga = trace.one(service::CONSUMER, "saga order");
    saga.assert_kind(SpanKind::Internal)
        .assert_attr("saga.outcome", "compensated");
    assert_parent(&saga, &process);
    let reserve = trace.one(service::CONSUMER, "saga.step reserve_inventory");
    assert_parent(&reserve, &saga);
    http_hop(&trace, &reserve, service::INVENTORY, "/inventory/reserve")
        .assert_attr("http.response.status_code", 200);

    // Payment: the baggage from the gateway is read here, three hops later.
    let charge = trace.one(service::CONSUMER, "saga.step charge_payment");
    assert_parent(&charge, &saga);
    charge
        .assert_attr(CUSTOMER_BAGGAGE, "carol")
        .assert_attr("error.type", "card_declined")
        .assert_error();
    let retry = trace.child(&charge, service::CONSUMER, |s| s.name() == "retry");
    retry.assert_attr("retry.outcome", "success");
    let attempt = trace.child(&retry, service::CONSUMER, |s| s.name() == "retry.attempt");
    http_hop(&trace, &attempt, service::PAYMENT, "/payments/charge")
        .assert_attr("http.response.status_code", 402)
        .assert_attr("shop.payment.outcome", "declined");

    // The compensation: linked to the step it undoes, calling inventory.
    let release = trace.one(service::CONSUMER, "saga.compensate reserve_inventory");
    assert_parent(&release, &saga);
    assert_linked(&release, &reserve);
    assert_linked(&release, &charge);
    http_hop(&trace, &release, service::INVENTORY, "/inventory/release")
        .assert_attr("http.response.status_code", 200);

    // The outcome event back to the order service.
    let cancelled = trace.child(&process, service::CONSUMER, |s| {
        s.kind() == SpanKind::Producer
    });
    cancelled.assert_attr("messaging.system", system);
    let recorded = trace.child(&cancelled, service::ORDERS, |s| {
        s.kind() == SpanKind::Consumer
    });
    recorded.assert_attr("shop.order.status", "cancelled");

    // Every span names its service through its own provider's resource.
    assert_eq!(trace.service_of(gateway.span_id()), Some(service::GATEWAY));
    trace
}

async fn flow(kind: BrokerKind, test: &str) {
    let store = SpanStore::new();
    let broker = broker(kind, test);
    let shop = Shop::start(ShopConfig::new(broker.clone(), store.clone()))
        .await
        .expect("shop starts");
    let accepted =
        otel_examples::shop::place_order(&shop.gateway_url(), &declined_order("carol"), &[])
            .await
            .expect("order accepted");
    let spans = complete_trace(&store, &accepted).await;
    shop.shutdown().await.expect("clean shutdown");
    assert_declined_flow(&spans, &broker, &accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_from_gateway_to_compensation_over_kafka() {
    flow(BrokerKind::Kafka, "kafka").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_from_gateway_to_compensation_over_nats() {
    flow(BrokerKind::Nats, "nats").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_from_gateway_to_compensation_over_rabbitmq() {
    flow(BrokerKind::RabbitMq, "rabbitmq").await;
}

fn received_by_id(received: &[ReceivedSpan], span_id: SpanId) -> &ReceivedSpan {
    let id = span_id.to_string();
    received
        .iter()
        .find(|r| r.span_id == id)
        .unwrap_or_else(|| panic!("span {id} not received by the collector"))
}

fn otlp_kind(kind: &SpanKind) -> i32 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// The same flow exported by every service over OTLP/gRPC to rotel: what
/// the collector received matches what the services recorded, span by
/// span, with each service's own resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_flow_exported_over_otlp_reaches_the_collector_per_service() {
    let collector = Collector::start();
    let store = SpanStore::new();
    let broker = broker(BrokerKind::Kafka, "otlp");
    let mut config = ShopConfig::new(broker.clone(), store.clone());
    config.telemetry.otlp_endpoint = Some(collector.grpc_endpoint());
    config.telemetry.otlp_protocol = Some(Protocol::Grpc);
    let shop = Shop::start(config).await.expect("shop starts");
    let accepted =
        otel_examples::shop::place_order(&shop.gateway_url(), &declined_order("carol"), &[])
            .await
            .expect("order accepted");
    let spans = complete_trace(&store, &accepted).await;
    // Shutting down flushes every provider's batch exporter.
    shop.shutdown().await.expect("clean shutdown");
    let trace = assert_declined_flow(&spans, &broker, &accepted);

    let all = store.spans().len();
    let received = collector.wait_for_spans_async(all, WAIT).await;
    let received: Vec<ReceivedSpan> = received
        .into_iter()
        .filter(|r| r.trace_id == accepted.trace_id)
        .collect();
    assert_eq!(received.len(), spans.len(), "{}", trace.tree);
    for (service, span) in &trace.spans {
        let r = received_by_id(&received, span.span_id());
        assert_eq!(
            r.resource_str("service.name"),
            Some(service.as_str()),
            "{r:?}"
        );
        assert_eq!(r.name, span.name());
        assert_eq!(r.kind, otlp_kind(&span.kind()), "{r:?}");
        assert_eq!(
            r.parent_span_id,
            if span.is_root() {
                String::new()
            } else {
                span.parent_span_id().to_string()
            }
        );
        for key in trace_tree::KEY_ATTRIBUTES {
            if let Some(Value::String(v)) = span.attr(key) {
                assert_eq!(r.attr_str(key), Some(v.as_str()), "{key} of {r:?}");
            }
            if let Some(Value::I64(v)) = span.attr(key) {
                assert_eq!(r.attr_i64(key), Some(*v), "{key} of {r:?}");
            }
        }
    }
    let services: std::collections::BTreeSet<_> = received
        .iter()
        .filter_map(|r| r.resource_str("service.name"))
        .collect();
    assert_eq!(
        services,
        [
            service::CONSUMER,
            service::GATEWAY,
            service::INVENTORY,
            service::ORDERS,
            service::PAYMENT
        ]
        .into_iter()
        .collect(),
    );
    let charge = received
        .iter()
        .find(|r| r.name == "saga.step charge_payment")
        .expect("charge step received");
    assert_eq!(charge.attr_str(CUSTOMER_BAGGAGE), Some("carol"));
    assert_eq!(charge.status_code, 2, "ERROR");
}

fn string_array(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(Array::String(v))) => v.iter().map(|s| s.as_str().to_owned()).collect(),
        other => panic!("expected a string array, got {other:?}"),
    }
}

/// Behind a mesh: the gateway configured with `tracecontext,baggage,b3multi`
/// and forwarding `x-request-id` continues a B3 multi-header request and
/// passes both the B3 headers (same trace id) and `x-request-id` on to the
/// order service, whose gRPC server span records the incoming metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn b3_multi_headers_and_request_id_reach_the_order_service() {
    let store = SpanStore::new();
    let broker = broker(BrokerKind::Kafka, "mesh");
    let mut config = ShopConfig::new(broker, store.clone());
    config.gateway_propagators = Some(vec![
        PropagatorKind::TraceContext,
        PropagatorKind::Baggage,
        PropagatorKind::B3Multi,
    ]);
    config.gateway_forward_headers = vec!["x-request-id".into()];
    let shop = Shop::start(config).await.expect("shop starts");

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let envoy_span = "00f067aa0ba902b7";
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let accepted = otel_examples::shop::place_order(
        &shop.gateway_url(),
        &declined_order("dave"),
        &[
            ("X-B3-TraceId", trace_id),
            ("X-B3-SpanId", envoy_span),
            ("X-B3-Sampled", "1"),
            ("x-request-id", request_id.as_str()),
        ],
    )
    .await
    .expect("order accepted");
    assert_eq!(
        accepted.trace_id, trace_id,
        "the gateway continued the B3 trace"
    );
    let spans = complete_trace(&store, &accepted).await;
    shop.shutdown().await.expect("clean shutdown");
    let trace = Trace::new(&spans);

    let gateway = trace.one(service::GATEWAY, "POST /orders");
    assert_eq!(gateway.parent_span_id().to_string(), envoy_span);
    assert!(gateway.has_remote_parent(), "{gateway}");
    let method = "shop.demo.v1.OrderService/PlaceOrder";
    let grpc_client = trace.one(service::GATEWAY, method);
    let grpc_server = trace.one(service::ORDERS, method);
    assert_parent(&grpc_server, &grpc_client);
    assert_eq!(
        string_array(grpc_server.attr("rpc.request.metadata.x-b3-traceid")),
        [trace_id]
    );
    assert_eq!(
        string_array(grpc_server.attr("rpc.request.metadata.x-b3-spanid")),
        [grpc_client.span_id().to_string()]
    );
    assert_eq!(
        string_array(grpc_server.attr("rpc.request.metadata.x-b3-sampled")),
        ["1"]
    );
    assert_eq!(
        string_array(grpc_server.attr("rpc.request.metadata.x-request-id")),
        [request_id]
    );
}
