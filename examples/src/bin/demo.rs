//! The shop demo: five services (gateway, orders, consumer with the order
//! saga, inventory, payment), each with its own tracer provider and
//! `service.name`, making one distributed trace per order from an HTTP
//! gateway through gRPC and a message broker to a saga with compensations.
//!
//! ```text
//! cargo run -p otel-examples --bin demo                      # everything in-process, Kafka mock cluster
//! DEMO_BROKER=nats cargo run -p otel-examples --bin demo     # or rabbitmq
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run -p otel-examples --bin demo
//! ```
//!
//! In-process (no argument) it places three orders (one paid, one whose
//! payment fails once and is retried, one declined so the saga compensates),
//! waits until each order's trace is complete, prints each trace as a tree
//! and exits. With `OTEL_EXPORTER_OTLP_ENDPOINT` (or any `OTEL_*` exporter
//! setting) every service also exports over OTLP.
//!
//! With a service name (`demo gateway|orders|consumer|inventory|payment`)
//! one service runs alone until Ctrl-C, printing its spans on the console
//! unless an OTLP endpoint is set. Its environment:
//!
//! | variable | default | used by |
//! | --- | --- | --- |
//! | `LISTEN_ADDR` | gateway `127.0.0.1:8080`, orders `127.0.0.1:50051`, inventory `127.0.0.1:8081`, payment `127.0.0.1:8082` | the service itself |
//! | `ORDERS_ADDR` | `127.0.0.1:50051` | gateway |
//! | `INVENTORY_ADDR`, `PAYMENT_ADDR` | `127.0.0.1:8081`, `127.0.0.1:8082` | consumer |
//! | `DEMO_BROKER` | `kafka` | orders, consumer (`kafka`, `nats`, `rabbitmq`) |
//! | `KAFKA_BROKERS` | – (required with Kafka: the mock cluster lives in one process) | orders, consumer |
//! | `NATS_URL` | `nats://127.0.0.1:4222` | orders, consumer |
//! | `AMQP_URL` | `amqp://guest:guest@127.0.0.1:5672/%2f` | orders, consumer |
//! | `DEMO_NAMESPACE` | `shop` | prefix of topics, subjects and queues |
//! | `OTEL_*` | | every service (`OTEL_SERVICE_NAME` overrides the `shop-*` name) |
//!
//! Then `curl -XPOST localhost:8080/orders -d '{"customer":"alice","item":"book","quantity":1,"amount_cents":1200,"card":"ok"}'`.

use std::time::Duration;

use otel_examples::shop::broker::BrokerConfig;
use otel_examples::shop::spans::SpanStore;
use otel_examples::shop::{BoxError, OrderRequest, Shop, ShopConfig, place_order, trace_tree};
use otel_kit_core::opentelemetry::trace::TraceId;

/// How long the demo waits for all traces to complete.
const TRACE_WAIT: Duration = Duration::from_secs(30);

fn order(customer: &str, item: &str, quantity: u32, amount_cents: u64, card: &str) -> OrderRequest {
    OrderRequest {
        customer: customer.into(),
        item: item.into(),
        quantity,
        amount_cents,
        card: card.into(),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if let Some(service) = std::env::args().nth(1) {
        return otel_examples::shop::run_service(&service).await;
    }

    let store = SpanStore::new();
    let broker = BrokerConfig::from_env()?;
    println!("starting the shop (broker: {})", broker.kind);
    let shop = Shop::start(ShopConfig::new(broker, store.clone())).await?;
    let gateway = shop.gateway_url();

    // A probe: answered, but kept out of the traces by the health-check filter.
    let health = reqwest::get(format!("{gateway}/healthz")).await?;
    println!("GET /healthz -> {}", health.status());

    let orders = [
        order("alice", "book", 1, 1_200, "ok"),
        order("bob", "lamp", 2, 4_500, "flaky"),
        order("carol", "piano", 1, 900_000, "declined"),
    ];
    let mut placed = Vec::new();
    for o in &orders {
        let accepted = place_order(&gateway, o, &[]).await?;
        println!(
            "POST /orders {} x{} for {} (card {}) -> {} {}",
            o.item, o.quantity, o.customer, o.card, accepted.status, accepted.order_id
        );
        let trace_id = TraceId::from_hex(&accepted.trace_id)?;
        placed.push((o, accepted, trace_id));
    }

    let ids: Vec<TraceId> = placed.iter().map(|(_, _, t)| *t).collect();
    let complete = store
        .wait_until(TRACE_WAIT, |spans| {
            ids.iter().all(|id| {
                let trace: Vec<_> = spans
                    .iter()
                    .filter(|s| s.span.span_context.trace_id() == *id)
                    .cloned()
                    .collect();
                trace_tree::is_complete(&trace)
            })
        })
        .await;

    for (o, accepted, trace_id) in &placed {
        let trace = store.trace(*trace_id);
        println!(
            "\norder {} · {} · {} x{} · card {} · trace {} · {} spans",
            accepted.order_id,
            o.customer,
            o.item,
            o.quantity,
            o.card,
            trace_id,
            trace.len()
        );
        print!("{}", trace_tree::render(&trace));
    }
    let untraced_probe = store
        .spans()
        .iter()
        .all(|s| !s.span.name.contains("/healthz"));
    shop.shutdown().await?;
    if !complete {
        return Err(format!("the traces were not complete after {TRACE_WAIT:?}").into());
    }
    if !untraced_probe {
        return Err("the /healthz probe was traced".into());
    }
    Ok(())
}
