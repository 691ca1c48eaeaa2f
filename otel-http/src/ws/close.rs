//! How a connection ends: the close code, reason and initiator, whether the
//! close is abnormal, and the `close` span that records it with the
//! connection's totals.

use std::borrow::Cow;

/// Close codes of a normal end: normal closure, going away, no status.
const NORMAL_CODES: [u16; 3] = [1000, 1001, 1005];

/// `1006`: the connection ended without a close frame.
pub(crate) const ABNORMAL: u16 = 1006;

/// One close of a connection, as recorded.
#[derive(Debug)]
pub(crate) struct CloseEvent<'a> {
    /// The close code (`1005` for a close frame without one).
    pub(crate) code: u16,
    /// The close reason (may be empty).
    pub(crate) reason: &'a str,
    /// The side that closed, when known.
    pub(crate) initiator: Option<super::side::Side>,
    /// `error.type`, when the close is abnormal.
    pub(crate) error_type: Option<Cow<'static, str>>,
    /// Whether the close comes from an error raised by the transport (an
    /// `exception` event is added).
    pub(crate) exception: bool,
}

impl<'a> CloseEvent<'a> {
    /// A close with `code`: abnormal (an error, `error.type` = the code)
    /// unless it is a normal code (`1000`, `1001`, `1005`) or an
    /// application code (`3000`-`4999`, whose meaning only the application
    /// knows).
    pub(crate) fn with_code(
        code: u16,
        reason: &'a str,
        initiator: Option<super::side::Side>,
    ) -> Self {
        CloseEvent {
            code,
            reason,
            initiator,
            error_type: close_error_type(code),
            exception: false,
        }
    }
}

/// `error.type` of a close code: `None` for a normal or application close.
pub(crate) fn close_error_type(code: u16) -> Option<Cow<'static, str>> {
    if NORMAL_CODES.contains(&code) || (3000..5000).contains(&code) {
        None
    } else {
        Some(Cow::Owned(code.to_string()))
    }
}

/// The close reason as recorded: at most 123 bytes (a close frame cannot
/// carry more), cut at a character boundary.
pub(crate) fn bounded_reason(reason: &str) -> &str {
    if reason.len() <= 123 {
        return reason;
    }
    let mut end = 123;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_and_application_codes_are_not_errors() {
        for code in [1000, 1001, 1005, 3000, 4999] {
            assert_eq!(close_error_type(code), None, "{code}");
        }
        for code in [1002, 1006, 1008, 1011, 2999, 5000] {
            assert_eq!(
                close_error_type(code).as_deref(),
                Some(code.to_string().as_str())
            );
        }
    }

    #[test]
    fn reason_is_bounded_at_a_char_boundary() {
        let long = "é".repeat(100);
        let r = bounded_reason(&long);
        assert!(r.len() <= 123 && r.chars().all(|c| c == 'é'));
    }
}
