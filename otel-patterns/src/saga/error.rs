//! The errors of a saga: [`StepError`], what a step's action or
//! compensation fails with, and [`SagaError`], why a run stopped without
//! an outcome.

use crate::BoxError;
use crate::log::LogError;
use otel_kit_core::instrument::{OTHER, type_error_type};
use std::borrow::Cow;
use std::fmt;

/// What a step's action or compensation fails with: a low-cardinality
/// class, recorded as `error.type` on the step span, and a message.
///
/// Every action and compensation returns `Result<(), StepError>`, so a
/// step closure needs no type annotation, and `?` converts any error into
/// a `StepError` whose class is the error's full Rust type path
/// (`std::io::error::Error`). [`StepError::new`] names the class
/// explicitly (rule 2 of the family's `error.type` rule);
/// [`StepError::from_boxed`] takes a type-erased [`BoxError`] (class
/// `_OTHER`, unless it holds a `StepError`).
///
/// Like `anyhow::Error`, `StepError` does not implement
/// `std::error::Error` itself (that is what lets `?` convert every error
/// into it); it converts into a [`BoxError`] that does.
///
/// ```
/// use otel_kit_patterns::saga::{Saga, Step, StepError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let saga = Saga::<u64>::builder("order")
///     // `?` on an I/O error: class `std::io::error::Error`.
///     .step(Step::new("read_stock", |_| async {
///         let _stock = std::fs::read_to_string("/nonexistent/stock")?;
///         Ok(())
///     }))
///     .build();
/// let report = saga.run(1).await.unwrap();
/// assert_eq!(report.outcome.as_str(), "compensated");
///
/// // An explicit class.
/// let saga = Saga::<u64>::builder("payment")
///     .step(Step::new("charge_payment", |cx| async move {
///         if *cx.input > 100 {
///             return Err(StepError::new("card_declined", "over the limit"));
///         }
///         Ok(())
///     }))
///     .build();
/// let report = saga.run(500).await.unwrap();
/// assert_eq!(report.outcome.as_str(), "compensated");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct StepError {
    /// The low-cardinality class recorded as `error.type`.
    pub error_type: Cow<'static, str>,
    /// A description.
    pub message: String,
    /// Converted from another error: its message is the whole text (no
    /// class prefix), as that error displayed itself.
    converted: bool,
}

impl StepError {
    /// A new error of class `error_type`.
    pub fn new(error_type: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        StepError {
            error_type: error_type.into(),
            message: message.into(),
            converted: false,
        }
    }

    /// A type-erased error: the `StepError` it holds (one converted into a
    /// [`BoxError`]), else class `_OTHER` with the error's message.
    pub fn from_boxed(e: BoxError) -> Self {
        match e.downcast::<Boxed>() {
            Ok(b) => b.0,
            Err(e) => StepError {
                error_type: Cow::Borrowed(OTHER),
                message: e.to_string(),
                converted: true,
            },
        }
    }

    /// `error.type` of a boxed error: the class of the `StepError` it
    /// holds, else `fallback`.
    pub(crate) fn class_of(e: &BoxError, fallback: &'static str) -> Cow<'static, str> {
        match e.downcast_ref::<Boxed>() {
            Some(b) => b.0.error_type.clone(),
            None => Cow::Borrowed(fallback),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.converted {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.error_type, self.message)
        }
    }
}

/// Any error, with its full Rust type path as the class (`_OTHER` for a
/// `dyn Error`).
impl<E: std::error::Error + Send + Sync + 'static> From<E> for StepError {
    fn from(e: E) -> Self {
        StepError {
            error_type: Cow::Borrowed(type_error_type::<E>()),
            message: e.to_string(),
            converted: true,
        }
    }
}

/// A `StepError` as a [`BoxError`] (e.g. a 2PC participant's refusal with
/// a class of its own); [`StepError::from_boxed`] and the patterns read the
/// class back.
impl From<StepError> for BoxError {
    fn from(e: StepError) -> Self {
        Box::new(Boxed(e))
    }
}

/// A [`StepError`] inside a [`BoxError`].
#[derive(Debug)]
struct Boxed(StepError);

impl fmt::Display for Boxed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Boxed {}

/// Why a saga run stopped without an outcome.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// The log refused a write; nothing was acted on past it, and the saga
    /// stays in the log for [`Saga::recover`](super::Saga::recover).
    #[error(transparent)]
    Log(#[from] LogError),
    /// The input could not be (de)serialized for the log.
    #[error("saga input: {0}")]
    Input(#[from] serde_json::Error),
    /// No saga with this id in the log.
    #[error("no saga {0} in the log")]
    NotFound(String),
    /// The saga is not in the state asked for (e.g. no longer `stuck`), or
    /// another recovery holds its claim.
    #[error("saga {0} is claimed by another recovery or no longer stuck")]
    Claimed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converted_errors_keep_their_type_path_and_message() {
        let e = StepError::from(std::io::Error::other("disk full"));
        assert_eq!(e.error_type, "std::io::error::Error");
        assert_eq!(e.to_string(), "disk full");
        let e = StepError::new("declined", "card refused");
        assert_eq!(e.to_string(), "declined: card refused");
    }

    #[test]
    fn boxed_step_errors_keep_their_class() {
        let boxed: BoxError = StepError::new("declined", "x").into();
        assert_eq!(boxed.to_string(), "declined: x");
        assert_eq!(StepError::class_of(&boxed, OTHER), "declined");
        assert_eq!(StepError::from_boxed(boxed).error_type, "declined");
        let other: BoxError = "down".into();
        assert_eq!(StepError::class_of(&other, OTHER), OTHER);
        let e = StepError::from_boxed(other);
        assert_eq!((&*e.error_type, e.to_string()), (OTHER, "down".to_owned()));
    }
}
