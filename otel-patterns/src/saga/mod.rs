//! Traced, durable sagas: named steps, each an action and a compensation;
//! on a failure the completed steps are compensated in reverse order. Every
//! state change is written to a [`SagaLog`] before it
//! is acted on, so [`Saga::recover`] can finish or compensate the sagas of
//! a crashed process.
//!
//! ```
//! use otel_kit_patterns::saga::{Saga, SagaOutcome, Step, StepContext, StepError};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // The input is the amount to charge.
//! let saga = Saga::<u64>::builder("order")
//!     .step(
//!         Step::new("reserve_inventory", |cx: StepContext<u64>| async move {
//!             println!("reserve for saga {}", cx.saga_id);
//!             Ok(())
//!         })
//!         .compensate_with(|_| async {
//!             println!("release the reservation");
//!             Ok(())
//!         }),
//!     )
//!     .step(Step::new("charge_payment", |cx: StepContext<u64>| async move {
//!         if *cx.input > 100 {
//!             return Err(StepError::new("card_declined", "over the limit"));
//!         }
//!         Ok(())
//!     }))
//!     .build();
//!
//! assert_eq!(saga.run(20).await.unwrap().outcome, SagaOutcome::Completed);
//! // The payment fails: `reserve_inventory` is compensated.
//! let report = saga.run(500).await.unwrap();
//! assert_eq!(report.outcome.as_str(), "compensated");
//! # }
//! ```
//!
//! Where each part lives: the definition ([`Step`], in `definition`; the
//! [`SagaBuilder`], in `builder`), the forward run (`run`), the
//! compensation in reverse order (`compensate`), recovery from the log
//! (`recover`), a step's attempts (`attempt`), the spans (`span`), the
//! states written to the log ([`SagaStatus`], [`StepState`], in `state`).
//! The log itself is [`crate::log`], shared with two-phase commit.
//!
//! A saga is `stuck` when a compensation still fails after its retries: the
//! outcome says which step, the log keeps it (find it with
//! [`Saga::stuck`]), and `saga.executions` counts it; it is never dropped.
//! `recover` does not retry stuck sagas: an operator fixes the cause, then
//! calls [`Saga::resume_stuck`].
//!
//! Recovery claims each instance in the log before resuming it
//! ([`SagaLog::claim`], a lease; `PostgresLog`
//! keeps it in the record's row), so concurrent `recover` calls, in one
//! process or several, never resume or compensate one instance twice.

mod attempt;
pub mod barrier;
mod builder;
mod compensate;
mod definition;
mod error;
mod outcome;
mod recover;
mod run;
mod span;
mod state;
#[cfg(feature = "postgres")]
mod tx_barrier;

pub use crate::BoxError;
pub use builder::SagaBuilder;
pub use definition::{Step, StepContext, StepRetry};
pub use error::{SagaError, StepError};
pub use outcome::{SagaOutcome, SagaReport};
pub use recover::InDoubt;
pub use state::{SagaStatus, StepState};
#[cfg(feature = "postgres")]
pub use tx_barrier::TxBarrier;

use crate::instrumentation;
use crate::log::SagaLog;
use opentelemetry::metrics::{Counter, Histogram};
use otel_kit_core::instrument::{ExceptionEvents, SpanStarter};
use otel_kit_core::opentelemetry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The log record kind of a saga instance.
const KIND: &str = "saga";

/// A saga definition; cheap to clone, run it any number of times, from
/// [`Saga::builder`]. Where it runs, e.g. in a message handler, each run
/// is a `saga {name}` span under the current context:
///
/// ```no_run
/// use otel_kit_patterns::saga::{Saga, SagaOutcome, Step, StepContext, StepError};
///
/// # async fn reserve(_: &str) -> Result<(), std::io::Error> { Ok(()) }
/// # async fn release(_: &str) -> Result<(), std::io::Error> { Ok(()) }
/// # async fn charge(_: &str) -> Result<bool, std::io::Error> { Ok(true) }
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let saga = Saga::<String>::builder("order")
///     .step(
///         Step::new("reserve_inventory", |cx: StepContext<String>| async move {
///             // `?` records the error's type as `error.type`.
///             reserve(&cx.input).await?;
///             Ok(())
///         })
///         .compensate_with(|cx: StepContext<String>| async move {
///             release(&cx.input).await?;
///             Ok(())
///         }),
///     )
///     .step(Step::new("charge_payment", |cx: StepContext<String>| async move {
///         if !charge(&cx.input).await? {
///             return Err(StepError::new("card_declined", "the card was declined"));
///         }
///         Ok(())
///     }))
///     .build();
/// saga.recover().await?; // at start-up
/// match saga.run("order-1".to_owned()).await?.outcome {
///     SagaOutcome::Completed => println!("confirmed"),
///     SagaOutcome::Compensated { error_type, .. } => println!("cancelled: {error_type}"),
///     SagaOutcome::Stuck { step, .. } => println!("needs an operator: {step}"),
/// }
/// # Ok(()) }
/// ```
pub struct Saga<I> {
    inner: Arc<SagaInner<I>>,
}

impl<I> Clone for Saga<I> {
    fn clone(&self) -> Self {
        Saga {
            inner: self.inner.clone(),
        }
    }
}

impl<I> fmt::Debug for Saga<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Saga")
            .field("name", &self.inner.name)
            .field("steps", &self.inner.steps)
            .finish()
    }
}

/// A built definition and what it records with.
struct SagaInner<I> {
    name: Arc<str>,
    span_name: Cow<'static, str>,
    steps: Vec<Step<I>>,
    log: Arc<dyn SagaLog>,
    in_doubt: InDoubt,
    recovery_lease: Duration,
    tracer: SpanStarter,
    exceptions: ExceptionEvents,
    executions: Counter<u64>,
    duration: Histogram<f64>,
    compensations: Counter<u64>,
}

impl<I: Serialize + DeserializeOwned + Send + Sync + 'static> Saga<I> {
    /// A new definition named `name` (`saga.name`).
    pub fn builder(name: impl Into<Arc<str>>) -> SagaBuilder<I> {
        SagaBuilder {
            name: name.into(),
            steps: Vec::new(),
            log: None,
            in_doubt: InDoubt::default(),
            recovery_lease: builder::DEFAULT_RECOVERY_LEASE,
            options: instrumentation::options(),
        }
    }

    /// The definition's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The log.
    pub fn log(&self) -> &Arc<dyn SagaLog> {
        &self.inner.log
    }
}
