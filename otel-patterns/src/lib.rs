//! Traced distributed-transaction and resilience patterns: a durable,
//! crash-recoverable [`saga`], [`twopc`] (two-phase commit), [`retry`] and a
//! circuit [`breaker`] — each a plain async API and, where it fits, a tower
//! layer ([`retry::RetryLayer`], [`breaker::CircuitBreakerLayer`]), each as
//! visible in a trace as an HTTP request.
//!
//! ```
//! use otel_kit_patterns::breaker::CircuitBreaker;
//! use otel_kit_patterns::retry::{RetryDecision, RetryPolicy};
//! use otel_kit_patterns::saga::{Saga, Step, StepContext, StepError};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // A saga: when a step fails, the completed ones are compensated,
//! // newest first. The input is the amount to charge.
//! let saga = Saga::<u32>::builder("order")
//!     .step(
//!         Step::new("reserve_inventory", |_| async { Ok(()) })
//!             .compensate_with(|_| async { Ok(()) }),
//!     )
//!     .step(Step::new("charge_payment", |cx: StepContext<u32>| async move {
//!         if *cx.input > 100 {
//!             return Err(StepError::new("declined", "over limit"));
//!         }
//!         Ok(())
//!     }))
//!     .build();
//! assert_eq!(saga.run(20).await.unwrap().outcome.as_str(), "completed");
//! assert_eq!(saga.run(500).await.unwrap().outcome.as_str(), "compensated");
//!
//! // Retry inside a circuit breaker.
//! let breaker = CircuitBreaker::builder("pricing").build();
//! let retry = RetryPolicy::builder("get-price")
//!     .initial_backoff(Duration::from_millis(1))
//!     .build();
//! let price = retry
//!     .run(
//!         |_attempt| breaker.call(async { Ok::<u32, std::io::Error>(42) }),
//!         |r| if r.is_err() { RetryDecision::Retry } else { RetryDecision::Stop },
//!     )
//!     .await
//!     .unwrap();
//! assert_eq!(price, 42);
//! # }
//! ```
//!
//! Every pattern records through the global tracer, meter and logger
//! providers (the ones `otel_kit_core::init` installs) with no call needed; its
//! builder has the family's shared setters to record elsewhere
//! (`tracer_provider`, `meter_provider`, `logger_provider`, any API
//! provider, e.g. `otel_kit_core::testing::Capture`'s in tests) and to choose
//! where exceptions go (`exception_signal`). Sagas and transactions write
//! their state to a durable [`log`] (in memory by default, PostgreSQL with
//! feature `postgres`) so a restarted process can finish them.
//!
//! Recording with given providers instead (every pattern builder has the
//! same setters), here a test capture's:
//!
//! ```
//! use otel_kit_core::testing::Capture;
//! use otel_kit_patterns::saga::Saga;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let capture = Capture::new();
//! let saga = Saga::<u32>::builder("order")
//!     .tracer_provider(&capture.tracer_provider())
//!     .meter_provider(&capture.meter_provider())
//!     .logger_provider(&capture.logger_provider())
//!     .build();
//! saga.run(1).await.unwrap();
//! capture.span("saga order").assert_attr("saga.outcome", "completed");
//! # }
//! ```
//!
//! # Names
//!
//! One prefix per pattern; errors as `error.type`; units in UCUM. Every
//! name is a constant in [`names`].
//!
//! ## Spans
//!
//! | Span | Kind | Parent / links | Attributes |
//! |---|---|---|---|
//! | `saga {saga.name}` | internal | current context; after recovery a new root linked (`saga.link.role=original`) to the original | `saga.name`, `saga.id`, `saga.recovered`, `saga.outcome`, `error.type` |
//! | `saga.step {step}` | internal | the saga span | `saga.name`, `saga.id`, `saga.step.name`, `saga.step.index`, `saga.step.attempts`, `error.type` |
//! | `saga.compensate {step}` | internal | the saga span; links to the step span it undoes (`saga.link.role=undoes`) and to the failed step span (`triggered_by`) | as a step, plus `saga.compensation.trigger.step`, `saga.compensation.trigger.error_type` |
//! | `tx {tx.name}` | internal | current context; after recovery a new root linked to the original | `tx.name`, `tx.id`, `tx.recovered`, `tx.decision`, `tx.outcome`, `error.type` |
//! | `tx.prepare`, `tx.commit`, `tx.rollback` | internal | the transaction span | `tx.phase`, `tx.decision` |
//! | `tx.prepare {participant}`, `tx.commit {participant}`, `tx.rollback {participant}` | internal | the phase span; phase-two spans link to the prepare span | `tx.phase`, `tx.participant.name`, `tx.participant.outcome` (`ok`, `failed`, `timeout`), `tx.attempts`, `error.type` |
//! | `retry` | internal | current context | `retry.operation`, `retry.attempts`, `retry.outcome` (`success`, `non_retryable`, `attempts_exhausted`, `elapsed_exceeded`, `budget_exhausted`), `error.type` |
//! | `retry.attempt` | internal | the `retry` span | `retry.operation`, `retry.attempt` (1 = first try), `retry.delay` (s), `retry.server_delay`, `error.type` (`retryable_result` for a retried response) |
//! | `circuit_breaker.rejected` | internal | current context | `circuit_breaker.name`, `circuit_breaker.state`, `error.type=circuit_open`, status error |
//!
//! The retry tower layer ([`retry::RetryLayer`]) puts
//! `otel_kit_core::instrument::ResendCount` on every re-sent request, so the
//! otel-kit-http / otel-kit-grpc client span of that attempt records
//! `http.request.resend_count`.
//!
//! When the saga span is not sampled, steps and compensations run in its
//! context without spans of their own. Likewise, when the `retry` span is
//! not recording (not sampled), attempts run in its context without
//! `retry.attempt` spans.
//!
//! ## Events
//!
//! | Event | On | Attributes |
//! |---|---|---|
//! | `saga.step.retry` | step / compensation span | `retry.attempt` (next), `retry.delay` (s), `error.type` |
//! | `saga.barrier.duplicate`, `saga.barrier.null_compensation`, `saga.barrier.hanging` | current span of the participant | `saga.id`, `saga.barrier.branch`, `saga.barrier.op` |
//! | `retry.backoff` | `retry` span (phase-two participant span for 2PC) | `retry.attempt` (next), `retry.delay` (s), `retry.server_delay` |
//! | `retry.budget_exhausted` | `retry` span | `retry.attempt` |
//! | `circuit_breaker.state_change` | the span current when the call that caused it was recorded (or acquired) | `circuit_breaker.name`, `circuit_breaker.transition.from`, `circuit_breaker.transition.to`, `circuit_breaker.transition.reason` (`failure_rate`, `slow_call_rate`, `wait_elapsed`, `trial_calls_succeeded`, `manual`) |
//!
//! ## Metrics
//!
//! | Metric | Instrument | Unit | Attributes |
//! |---|---|---|---|
//! | `saga.executions` | counter | `{execution}` | `saga.name`, `saga.outcome` (`completed`, `compensated`, `stuck`) |
//! | `saga.duration` | histogram (`DURATION_BUCKETS`) | `s` | `saga.name`, `saga.outcome` |
//! | `saga.compensations` | counter | `{compensation}` | `saga.name`, `saga.step.name`, `saga.compensation.outcome` (`compensated`, `failed`) |
//! | `tx.transactions` | counter | `{transaction}` | `tx.name`, `tx.outcome` (`committed`, `rolled_back`, `in_doubt`) |
//! | `tx.duration` | histogram | `s` | `tx.name`, `tx.outcome` |
//! | `retry.attempts` | histogram (1, 2, 3, 4, 5, 7, 10, 20) | `{attempt}` | `retry.operation`, `retry.outcome` |
//! | `retry.budget.exhausted` | counter | `{retry}` | `retry.operation` |
//! | `circuit_breaker.calls` | observable counter | `{call}` | `circuit_breaker.name`, `circuit_breaker.outcome` (`success`, `failure`, `slow` = slow success, `rejected`) |
//! | `circuit_breaker.state` | observable gauge | `{state}` | `circuit_breaker.name`, `circuit_breaker.state`: 1 for the current state, 0 for the others |
//! | `circuit_breaker.transitions` | counter | `{transition}` | `circuit_breaker.name`, `circuit_breaker.transition.from`, `circuit_breaker.transition.to` |
//!
//! (The two-phase-commit names use the `tx.` prefix: metric instrument
//! names must start with a letter, so `2pc.*` would be dropped by the SDK.)
//!
//! ## Failures
//!
//! A failed span has status Error and `error.type` by the family's one rule
//! (`otel_kit_core::instrument::record_exception`): the class a
//! [`saga::StepError`] names; otherwise the error's full Rust type path
//! (`std::io::error::Error`) when the pattern knows its type (an error a
//! step converted into a `StepError` with `?`, a retried operation's error
//! type); `_OTHER` for a type-erased [`BoxError`] (a participant's error, a
//! step's [`StepError::from_boxed`](saga::StepError::from_boxed)).
//! Errors raised by an action, compensation, participant or retried
//! operation also record an exception: an `exception` span event, or a log
//! record (`OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN=logs`, or the builders'
//! `exception_signal`) attached to the span, emitted whether or not the span
//! is sampled:
//!
//! | Log record event name | Severity | On |
//! |---|---|---|
//! | `saga.exception` | ERROR | the saga's log refused a write |
//! | `saga.step.exception` | ERROR | a step action or compensation failed |
//! | `tx.exception` | ERROR | the transaction's log refused a write |
//! | `tx.participant.exception` | ERROR | a prepare, commit or rollback call failed |
//! | `retry.attempt.exception` | WARN | a retried operation's attempt returned an error |
//!
//! Failures that explain themselves (a timeout, a rejected call
//! `circuit_open`, a retried response `retryable_result`, a compensated
//! saga, a rolled-back transaction) set status and `error.type` without an
//! exception.
//!
//! # Features
//!
//! - `postgres`: [`log::PostgresLog`] (saga and transaction log with
//!   recovery claims, barrier store) and [`saga::TxBarrier`] (the barrier
//!   inside the participant's own database transaction) over
//!   `tokio-postgres`; the log writes through any
//!   [`log::PostgresClient`], otel-kit-db's traced client included.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod breaker;
mod failure;
mod instrumentation;
pub mod log;
pub mod names;
pub mod retry;
pub mod saga;
pub mod twopc;

pub use instrumentation::SCOPE;

/// A type-erased error: what a 2PC [`Participant`](twopc::Participant)
/// returns. A [`saga::StepError`] converted into one keeps its class.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The family's one clock (`otel_kit_core::clock`), re-exported: the breaker
/// and the retry budget take any [`Clock`](clock::Clock).
pub use otel_kit_core::clock;
