//! The consumer of `order.created`: runs the order saga of `otel_kit_patterns`
//! for each order and publishes `order.confirmed` or `order.cancelled`.
//!
//! Steps: `reserve_inventory` (HTTP to the inventory service; compensated
//! by `release` over HTTP) and `charge_payment` (HTTP to the payment service
//! through a retry policy and a circuit breaker). `charge_payment` reads the
//! customer from the baggage the gateway set three hops earlier and records
//! it as the span attribute `shop.customer`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use otel_kit_core::Telemetry;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_http::client::TracingMiddleware;
use otel_kit_patterns::breaker::{BreakerError, CircuitBreaker, Outcome};
use otel_kit_patterns::retry::{RetryDecision, RetryPolicy, server_delay};
use otel_kit_patterns::saga::{Saga, SagaOutcome, Step, StepContext, StepError};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde::Serialize;

use super::broker::{ORDER_CANCELLED, ORDER_CONFIRMED, Publisher, Subscription};
use super::inventory::StockRequest;
use super::payment::ChargeRequest;
use super::{BoxError, CUSTOMER_BAGGAGE, ORDER_ID_ATTRIBUTE, OrderEvent, SharedPropagator};

/// The saga's name (`saga.name`).
pub const SAGA_NAME: &str = "order";

/// Everything the saga's steps call.
struct Backends {
    http: ClientWithMiddleware,
    inventory_url: String,
    payment_url: String,
    payment_retry: RetryPolicy,
    payment_breaker: CircuitBreaker,
}

impl Backends {
    async fn post(
        &self,
        url: String,
        body: &impl Serialize,
    ) -> Result<reqwest::Response, BoxError> {
        Ok(self
            .http
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body)?)
            .send()
            .await?)
    }

    async fn stock(&self, action: &str, order: &OrderEvent) -> Result<(), StepError> {
        let request = StockRequest {
            order_id: order.order_id.clone(),
            item: order.order.item.clone(),
            quantity: order.order.quantity,
        };
        let url = format!("{}/inventory/{action}", self.inventory_url);
        match self.post(url, &request).await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => {
                Err(StepError::new("out_of_stock", "not enough stock"))
            }
            Ok(r) => Err(StepError::new(
                "inventory_error",
                format!("inventory answered {}", r.status()),
            )),
            Err(e) => Err(StepError::new("inventory_unreachable", e.to_string())),
        }
    }

    async fn charge(&self, order: &OrderEvent) -> Result<(), StepError> {
        // Baggage from the gateway, three hops away (gRPC, broker, saga).
        let cx = Context::current();
        if let Some(customer) = otel_kit_core::propagation::baggage_get(&cx, CUSTOMER_BAGGAGE) {
            cx.span()
                .set_attribute(KeyValue::new(CUSTOMER_BAGGAGE, customer));
        }
        let request = ChargeRequest {
            order_id: order.order_id.clone(),
            amount_cents: order.order.amount_cents,
            card: order.order.card.clone(),
        };
        let url = format!("{}/payments/charge", self.payment_url);
        let result = self
            .payment_retry
            .run(
                |_attempt| {
                    self.payment_breaker
                        .call_classified(self.post(url.clone(), &request), |r| match r {
                            Ok(resp) if resp.status().is_server_error() => Outcome::Failure,
                            Ok(_) => Outcome::Success,
                            Err(_) => Outcome::Failure,
                        })
                },
                |r| match r {
                    Err(BreakerError::Open(_)) => RetryDecision::Stop,
                    Err(BreakerError::Inner(_)) => RetryDecision::Retry,
                    Ok(resp) if resp.status().is_server_error() => {
                        server_delay::retry_after(resp.headers(), SystemTime::now())
                            .map_or(RetryDecision::Retry, RetryDecision::RetryAfter)
                    }
                    Ok(_) => RetryDecision::Stop,
                },
            )
            .await;
        match result {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if r.status() == reqwest::StatusCode::PAYMENT_REQUIRED => {
                Err(StepError::new("card_declined", "the card was declined"))
            }
            Ok(r) => Err(StepError::new(
                "payment_unavailable",
                format!("payment answered {}", r.status()),
            )),
            Err(BreakerError::Open(e)) => Err(StepError::new("circuit_open", e.to_string())),
            Err(BreakerError::Inner(e)) => {
                Err(StepError::new("payment_unreachable", e.to_string()))
            }
        }
    }
}

/// The order saga and what it calls.
#[derive(Clone)]
pub struct OrderSaga {
    saga: Saga<OrderEvent>,
}

impl std::fmt::Debug for OrderSaga {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderSaga").finish_non_exhaustive()
    }
}

impl OrderSaga {
    /// The saga recording with `telemetry`'s providers, calling the
    /// inventory and payment services at these base URLs.
    pub fn new(telemetry: &Telemetry, inventory_url: String, payment_url: String) -> Self {
        let http = ClientBuilder::new(reqwest::Client::new())
            .with(
                TracingMiddleware::builder()
                    .tracer_provider(telemetry.tracer_provider())
                    .meter_provider(telemetry.meter_provider())
                    .propagator(SharedPropagator(telemetry.propagator()))
                    .build_middleware(),
            )
            .build();
        let backends = Arc::new(Backends {
            http,
            inventory_url,
            payment_url,
            payment_retry: RetryPolicy::builder("POST /payments/charge")
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(10))
                .tracer_provider(telemetry.tracer_provider())
                .meter_provider(telemetry.meter_provider())
                .logger_provider(telemetry.logger_provider())
                .build(),
            payment_breaker: CircuitBreaker::builder("payment")
                .tracer_provider(telemetry.tracer_provider())
                .meter_provider(telemetry.meter_provider())
                .logger_provider(telemetry.logger_provider())
                .build(),
        });
        let (reserve, release, charge) = (backends.clone(), backends.clone(), backends);
        let saga = Saga::<OrderEvent>::builder(SAGA_NAME)
            .step(
                Step::new("reserve_inventory", move |cx: StepContext<OrderEvent>| {
                    let b = reserve.clone();
                    async move { b.stock("reserve", &cx.input).await }
                })
                .compensate_with(move |cx: StepContext<OrderEvent>| {
                    let b = release.clone();
                    async move { b.stock("release", &cx.input).await }
                }),
            )
            .step(Step::new(
                "charge_payment",
                move |cx: StepContext<OrderEvent>| {
                    let b = charge.clone();
                    async move { b.charge(&cx.input).await }
                },
            ))
            .tracer_provider(telemetry.tracer_provider())
            .meter_provider(telemetry.meter_provider())
            .logger_provider(telemetry.logger_provider())
            .build();
        OrderSaga { saga }
    }

    /// Runs the saga for `order` under the current context; returns the
    /// outcome event to publish and its payload.
    pub async fn handle(&self, order: OrderEvent) -> Result<(&'static str, OrderEvent), BoxError> {
        let report = self.saga.run(order.clone()).await?;
        Ok(match report.outcome {
            SagaOutcome::Completed => (ORDER_CONFIRMED, order),
            SagaOutcome::Compensated { error_type, .. } | SagaOutcome::Stuck { error_type, .. } => {
                (
                    ORDER_CANCELLED,
                    OrderEvent {
                        reason: Some(error_type),
                        ..order
                    },
                )
            }
        })
    }

    /// Consumes `order.created` from `subscription` until it ends: each
    /// order's saga runs inside the event's process span, and the outcome
    /// is published with `publisher` from there.
    pub async fn run(self, mut subscription: Subscription, publisher: Publisher) {
        while let Some(event) = subscription.next().await {
            let cx = event.context.clone();
            let result: Result<(), BoxError> = async {
                let order: OrderEvent = serde_json::from_slice(&event.payload)?;
                Context::current()
                    .span()
                    .set_attribute(KeyValue::new(ORDER_ID_ATTRIBUTE, order.order_id.clone()));
                let (outcome, payload) = self.handle(order).await?;
                publisher
                    .publish(outcome, &payload.order_id, &serde_json::to_vec(&payload)?)
                    .await
            }
            .with_context(cx)
            .await;
            if let Err(e) = result {
                eprintln!("consumer: {e}");
            }
            event.end().await;
        }
    }
}
