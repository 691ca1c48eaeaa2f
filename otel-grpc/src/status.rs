//! gRPC status codes: names, the span-status tables of the RPC conventions,
//! and where a call's status comes from (trailers, trailers-only headers,
//! the HTTP status).

use http::HeaderMap;
use tonic::Code;

/// The `grpc-status` metadata key.
pub const GRPC_STATUS: &str = "grpc-status";
/// The `grpc-message` metadata key.
pub const GRPC_MESSAGE: &str = "grpc-message";

/// The name of a status code as `rpc.response.status_code` records it
/// (`OK`, `NOT_FOUND`, `DEADLINE_EXCEEDED`, ...).
///
/// ```
/// assert_eq!(otel_kit_grpc::status::code_name(tonic::Code::NotFound), "NOT_FOUND");
/// ```
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Every status code, in numeric order (0 to 16).
pub const ALL_CODES: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

/// Whether a SERVER span with this code is an error (status Error and
/// `error.type`): only `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`,
/// `INTERNAL`, `UNAVAILABLE` and `DATA_LOSS`. Codes that describe the
/// caller's mistake (`NOT_FOUND`, `INVALID_ARGUMENT`, `CANCELLED`, ...) are not
/// server errors.
///
/// ```
/// use otel_kit_grpc::status::is_server_error;
/// assert!(is_server_error(tonic::Code::Internal));
/// assert!(!is_server_error(tonic::Code::NotFound));
/// ```
pub fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// Whether a CLIENT span with this code is an error: every code but `OK`.
pub fn is_client_error(code: Code) -> bool {
    code != Code::Ok
}

/// The code in a `grpc-status` value: ASCII digits 0 to 16. Anything else
/// (empty, signs, spaces, out of range, non-ASCII) is `UNKNOWN`, as gRPC
/// requires for an unparseable status.
pub fn parse_code(value: &[u8]) -> Code {
    if value.is_empty() || value.len() > 2 || !value.iter().all(u8::is_ascii_digit) {
        return Code::Unknown;
    }
    let n = value
        .iter()
        .fold(0i32, |acc, d| acc * 10 + i32::from(d - b'0'));
    Code::from_i32(n)
}

/// The code in `headers` (trailers, or the headers of a trailers-only
/// response), if `grpc-status` is present.
pub fn code_from_headers(headers: &HeaderMap) -> Option<Code> {
    headers.get(GRPC_STATUS).map(|v| parse_code(v.as_bytes()))
}

/// The `grpc-message` of `headers`, percent-decoded, if present and non-empty.
pub(crate) fn message_from_headers(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(GRPC_MESSAGE)?.as_bytes();
    if raw.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' && i + 2 < raw.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The code of a response that carries no `grpc-status`, from its HTTP
/// status, as gRPC's HTTP-to-gRPC mapping defines it. `200` without a status
/// is `UNKNOWN` (the stream ended without a final status).
pub fn code_from_http_status(status: http::StatusCode) -> Code {
    match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_numbers() {
        let expected = [
            "OK",
            "CANCELLED",
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "DEADLINE_EXCEEDED",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
            "UNAUTHENTICATED",
        ];
        for (i, code) in ALL_CODES.iter().enumerate() {
            assert_eq!(*code as i32, i as i32);
            assert_eq!(code_name(*code), expected[i]);
            assert_eq!(parse_code(i.to_string().as_bytes()), *code);
        }
    }

    #[test]
    fn server_table() {
        let errors: Vec<_> = ALL_CODES
            .iter()
            .filter(|c| is_server_error(**c))
            .map(|c| code_name(*c))
            .collect();
        assert_eq!(
            errors,
            [
                "UNKNOWN",
                "DEADLINE_EXCEEDED",
                "UNIMPLEMENTED",
                "INTERNAL",
                "UNAVAILABLE",
                "DATA_LOSS"
            ]
        );
        assert_eq!(
            ALL_CODES.iter().filter(|c| is_client_error(**c)).count(),
            16
        );
    }

    #[test]
    fn bad_status_values_are_unknown() {
        for bad in [&b""[..], b"17", b"-1", b" 5", b"999", b"x", b"\xff", b"05x"] {
            assert_eq!(parse_code(bad), Code::Unknown, "{bad:?}");
        }
        assert_eq!(parse_code(b"05"), Code::NotFound);
    }

    #[test]
    fn messages_are_percent_decoded() {
        let mut h = HeaderMap::new();
        h.insert(GRPC_MESSAGE, "no%20such%20order%".parse().unwrap());
        assert_eq!(message_from_headers(&h).as_deref(), Some("no such order%"));
        h.insert(GRPC_MESSAGE, "%zz%4".parse().unwrap());
        assert_eq!(message_from_headers(&h).as_deref(), Some("%zz%4"));
        h.insert(
            GRPC_MESSAGE,
            http::HeaderValue::from_bytes(b"\xff%e2%82%ac").unwrap(),
        );
        assert_eq!(message_from_headers(&h).as_deref(), Some("\u{fffd}€"));
    }

    #[test]
    fn http_mapping() {
        assert_eq!(
            code_from_http_status(http::StatusCode::NOT_FOUND),
            Code::Unimplemented
        );
        assert_eq!(
            code_from_http_status(http::StatusCode::SERVICE_UNAVAILABLE),
            Code::Unavailable
        );
        assert_eq!(code_from_http_status(http::StatusCode::OK), Code::Unknown);
        assert_eq!(
            code_from_http_status(http::StatusCode::IM_A_TEAPOT),
            Code::Unknown
        );
    }
}
