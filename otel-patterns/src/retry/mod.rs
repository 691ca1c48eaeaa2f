//! Retry with exponential backoff and jitter, attempt and elapsed-time caps,
//! result/error classification, server-provided delays and a retry budget;
//! every attempt a span.
//!
//! ```
//! use otel_kit_patterns::retry::{RetryPolicy, RetryDecision};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let policy = RetryPolicy::builder("fetch-price")
//!     .max_attempts(3)
//!     .initial_backoff(Duration::from_millis(1))
//!     .build();
//! let r: Result<u32, &str> = policy
//!     .run(|attempt| async move { if attempt < 2 { Err("flaky") } else { Ok(42) } },
//!          |r| if r.is_err() { RetryDecision::Retry } else { RetryDecision::Stop })
//!     .await;
//! assert_eq!(r, Ok(42));
//! # }
//! ```

mod backoff;
mod budget;
mod layer;
pub mod server_delay;

pub use backoff::{Backoff, Jitter};
pub use budget::RetryBudget;
pub use layer::{RetryLayer, RetryService};

use crate::failure::RETRY_ATTEMPT_EXCEPTION;
use crate::instrumentation::{self, Instruments, shared_kv};
use crate::names;
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::trace::{FutureExt, SpanBuilder, SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use otel_kit_core::instrument::{
    ErrorRecord, ExceptionEvents, Options, SpanStarter, record_error, record_exception,
};
use otel_kit_core::opentelemetry;
use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What to do after an attempt: the classifier of
/// [`RetryPolicy::run`] returns it for each result.
///
/// ```
/// use otel_kit_patterns::retry::RetryDecision;
/// use std::time::Duration;
///
/// fn classify(r: &Result<u16, std::io::Error>) -> RetryDecision {
///     match r {
///         Ok(503) => RetryDecision::RetryAfter(Duration::from_secs(1)),
///         Ok(_) => RetryDecision::Stop,
///         Err(_) => RetryDecision::Retry,
///     }
/// }
/// assert_eq!(classify(&Ok(200)), RetryDecision::Stop);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// The result is final (success, or an error not worth retrying).
    Stop,
    /// Retry after the backoff delay.
    Retry,
    /// Retry after this server-provided delay (`Retry-After`, gRPC
    /// `RetryInfo`), capped by the backoff maximum.
    RetryAfter(Duration),
}

/// How a retried call ended (`retry.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The last attempt's result was final and not an error.
    Success,
    /// The last attempt's error is not retryable.
    NonRetryable,
    /// Attempts ran out.
    AttemptsExhausted,
    /// The next delay would pass the elapsed-time cap.
    ElapsedExceeded,
    /// The budget refused a retry.
    BudgetExhausted,
}

impl RetryOutcome {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryOutcome::Success => "success",
            RetryOutcome::NonRetryable => "non_retryable",
            RetryOutcome::AttemptsExhausted => "attempts_exhausted",
            RetryOutcome::ElapsedExceeded => "elapsed_exceeded",
            RetryOutcome::BudgetExhausted => "budget_exhausted",
        }
    }
}

/// A retry policy: cheap to clone, shareable by every call of a client.
/// [`run`](Self::run) retries any async call; [`RetryLayer`] retries the
/// requests of a tower HTTP / gRPC client.
///
/// ```no_run
/// use otel_kit_patterns::retry::{RetryBudget, RetryDecision, RetryPolicy};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # async fn fetch_price(sku: &str) -> Result<u32, std::io::Error> { Ok(1) }
/// # async fn f() -> Result<(), std::io::Error> {
/// let policy = RetryPolicy::builder("fetch-price")
///     .max_attempts(4)
///     .max_elapsed(Duration::from_secs(5))
///     // Retries add at most 10 % to the load, however many calls fail.
///     .budget(Arc::new(RetryBudget::new(0.1, 100, 1)))
///     .build();
/// let price = policy
///     .run(
///         |_attempt| fetch_price("sku-1"),
///         |r| match r {
///             Err(e) if e.kind() == std::io::ErrorKind::TimedOut => RetryDecision::Retry,
///             _ => RetryDecision::Stop,
///         },
///     )
///     .await?;
/// # let _ = price; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    inner: Arc<PolicyInner>,
}

#[derive(Debug)]
struct PolicyInner {
    operation: KeyValue,
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    backoff: Backoff,
    budget: Option<Arc<RetryBudget>>,
    tracer: SpanStarter,
    exceptions: ExceptionEvents,
    attempts: Histogram<u64>,
    exhausted: Counter<u64>,
    /// `retry.attempts` attributes, one pair per [`RetryOutcome`] (in
    /// declaration order), built once.
    outcome_attrs: [[KeyValue; 2]; 5],
}

/// Builder of a [`RetryPolicy`], from [`RetryPolicy::builder`]; records
/// through the global providers unless given others (the family's shared
/// setters).
///
/// ```
/// use otel_kit_patterns::retry::{Backoff, Jitter, RetryPolicy};
/// use std::time::Duration;
///
/// let policy = RetryPolicy::builder("charge")
///     .max_attempts(5)
///     .backoff(Backoff {
///         initial: Duration::from_millis(50),
///         max: Duration::from_secs(2),
///         multiplier: 2.0,
///         jitter: Jitter::Decorrelated,
///     })
///     .build();
/// assert_eq!(policy.max_attempts(), 5);
/// ```
#[derive(Debug)]
pub struct RetryPolicyBuilder {
    operation: String,
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    backoff: Backoff,
    budget: Option<Arc<RetryBudget>>,
    options: Options,
}

impl RetryPolicyBuilder {
    otel_kit_core::instrumentation_setters!(options: providers, exceptions);

    /// Attempts in total, first try included (default 3, at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
    /// Gives up rather than wait past this much time since the first try.
    pub fn max_elapsed(mut self, d: Duration) -> Self {
        self.max_elapsed = Some(d);
        self
    }
    /// The whole backoff configuration.
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }
    /// Base delay.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.backoff.initial = d;
        self
    }
    /// Largest delay.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.backoff.max = d;
        self
    }
    /// Growth factor.
    pub fn multiplier(mut self, m: f64) -> Self {
        self.backoff.multiplier = m;
        self
    }
    /// Jitter kind.
    pub fn jitter(mut self, j: Jitter) -> Self {
        self.backoff.jitter = j;
        self
    }
    /// A budget shared with other policies or clients.
    pub fn budget(mut self, b: Arc<RetryBudget>) -> Self {
        self.budget = Some(b);
        self
    }
    /// Builds the policy.
    pub fn build(self) -> RetryPolicy {
        let Instruments {
            tracer,
            meter,
            exceptions,
        } = Instruments::resolve(self.options);
        let attempts = meter
            .u64_histogram(names::RETRY_ATTEMPTS_METRIC)
            .with_unit("{attempt}")
            .with_description("Attempts per retried call, first try included.")
            .with_boundaries(vec![1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 20.0])
            .build();
        let exhausted = meter
            .u64_counter(names::RETRY_BUDGET_EXHAUSTED)
            .with_unit("{retry}")
            .with_description("Retries refused by the retry budget.")
            .build();
        let operation = shared_kv(names::RETRY_OPERATION, Arc::from(self.operation));
        let outcome_attrs = [
            RetryOutcome::Success,
            RetryOutcome::NonRetryable,
            RetryOutcome::AttemptsExhausted,
            RetryOutcome::ElapsedExceeded,
            RetryOutcome::BudgetExhausted,
        ]
        .map(|o| {
            [
                operation.clone(),
                KeyValue::new(names::RETRY_OUTCOME, o.as_str()),
            ]
        });
        RetryPolicy {
            inner: Arc::new(PolicyInner {
                operation,
                outcome_attrs,
                max_attempts: self.max_attempts,
                max_elapsed: self.max_elapsed,
                backoff: self.backoff,
                budget: self.budget,
                tracer,
                exceptions,
                attempts,
                exhausted,
            }),
        }
    }
}

impl RetryPolicy {
    /// A builder: 3 attempts, full-jitter backoff from 100 ms to 10 s, no
    /// elapsed cap, no budget.
    pub fn builder(operation: impl Into<String>) -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            operation: operation.into(),
            max_attempts: 3,
            max_elapsed: None,
            backoff: Backoff::default(),
            budget: None,
            options: instrumentation::options(),
        }
    }

    /// The backoff settings.
    pub fn backoff(&self) -> &Backoff {
        &self.inner.backoff
    }

    /// The attempt cap.
    pub fn max_attempts(&self) -> u32 {
        self.inner.max_attempts
    }

    /// Runs `op` (given the attempt number, 1 for the first try) until
    /// `classify` says [`RetryDecision::Stop`], or a cap, or the budget,
    /// stops it; returns the last result. Each attempt runs inside its own
    /// `retry.attempt` span, a child of a `retry` span for the whole call
    /// (when the `retry` span is not recording, attempts run in its context
    /// with no span of their own).
    pub async fn run<T, E, F, Fut, C>(&self, op: F, classify: C) -> Result<T, E>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(&Result<T, E>) -> RetryDecision,
    {
        self.run_in(&Context::current(), op, classify).await
    }

    /// [`run`](Self::run) retrying on every error.
    pub async fn run_on_error<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run(op, |r| match r {
            Ok(_) => RetryDecision::Stop,
            Err(_) => RetryDecision::Retry,
        })
        .await
    }

    /// [`run`](Self::run) under an explicit parent context.
    pub async fn run_in<T, E, F, Fut, C>(
        &self,
        parent: &Context,
        mut op: F,
        classify: C,
    ) -> Result<T, E>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(&Result<T, E>) -> RetryDecision,
    {
        let p = &*self.inner;
        // Room for `retry.attempts`, `retry.outcome` and `error.type`, set at
        // the end, so the SDK's attribute vector never reallocates.
        let mut call_attrs = Vec::with_capacity(4);
        call_attrs.push(p.operation.clone());
        let call_cx = p.tracer.start_simple(
            SpanBuilder::from_name(names::RETRY_SPAN)
                .with_kind(SpanKind::Internal)
                .with_attributes(call_attrs),
            parent,
        );
        // A call span that records nothing (not sampled) gets no attempt
        // spans: the attempts run in its context, as the steps of an
        // unsampled saga do.
        let sampled = call_cx.span().is_recording();
        if let Some(b) = &p.budget {
            b.deposit();
        }
        let started = tokio::time::Instant::now();
        let mut attempt = 0u32;
        let mut delay = Duration::ZERO;
        let mut from_server = false;
        let (result, outcome) = loop {
            attempt += 1;
            let (r, decision) = if sampled {
                // attempt 1: operation, attempt, error.type; later ones add
                // the two delay attributes.
                let mut attrs = Vec::with_capacity(if attempt > 1 { 5 } else { 3 });
                attrs.push(p.operation.clone());
                attrs.push(KeyValue::new(names::RETRY_ATTEMPT, i64::from(attempt)));
                if attempt > 1 {
                    attrs.push(KeyValue::new(names::RETRY_DELAY, delay.as_secs_f64()));
                    attrs.push(KeyValue::new(names::RETRY_DELAY_SERVER, from_server));
                }
                let attempt_cx = p.tracer.start_simple(
                    SpanBuilder::from_name(names::RETRY_ATTEMPT_SPAN)
                        .with_kind(SpanKind::Internal)
                        .with_attributes(attrs),
                    &call_cx,
                );
                let r = op(attempt).with_context(attempt_cx.clone()).await;
                let decision = classify(&r);
                let span = attempt_cx.span();
                if r.is_err() {
                    record_exception(
                        &span,
                        &attempt_error::<E>(),
                        &p.exceptions,
                        RETRY_ATTEMPT_EXCEPTION,
                    );
                } else if decision != RetryDecision::Stop {
                    record_error(&span, &RETRYABLE_RESULT);
                }
                span.end();
                (r, decision)
            } else {
                let r = op(attempt).with_context(call_cx.clone()).await;
                if r.is_err() {
                    // No attempt span: the exception log record (if
                    // exceptions go to logs) still goes out.
                    p.exceptions.emit_log(
                        call_cx.span().span_context(),
                        RETRY_ATTEMPT_EXCEPTION,
                        &attempt_error::<E>(),
                    );
                }
                let decision = classify(&r);
                (r, decision)
            };
            let server = match decision {
                RetryDecision::Stop => {
                    let o = if r.is_ok() {
                        RetryOutcome::Success
                    } else {
                        RetryOutcome::NonRetryable
                    };
                    break (r, o);
                }
                RetryDecision::Retry => None,
                RetryDecision::RetryAfter(d) => Some(d),
            };
            if attempt >= p.max_attempts {
                break (r, RetryOutcome::AttemptsExhausted);
            }
            let next = match server {
                Some(d) => d.min(p.backoff.max),
                None => p.backoff.delay(attempt, delay, &mut rand::rng()),
            };
            if let Some(cap) = p.max_elapsed
                && started.elapsed() + next > cap
            {
                break (r, RetryOutcome::ElapsedExceeded);
            }
            if let Some(b) = &p.budget
                && !b.withdraw()
            {
                p.exhausted.add(1, std::slice::from_ref(&p.operation));
                call_cx.span().add_event(
                    names::RETRY_BUDGET_EXHAUSTED_EVENT,
                    vec![KeyValue::new(names::RETRY_ATTEMPT, i64::from(attempt + 1))],
                );
                break (r, RetryOutcome::BudgetExhausted);
            }
            delay = next;
            from_server = server.is_some();
            if sampled {
                call_cx.span().add_event(
                    names::RETRY_BACKOFF_EVENT,
                    vec![
                        KeyValue::new(names::RETRY_ATTEMPT, i64::from(attempt + 1)),
                        KeyValue::new(names::RETRY_DELAY, delay.as_secs_f64()),
                        KeyValue::new(names::RETRY_DELAY_SERVER, from_server),
                    ],
                );
            }
            tokio::time::sleep(delay).await;
        };
        let span = call_cx.span();
        if sampled {
            span.set_attribute(KeyValue::new(names::RETRY_ATTEMPTS, i64::from(attempt)));
            span.set_attribute(KeyValue::new(names::RETRY_OUTCOME, outcome.as_str()));
            if outcome != RetryOutcome::Success {
                // The attempt recorded the exception; the call ends with the
                // last attempt's error.type.
                let error_type = if result.is_err() {
                    otel_kit_core::instrument::type_error_type::<E>()
                } else {
                    RETRYABLE_RESULT.error_type.as_ref()
                };
                record_error(
                    &span,
                    &ErrorRecord {
                        error_type: Cow::Borrowed(error_type),
                        message: Some(Cow::Borrowed(outcome.as_str())),
                        exception: false,
                    },
                );
            }
        }
        span.end();
        p.attempts
            .record(u64::from(attempt), &p.outcome_attrs[outcome as usize]);
        result
    }
}

/// An attempt whose result was retried (an error status in a response):
/// no exception.
const RETRYABLE_RESULT: ErrorRecord<'static> = ErrorRecord {
    error_type: Cow::Borrowed("retryable_result"),
    message: None,
    exception: false,
};

/// An attempt that returned an error of type `E`: `error.type` is its full
/// type path (`_OTHER` for a type-erased `BoxError`); an exception.
fn attempt_error<E>() -> ErrorRecord<'static> {
    ErrorRecord {
        error_type: Cow::Borrowed(otel_kit_core::instrument::type_error_type::<E>()),
        message: None,
        exception: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_attrs_are_indexed_by_outcome() {
        let p = RetryPolicy::builder("op").build();
        for o in [
            RetryOutcome::Success,
            RetryOutcome::NonRetryable,
            RetryOutcome::AttemptsExhausted,
            RetryOutcome::ElapsedExceeded,
            RetryOutcome::BudgetExhausted,
        ] {
            let [op, out] = &p.inner.outcome_attrs[o as usize];
            assert_eq!(op, &p.inner.operation);
            assert_eq!(out.key.as_str(), names::RETRY_OUTCOME);
            assert_eq!(out.value.as_str(), o.as_str());
        }
    }
}
