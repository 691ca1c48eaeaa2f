//! `error.type` of an HTTP status code: rule 1 of the family's rule
//! (`otel_kit_core::instrument`'s `error_type`), a status the protocol defines.
//!
//! The other values this crate records follow the same rule: an error the
//! inner service or a response body returns is its full Rust type path
//! ([`type_error_type`](otel_kit_core::instrument::type_error_type)), a caught
//! panic is `panic`, and a reqwest transport error is the class reqwest
//! names (`timeout`, `connect`, ...; see the client module).

use std::borrow::Cow;

/// `"400"` … `"599"` as static strings, so a metric attribute set holding
/// one can stay bound.
static ERROR_CODES: [[u8; 3]; 200] = {
    let mut table = [[b'4', b'0', b'0']; 200];
    let mut i = 0;
    while i < 200 {
        let code = 400 + i;
        table[i][0] = b'0' + (code / 100) as u8;
        table[i][1] = b'0' + ((code / 10) % 10) as u8;
        table[i][2] = b'0' + (code % 10) as u8;
        i += 1;
    }
    table
};

/// The status code as `error.type` (`"503"`), a static string for 400–599.
pub(crate) fn status_error_type(code: u16) -> Cow<'static, str> {
    match code {
        400..=599 => std::str::from_utf8(&ERROR_CODES[usize::from(code - 400)])
            .map_or_else(|_| Cow::Owned(code.to_string()), Cow::Borrowed),
        _ => Cow::Owned(code.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::status_error_type;

    #[test]
    fn status_error_types_are_the_codes() {
        for code in [400u16, 404, 499, 500, 503, 599, 600, 399, 1000] {
            assert_eq!(status_error_type(code), code.to_string());
        }
        assert!(matches!(
            status_error_type(504),
            std::borrow::Cow::Borrowed(_)
        ));
        assert!(matches!(
            status_error_type(429),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
