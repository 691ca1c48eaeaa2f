//! A saga's steps: [`Step`] (an action and its compensation, with their
//! retries), what they are given ([`StepContext`]) and how they retry
//! ([`StepRetry`]).

use super::StepError;
use crate::retry::Backoff;
use futures_util::future::BoxFuture;
use otel_kit_core::instrument::intern_span_name;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What an action or compensation is given.
#[derive(Debug)]
pub struct StepContext<I> {
    /// `saga.id`.
    pub saga_id: Arc<str>,
    /// The step's name (with the saga id, the barrier's branch key).
    pub step: Arc<str>,
    /// Attempt number, 1 for the first.
    pub attempt: u32,
    /// The saga's input.
    pub input: Arc<I>,
}

/// An action or compensation, boxed.
pub(crate) type ActionFn<I> =
    Arc<dyn Fn(StepContext<I>) -> BoxFuture<'static, Result<(), StepError>> + Send + Sync>;

/// Retries and timeout of one step's action or compensation.
///
/// Backoff delays and timeouts wait on Tokio's timer: a step that retries
/// or has a timeout needs a Tokio runtime with the time driver enabled.
///
/// ```
/// use otel_kit_patterns::retry::Backoff;
/// use otel_kit_patterns::saga::{Step, StepRetry};
/// use std::time::Duration;
///
/// let step = Step::<u32>::new("charge_payment", |_| async { Ok(()) }).retry(StepRetry {
///     max_attempts: 3,
///     backoff: Backoff::default(),
///     timeout: Some(Duration::from_secs(2)),
/// });
/// # let _ = step;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StepRetry {
    /// Attempts in total (at least 1).
    pub max_attempts: u32,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Limit of each attempt; a timed-out action is `in_doubt`.
    pub timeout: Option<Duration>,
}

impl Default for StepRetry {
    fn default() -> Self {
        StepRetry {
            max_attempts: 1,
            backoff: Backoff::default(),
            timeout: None,
        }
    }
}

/// One step of a saga definition: an action and, optionally, the
/// compensation that undoes it. Both are closures (or `async fn`s) from a
/// [`StepContext`] to a future of `Result<(), StepError>`; `?` converts
/// any error.
///
/// ```
/// use otel_kit_patterns::saga::{Step, StepContext, StepError};
/// use std::time::Duration;
///
/// async fn refund(cx: StepContext<u64>) -> Result<(), StepError> {
///     println!("refund {} for saga {}", cx.input, cx.saga_id);
///     Ok(())
/// }
///
/// let step = Step::new("charge_payment", |cx: StepContext<u64>| async move {
///     if *cx.input > 100 {
///         return Err(StepError::new("card_declined", "over the limit"));
///     }
///     Ok(())
/// })
/// .compensate_with(refund)
/// .attempts(2)
/// .timeout(Duration::from_secs(5));
/// # let _ = step;
/// ```
pub struct Step<I> {
    pub(crate) name: Arc<str>,
    pub(crate) action: ActionFn<I>,
    pub(crate) compensation: Option<ActionFn<I>>,
    pub(crate) action_retry: StepRetry,
    pub(crate) compensation_retry: StepRetry,
    /// `saga.step {name}`, interned.
    pub(crate) span_name: Cow<'static, str>,
    /// `saga.compensate {name}`, interned.
    pub(crate) comp_span_name: Cow<'static, str>,
}

impl<I> fmt::Debug for Step<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step").field("name", &self.name).finish()
    }
}

fn boxed<I, F, Fut>(f: F) -> ActionFn<I>
where
    F: Fn(StepContext<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), StepError>> + Send + 'static,
{
    Arc::new(move |cx| Box::pin(f(cx)))
}

impl<I: Send + Sync + 'static> Step<I> {
    /// A step with an action and no compensation.
    pub fn new<F, Fut>(name: impl Into<Arc<str>>, action: F) -> Self
    where
        F: Fn(StepContext<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), StepError>> + Send + 'static,
    {
        let name: Arc<str> = name.into();
        Step {
            // Interned: shared by every run's spans, no copy per span.
            span_name: intern_span_name(Cow::Owned(format!("saga.step {name}"))),
            comp_span_name: intern_span_name(Cow::Owned(format!("saga.compensate {name}"))),
            name,
            action: boxed(action),
            compensation: None,
            action_retry: StepRetry::default(),
            compensation_retry: StepRetry {
                max_attempts: 3,
                ..StepRetry::default()
            },
        }
    }

    /// The compensation undoing the action.
    pub fn compensate_with<F, Fut>(mut self, compensation: F) -> Self
    where
        F: Fn(StepContext<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), StepError>> + Send + 'static,
    {
        self.compensation = Some(boxed(compensation));
        self
    }

    /// Retries of the action (default: one attempt, no timeout).
    pub fn retry(mut self, r: StepRetry) -> Self {
        self.action_retry = r;
        self
    }

    /// Attempts of the action with the default backoff.
    pub fn attempts(mut self, n: u32) -> Self {
        self.action_retry.max_attempts = n.max(1);
        self
    }

    /// Timeout of each action attempt.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.action_retry.timeout = Some(d);
        self
    }

    /// Retries of the compensation (default: 3 attempts); when they run out
    /// the saga is `stuck`.
    pub fn compensation_retry(mut self, r: StepRetry) -> Self {
        self.compensation_retry = r;
        self
    }

    /// The step's name (`saga.step.name`).
    pub fn name(&self) -> &str {
        &self.name
    }
}
