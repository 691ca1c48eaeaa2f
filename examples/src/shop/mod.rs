//! A small shop made of five services, each with its own tracer provider
//! (`service.name`), that together make one distributed trace per order:
//!
//! ```text
//! client ─HTTP─▶ gateway ─gRPC─▶ orders ─order.created─▶ consumer (order saga)
//!                                  ▲                        ├─HTTP─▶ inventory (reserve / release)
//!                                  │                        ├─HTTP─▶ payment (retry + circuit breaker)
//!                                  └──order.confirmed/cancelled──┘
//! ```
//!
//! - [`gateway`]: axum `POST /orders` under `otel_kit_http::server`; puts the
//!   customer in the baggage and calls the order service over gRPC.
//! - [`orders`]: tonic server under `otel_kit_grpc`; publishes `order.created`
//!   and records the outcome events.
//! - [`saga`]: the consumer of `order.created`, running the order saga of
//!   `otel_kit_patterns` against [`inventory`] and [`payment`] over HTTP.
//! - [`broker`]: Kafka (in-process mock cluster by default), NATS or RabbitMQ.
//! - [`spans`] and [`trace_tree`]: the in-memory collector all providers feed
//!   in-process, and the tree printer of the `demo` binary.
//!
//! [`Shop::start`] runs everything as tasks of one process (the `demo`
//! binary's default, and the tests); [`run_service`] runs one service alone,
//! configured from the environment, for a deployment as separate processes.

pub mod broker;
pub mod gateway;
pub mod inventory;
pub mod orders;
pub mod payment;
pub mod saga;
pub mod spans;
pub mod trace_tree;

use std::net::SocketAddr;
use std::sync::Arc;

use otel_kit_core::Telemetry;
use otel_kit_core::config::{PropagatorKind, Protocol};
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::propagation::text_map_propagator::FieldIter;
use otel_kit_core::opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use broker::{Broker, BrokerConfig};
use spans::SpanStore;

/// The error type of the shop's plumbing.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Generated gRPC code of `proto/shop.proto`.
pub mod proto {
    #![allow(missing_docs)]
    tonic::include_proto!("shop.demo.v1");
}

/// The baggage key the gateway sets and the saga reads.
pub const CUSTOMER_BAGGAGE: &str = "shop.customer";
/// Span attribute naming the order on the gateway, order-service and saga spans.
pub const ORDER_ID_ATTRIBUTE: &str = "shop.order.id";

/// Service names (`service.name`) of the shop.
pub mod service {
    /// The HTTP gateway.
    pub const GATEWAY: &str = "shop-gateway";
    /// The gRPC order service.
    pub const ORDERS: &str = "shop-orders";
    /// The order saga, consumer of `order.created`.
    pub const CONSUMER: &str = "shop-consumer";
    /// The inventory HTTP service.
    pub const INVENTORY: &str = "shop-inventory";
    /// The payment HTTP service.
    pub const PAYMENT: &str = "shop-payment";
}

/// What a client posts to `POST /orders` (JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Who orders (sent on as baggage `shop.customer`).
    pub customer: String,
    /// The article.
    pub item: String,
    /// How many.
    pub quantity: u32,
    /// Amount to charge in cents.
    pub amount_cents: u64,
    /// The payment service's behaviour for this order: `ok`, `flaky` (one
    /// `503` first, then paid) or `declined` (`402`, so the saga compensates).
    pub card: String,
}

/// The gateway's answer to `POST /orders` (JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderAccepted {
    /// The order id the order service gave.
    pub order_id: String,
    /// `accepted`.
    pub status: String,
    /// The trace id of the request (hex), to find the trace.
    pub trace_id: String,
}

/// The payload of the order events (JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderEvent {
    /// The order id.
    pub order_id: String,
    /// The order as placed.
    pub order: OrderRequest,
    /// Why the order was cancelled (`order.cancelled` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A `TextMapPropagator` over a shared one (the composite `otel_kit_core`
/// configured), for the layers' `propagator(..)` options and the global slot.
#[derive(Clone)]
pub struct SharedPropagator(pub Arc<dyn TextMapPropagator + Send + Sync>);

impl std::fmt::Debug for SharedPropagator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedPropagator").finish_non_exhaustive()
    }
}

impl TextMapPropagator for SharedPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.0.inject_context(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.0.extract_with_context(cx, extractor)
    }

    fn fields(&self) -> FieldIter<'_> {
        self.0.fields()
    }
}

/// How each service's telemetry is set up.
#[derive(Clone, Debug, Default)]
pub struct TelemetryOptions {
    /// Export OTLP here (in addition to the store), overriding
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp_endpoint: Option<String>,
    /// The OTLP protocol with `otlp_endpoint` (default: from the environment).
    pub otlp_protocol: Option<Protocol>,
    /// Every provider also feeds this in-memory store.
    pub store: Option<SpanStore>,
    /// Print each service's traces on the console when nothing else is
    /// configured (the single-service mode).
    pub console_when_unconfigured: bool,
}

fn otlp_configured_in_env() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

impl TelemetryOptions {
    /// The providers of one of the in-process shop's services: its own
    /// `service.name` (forced: the five services share one process, so
    /// `OTEL_SERVICE_NAME` cannot name them), nothing global, the rest from
    /// `OTEL_*`. Without an OTLP endpoint (option or environment) and
    /// without the console fallback nothing is exported but into the store.
    pub fn install(
        &self,
        service_name: &str,
        propagators: Option<&[PropagatorKind]>,
        forward_headers: &[String],
    ) -> Result<Telemetry, otel_kit_core::SetupError> {
        self.install_named(
            Telemetry::builder().force_service_name(service_name),
            propagators,
            forward_headers,
        )
    }

    /// The providers of a service running as its own process: `service_name`
    /// is a default that `OTEL_SERVICE_NAME` (or a `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`) replaces, as a deployment expects.
    pub fn install_process(
        &self,
        service_name: &str,
    ) -> Result<Telemetry, otel_kit_core::SetupError> {
        self.install_named(Telemetry::builder().service_name(service_name), None, &[])
    }

    fn install_named(
        &self,
        builder: otel_kit_core::TelemetryBuilder,
        propagators: Option<&[PropagatorKind]>,
        forward_headers: &[String],
    ) -> Result<Telemetry, otel_kit_core::SetupError> {
        let mut builder = builder
            .service_version(env!("CARGO_PKG_VERSION"))
            .install_global(false)
            .forward_headers(forward_headers.iter().cloned());
        if let Some(kinds) = propagators {
            builder = builder.propagators(kinds);
        }
        if let Some(store) = &self.store {
            builder = builder.with_span_processor(store.processor());
        }
        match &self.otlp_endpoint {
            Some(endpoint) => {
                builder = builder.otlp_endpoint(endpoint.clone());
                if let Some(protocol) = self.otlp_protocol {
                    builder = builder.otlp_protocol(protocol);
                }
            }
            None if otlp_configured_in_env() => {}
            None if self.console_when_unconfigured => {
                builder = builder.console_when_unconfigured(true);
            }
            None => {
                builder = builder
                    .traces_exporter(&[])
                    .metrics_exporter(&[])
                    .logs_exporter(&[]);
            }
        }
        builder.install()
    }
}

/// The options of an in-process shop.
#[derive(Clone, Debug)]
pub struct ShopConfig {
    /// The broker and the names of its destinations.
    pub broker: BrokerConfig,
    /// Telemetry of every service.
    pub telemetry: TelemetryOptions,
    /// The gateway's propagators (default: `OTEL_PROPAGATORS`, else W3C
    /// trace context and baggage), e.g. `tracecontext,baggage,b3multi`
    /// behind a mesh.
    pub gateway_propagators: Option<Vec<PropagatorKind>>,
    /// Headers the gateway forwards from the incoming request to its calls,
    /// besides `x-request-id` (always forwarded).
    pub gateway_forward_headers: Vec<String>,
}

impl ShopConfig {
    /// A shop on `broker` feeding `store`.
    pub fn new(broker: BrokerConfig, store: SpanStore) -> Self {
        ShopConfig {
            broker,
            telemetry: TelemetryOptions {
                store: Some(store),
                ..TelemetryOptions::default()
            },
            gateway_propagators: None,
            gateway_forward_headers: Vec::new(),
        }
    }
}

/// Installs `telemetry`'s propagator as the global one, once per process
/// (the first shop or service started wins): `otel-kit-messaging` injects and
/// extracts with the global propagator, while the HTTP and gRPC layers get
/// each service's own.
fn install_global_propagator(telemetry: &Telemetry) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        otel_kit_core::opentelemetry::global::set_text_map_propagator(SharedPropagator(
            telemetry.propagator(),
        ));
    });
}

/// Binds a listener on 127.0.0.1, any free port.
async fn bind_local() -> Result<tokio::net::TcpListener, BoxError> {
    Ok(tokio::net::TcpListener::bind("127.0.0.1:0").await?)
}

/// All five services running as tasks of this process.
#[derive(Debug)]
pub struct Shop {
    gateway_addr: SocketAddr,
    orders_addr: SocketAddr,
    telemetry: Vec<(&'static str, Telemetry)>,
    tasks: Vec<JoinHandle<()>>,
    broker: Broker,
}

impl Shop {
    /// Starts every service (listeners on 127.0.0.1, free ports) and
    /// returns once all of them accept requests and every subscription is
    /// in place.
    pub async fn start(config: ShopConfig) -> Result<Shop, BoxError> {
        let broker = Broker::connect(config.broker.clone()).await?;
        let no_forward: Vec<String> = Vec::new();
        let install = |name: &'static str| config.telemetry.install(name, None, &no_forward);
        let orders_t = install(service::ORDERS)?;
        install_global_propagator(&orders_t);
        let consumer_t = install(service::CONSUMER)?;
        let inventory_t = install(service::INVENTORY)?;
        let payment_t = install(service::PAYMENT)?;
        let gateway_t = config.telemetry.install(
            service::GATEWAY,
            config.gateway_propagators.as_deref(),
            &config.gateway_forward_headers,
        )?;

        let mut tasks = Vec::new();
        let inventory_l = bind_local().await?;
        let inventory_addr = inventory_l.local_addr()?;
        tasks.push(tokio::spawn(inventory::serve(inventory_l, &inventory_t)));
        let payment_l = bind_local().await?;
        let payment_addr = payment_l.local_addr()?;
        tasks.push(tokio::spawn(payment::serve(payment_l, &payment_t)));

        let consumer = saga::OrderSaga::new(
            &consumer_t,
            format!("http://{inventory_addr}"),
            format!("http://{payment_addr}"),
        );
        tasks.push(tokio::spawn(
            consumer.run(
                broker
                    .subscribe(&consumer_t, broker::ORDER_CREATED, "saga")
                    .await?,
                broker.publisher(&consumer_t).await?,
            ),
        ));

        let orders_l = bind_local().await?;
        let orders_addr = orders_l.local_addr()?;
        let order_service = orders::OrderService::new(broker.publisher(&orders_t).await?);
        for event in [broker::ORDER_CONFIRMED, broker::ORDER_CANCELLED] {
            let subscription = broker.subscribe(&orders_t, event, "orders").await?;
            tasks.push(tokio::spawn(
                order_service.clone().track_outcomes(subscription),
            ));
        }
        tasks.push(tokio::spawn(order_service.serve(orders_l, &orders_t)));

        let gateway_l = bind_local().await?;
        let gateway_addr = gateway_l.local_addr()?;
        let gateway = gateway::Gateway::connect(&format!("http://{orders_addr}"), &gateway_t)?;
        tasks.push(tokio::spawn(gateway.serve(gateway_l, &gateway_t)));

        Ok(Shop {
            gateway_addr,
            orders_addr,
            telemetry: vec![
                (service::GATEWAY, gateway_t),
                (service::ORDERS, orders_t),
                (service::CONSUMER, consumer_t),
                (service::INVENTORY, inventory_t),
                (service::PAYMENT, payment_t),
            ],
            tasks,
            broker,
        })
    }

    /// The gateway's base URL (`http://127.0.0.1:port`).
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway_addr)
    }

    /// The order service's gRPC address.
    pub fn orders_addr(&self) -> SocketAddr {
        self.orders_addr
    }

    /// The broker configuration in use.
    pub fn broker(&self) -> &BrokerConfig {
        self.broker.config()
    }

    /// Stops every service and shuts every provider down (flushing what an
    /// OTLP exporter still holds); returns the first shutdown error.
    pub async fn shutdown(self) -> Result<(), BoxError> {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        let mut result = Ok(());
        for (name, telemetry) in self.telemetry {
            if let Err(e) = telemetry.shutdown().await
                && result.is_ok()
            {
                result = Err(format!("{name}: {e}").into());
            }
        }
        drop(self.broker);
        result
    }
}

/// Posts `order` to the gateway at `gateway_url` with a plain (untraced)
/// client, as an outside caller would; `headers` are sent as they are.
pub async fn place_order(
    gateway_url: &str,
    order: &OrderRequest,
    headers: &[(&str, &str)],
) -> Result<OrderAccepted, BoxError> {
    let mut request = reqwest::Client::new()
        .post(format!("{gateway_url}/orders"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(order)?);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        return Err(format!(
            "gateway answered {status}: {}",
            String::from_utf8_lossy(&body)
        )
        .into());
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Runs one service alone until Ctrl-C, configured from the environment
/// (see the `demo` binary's documentation for the variables).
pub async fn run_service(name: &str) -> Result<(), BoxError> {
    let env = |var: &str, default: &str| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    let options = TelemetryOptions {
        console_when_unconfigured: true,
        ..TelemetryOptions::default()
    };
    let (service_name, default_listen) = match name {
        "gateway" => (service::GATEWAY, "127.0.0.1:8080"),
        "orders" => (service::ORDERS, "127.0.0.1:50051"),
        "inventory" => (service::INVENTORY, "127.0.0.1:8081"),
        "payment" => (service::PAYMENT, "127.0.0.1:8082"),
        "consumer" => (service::CONSUMER, ""),
        other => {
            return Err(format!(
                "unknown service {other:?} (gateway, orders, inventory, payment or consumer)"
            )
            .into());
        }
    };
    // OTEL_SERVICE_NAME, when set, names the deployed service instead.
    let telemetry = options.install_process(service_name)?;
    // The name in effect (the deployment's, when it set one).
    let service_name = telemetry
        .report()
        .resource()
        .get(&otel_kit_core::opentelemetry::Key::from_static_str(
            otel_kit_core::semconv::resource::SERVICE_NAME,
        ))
        .map_or_else(|| service_name.to_owned(), |v| v.to_string());
    install_global_propagator(&telemetry);
    let listen = env("LISTEN_ADDR", default_listen);
    let orders_url = format!("http://{}", env("ORDERS_ADDR", "127.0.0.1:50051"));
    let inventory_url = format!("http://{}", env("INVENTORY_ADDR", "127.0.0.1:8081"));
    let payment_url = format!("http://{}", env("PAYMENT_ADDR", "127.0.0.1:8082"));

    let needs_broker = matches!(name, "orders" | "consumer");
    let broker = if needs_broker {
        let config = BrokerConfig::from_env()?;
        if config.kind == broker::BrokerKind::Kafka && config.kafka_brokers.is_none() {
            return Err("a service run alone needs a shared broker: set KAFKA_BROKERS, or DEMO_BROKER=nats|rabbitmq".into());
        }
        Some(Broker::connect(config).await?)
    } else {
        None
    };

    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    match (name, &broker) {
        ("gateway", _) => {
            let gateway = gateway::Gateway::connect(&orders_url, &telemetry)?;
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            println!(
                "{service_name}: POST http://{}/orders -> {orders_url}",
                listener.local_addr()?
            );
            tasks.push(tokio::spawn(gateway.serve(listener, &telemetry)));
        }
        ("orders", Some(broker)) => {
            let service = orders::OrderService::new(broker.publisher(&telemetry).await?);
            for event in [broker::ORDER_CONFIRMED, broker::ORDER_CANCELLED] {
                let subscription = broker.subscribe(&telemetry, event, "orders").await?;
                tasks.push(tokio::spawn(service.clone().track_outcomes(subscription)));
            }
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            println!("{service_name}: gRPC on {}", listener.local_addr()?);
            tasks.push(tokio::spawn(service.serve(listener, &telemetry)));
        }
        ("inventory", _) => {
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            println!("{service_name}: HTTP on {}", listener.local_addr()?);
            tasks.push(tokio::spawn(inventory::serve(listener, &telemetry)));
        }
        ("payment", _) => {
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            println!("{service_name}: HTTP on {}", listener.local_addr()?);
            tasks.push(tokio::spawn(payment::serve(listener, &telemetry)));
        }
        ("consumer", Some(broker)) => {
            let saga = saga::OrderSaga::new(&telemetry, inventory_url, payment_url);
            let subscription = broker
                .subscribe(&telemetry, broker::ORDER_CREATED, "saga")
                .await?;
            println!(
                "{service_name}: consuming {}",
                broker.config().destination(broker::ORDER_CREATED)
            );
            tasks.push(tokio::spawn(
                saga.run(subscription, broker.publisher(&telemetry).await?),
            ));
        }
        (other, None) => return Err(format!("{other} needs a broker").into()),
        (other, Some(_)) => return Err(format!("{other} takes no broker").into()),
    }
    // SIGTERM (the orchestrator) or Ctrl-C.
    otel_kit_core::shutdown_signal().await;
    for task in tasks {
        task.abort();
    }
    telemetry.shutdown().await?;
    Ok(())
}
