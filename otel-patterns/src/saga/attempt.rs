//! One action or compensation run to the end: its attempts, each under the
//! step's timeout, with the backoff between them.

use super::definition::{ActionFn, StepContext, StepRetry};
use crate::names;
use opentelemetry::trace::{FutureExt, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use otel_kit_core::opentelemetry;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// How the attempts of an action or compensation ended.
pub(super) enum Attempted {
    /// It succeeded, at this attempt.
    Ok(u32),
    /// It failed at every attempt.
    Failed {
        attempts: u32,
        error_type: String,
        /// The last error's message (`None`: timed out).
        message: Option<String>,
    },
}

/// Runs `f` in `span_cx` until it succeeds or `retry` runs out, with a
/// `saga.step.retry` event on the span before each new attempt.
pub(super) async fn run_attempts<I>(
    span_cx: &Context,
    f: &ActionFn<I>,
    retry: &StepRetry,
    saga_id: &Arc<str>,
    step: &Arc<str>,
    input: &Arc<I>,
) -> Attempted {
    let max = retry.max_attempts.max(1);
    let mut delay = Duration::ZERO;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let fut = f(StepContext {
            saga_id: saga_id.clone(),
            step: step.clone(),
            attempt,
            input: input.clone(),
        })
        .with_context(span_cx.clone());
        let (error_type, message) = match retry.timeout {
            None => match fut.await {
                Ok(()) => return Attempted::Ok(attempt),
                Err(e) => {
                    let message = e.to_string();
                    (e.error_type, Some(message))
                }
            },
            Some(t) => match tokio::time::timeout(t, fut).await {
                Ok(Ok(())) => return Attempted::Ok(attempt),
                Ok(Err(e)) => {
                    let message = e.to_string();
                    (e.error_type, Some(message))
                }
                Err(_) => (Cow::Borrowed("timeout"), None),
            },
        };
        if attempt >= max {
            return Attempted::Failed {
                attempts: attempt,
                error_type: error_type.into_owned(),
                message,
            };
        }
        delay = retry.backoff.delay(attempt, delay, &mut rand::rng());
        let span = span_cx.span();
        if span.is_recording() {
            span.add_event(
                names::SAGA_RETRY_EVENT,
                vec![
                    KeyValue::new(names::RETRY_ATTEMPT, i64::from(attempt + 1)),
                    KeyValue::new(names::RETRY_DELAY, delay.as_secs_f64()),
                    KeyValue::new(names::ERROR_TYPE, error_type),
                ],
            );
        }
        tokio::time::sleep(delay).await;
    }
}
