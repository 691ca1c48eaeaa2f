//! The family's one rule from an error to `error.type`.
//!
//! `error.type` is a low-cardinality class of the failure. Every layer of
//! the family picks it the same way, first match wins:
//!
//! 1. **A status the protocol defines**: the HTTP status code (`"503"`),
//!    the gRPC code name (`"UNAVAILABLE"`), a database's SQLSTATE. Each layer
//!    records its protocol's status itself.
//! 2. **A class the error names**: an error kind the client library
//!    defines (librdkafka's error code, lapin's error kind, reqwest's
//!    `timeout`/`connect`/..., a saga step's `StepError` class), taken with
//!    [`variant_error_type`] when it is an enum's variant.
//! 3. **The error's Rust type**: [`type_error_type`], the full path
//!    `std::any::type_name` gives (`std::io::error::Error`).
//! 4. **Otherwise** (a type-erased error): [`OTHER`].
//!
//! Span status is Error with the error's message (never credentials) and,
//! for errors raised as such (not for a status that explains itself), an
//! `exception` event or log record: see [`record_error`](super::record_error).

/// The value the conventions use when a value is outside a known set:
/// `error.type`, `http.request.method`, `rpc.method`, ... (`_OTHER`).
pub const OTHER: &str = "_OTHER";

/// Rules 3 and 4: `error.type` of an error of type `E`, its full Rust type
/// path; [`OTHER`] when `E` is type-erased (`dyn Error`, `Box<dyn Error>`,
/// `Arc<dyn Error>`, ...), since the path would name no failure.
///
/// ```
/// use otel_kit_core::instrument::{OTHER, type_error_type};
/// assert_eq!(type_error_type::<std::io::Error>(), "std::io::error::Error");
/// assert_eq!(type_error_type::<Box<dyn std::error::Error + Send + Sync>>(), OTHER);
/// ```
pub fn type_error_type<E: ?Sized>() -> &'static str {
    let path = std::any::type_name::<E>();
    if path.starts_with("dyn ") || path.contains("<dyn ") {
        OTHER
    } else {
        path
    }
}

/// Rule 2 for enums: the variant name of `kind` from its `Debug` output
/// (`MessageTimedOut` from `MessageTimedOut`, `IOError` from
/// `IOError(Custom { .. })`), at most 64 bytes; [`OTHER`] when the output
/// does not start with an identifier.
///
/// ```
/// use otel_kit_core::instrument::variant_error_type;
///
/// #[derive(Debug)]
/// enum Kind { Timeout, Refused(u16) }
/// assert_eq!(variant_error_type(&Kind::Timeout), "Timeout");
/// assert_eq!(variant_error_type(&Kind::Refused(7)), "Refused");
/// ```
pub fn variant_error_type(kind: &impl std::fmt::Debug) -> String {
    let debug = format!("{kind:?}");
    let end = debug
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(debug.len());
    let name = &debug[..end.min(64)];
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        OTHER.to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_and_others() {
        #[derive(Debug)]
        #[allow(dead_code)]
        enum E {
            A { x: u8 },
            B(String),
        }
        assert_eq!(variant_error_type(&E::A { x: 1 }), "A");
        assert_eq!(variant_error_type(&E::B("x y".into())), "B");
        assert_eq!(variant_error_type(&"quoted"), OTHER);
        assert_eq!(variant_error_type(&12), OTHER);
        assert_eq!(variant_error_type(&[0u8; 0]), OTHER);
    }
}
