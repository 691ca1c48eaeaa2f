//! How a saga run ended: [`SagaOutcome`] (`saga.outcome`) and the
//! [`SagaReport`] a run returns.

/// How a saga ended (`saga.outcome`).
///
/// ```
/// use otel_kit_patterns::saga::{Saga, SagaOutcome, Step, StepError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let saga = Saga::<()>::builder("order")
///     .step(Step::new("reserve", |_| async { Ok(()) }).compensate_with(|_| async { Ok(()) }))
///     .step(Step::new("charge", |_| async { Err(StepError::new("card_declined", "no")) }))
///     .build();
/// match saga.run(()).await.unwrap().outcome {
///     SagaOutcome::Compensated { failed_step, error_type } => {
///         assert_eq!((failed_step.as_str(), error_type.as_str()), ("charge", "card_declined"));
///     }
///     other => panic!("{other:?}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaOutcome {
    /// Every step completed.
    Completed,
    /// A step failed and every step that needed it was compensated.
    Compensated {
        /// The step that failed.
        failed_step: String,
        /// Its `error.type`.
        error_type: String,
    },
    /// A compensation kept failing: manual action needed.
    Stuck {
        /// The step whose compensation failed.
        step: String,
        /// The compensation's `error.type`.
        error_type: String,
    },
}

impl SagaOutcome {
    /// The attribute value.
    pub fn as_str(&self) -> &'static str {
        match self {
            SagaOutcome::Completed => "completed",
            SagaOutcome::Compensated { .. } => "compensated",
            SagaOutcome::Stuck { .. } => "stuck",
        }
    }
}

/// The result of one saga run ([`Saga::run`](super::Saga::run) and the
/// recovery calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaReport {
    /// `saga.id`.
    pub id: String,
    /// How it ended.
    pub outcome: SagaOutcome,
    /// Whether the run was a recovery.
    pub recovered: bool,
}
