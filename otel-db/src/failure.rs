//! A failed database operation as the conventions record it:
//! `error.type`, `db.response.status_code`, and a message.

use std::borrow::Cow;

use otel_kit_core::instrument::OTHER;

/// Why an operation failed, in the terms of the conventions.
///
/// `error.type` follows the family's rule (`otel_kit_core::instrument`):
/// the database's status first (a SQLSTATE such as `23505`, a Redis error
/// prefix such as `WRONGTYPE`, which is then also
/// `db.response.status_code`), else a class the client names (`timeout`,
/// `ConnectionRefused`, `closed`, ...), else `_OTHER`.
///
/// ```
/// use otel_kit_db::DbFailure;
///
/// let failure = DbFailure::status("23505", "duplicate key value violates unique constraint");
/// assert_eq!(failure.error_type(), "23505");
/// assert_eq!(failure.status_code(), Some("23505"));
/// assert_eq!(DbFailure::class("timeout", "timed out").status_code(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbFailure {
    error_type: Cow<'static, str>,
    status_code: Option<String>,
    message: String,
}

impl DbFailure {
    /// A failure the database reported with `code` (also `error.type`).
    pub fn status(code: impl Into<String>, message: impl Into<String>) -> Self {
        let code = code.into();
        let code = if code.is_empty() {
            OTHER.to_owned()
        } else {
            code
        };
        DbFailure {
            error_type: Cow::Owned(code.clone()),
            status_code: Some(code),
            message: message.into(),
        }
    }

    /// A failure without a database status: `class` is `error.type`.
    pub fn class(class: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        let class = class.into();
        DbFailure {
            error_type: if class.is_empty() {
                Cow::Borrowed(OTHER)
            } else {
                class
            },
            status_code: None,
            message: message.into(),
        }
    }

    /// `error.type`.
    pub fn error_type(&self) -> &str {
        &self.error_type
    }

    /// `db.response.status_code`, when the database answered with one.
    pub fn status_code(&self) -> Option<&str> {
        self.status_code.as_deref()
    }

    /// The description (span status and `exception.message`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// `error.type` of an I/O error: its kind's name (`ConnectionRefused`,
/// `TimedOut`, ...), the class Rust's standard library names.
pub(crate) fn io_error_type(error: &std::io::Error) -> Cow<'static, str> {
    Cow::Owned(otel_kit_core::instrument::variant_error_type(&error.kind()))
}

/// The first `std::io::Error` in `error`'s source chain.
#[cfg(any(feature = "tokio-postgres", feature = "redis"))]
pub(crate) fn find_io_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a std::io::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = e.source();
    }
    None
}
