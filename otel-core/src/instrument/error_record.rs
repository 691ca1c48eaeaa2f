//! A failure as the error conventions record it.

use std::borrow::Cow;

/// A failed operation, as the error conventions record it.
#[derive(Clone, Debug)]
pub struct ErrorRecord<'a> {
    /// `error.type`: a low-cardinality class (`500`, `DEADLINE_EXCEEDED`,
    /// `timeout`, a Rust error type path, or `_OTHER`).
    pub error_type: Cow<'a, str>,
    /// A description for the span status and `exception.message`, when there
    /// is more to say than the type (never credentials).
    pub message: Option<Cow<'a, str>>,
    /// Whether an `exception` event is added (for failures raised as errors or
    /// panics, not for a status code that explains itself).
    pub exception: bool,
}
