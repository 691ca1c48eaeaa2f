//! The `error.type` of a failed export: a short, bounded value a dashboard
//! can group by, never the error's text.
//!
//! | failure | `error.type` |
//! |---|---|
//! | the export timed out (`OTEL_*_EXPORT_TIMEOUT`, `OTEL_EXPORTER_OTLP_TIMEOUT`) | `timeout` |
//! | the exporter or its runtime was already shut down | `already_shutdown` |
//! | OTLP/HTTP: the collector answered with an error status | the status code, e.g. `503` |
//! | OTLP/HTTP: no answer (connection refused, reset, TLS) | `network_error` |
//! | OTLP/gRPC: a status code | its name, e.g. `UNAVAILABLE` |
//! | anything else | `_OTHER` |

use opentelemetry::StringValue;
use opentelemetry_sdk::error::OTelSdkError;

/// The `error.type` of `error`.
pub(crate) fn export_error_type(error: &OTelSdkError) -> StringValue {
    match error {
        OTelSdkError::Timeout(_) => "timeout".into(),
        OTelSdkError::AlreadyShutdown => "already_shutdown".into(),
        OTelSdkError::InternalFailure(message) => from_message(message),
    }
}

/// gRPC status codes as tonic's `Debug` spells them, with their canonical names.
const GRPC_CODES: [(&str, &str); 16] = [
    ("Cancelled", "CANCELLED"),
    ("Unknown", "UNKNOWN"),
    ("InvalidArgument", "INVALID_ARGUMENT"),
    ("DeadlineExceeded", "DEADLINE_EXCEEDED"),
    ("NotFound", "NOT_FOUND"),
    ("AlreadyExists", "ALREADY_EXISTS"),
    ("PermissionDenied", "PERMISSION_DENIED"),
    ("ResourceExhausted", "RESOURCE_EXHAUSTED"),
    ("FailedPrecondition", "FAILED_PRECONDITION"),
    ("Aborted", "ABORTED"),
    ("OutOfRange", "OUT_OF_RANGE"),
    ("Unimplemented", "UNIMPLEMENTED"),
    ("Internal", "INTERNAL"),
    ("Unavailable", "UNAVAILABLE"),
    ("DataLoss", "DATA_LOSS"),
    ("Unauthenticated", "UNAUTHENTICATED"),
];

fn from_message(message: &str) -> StringValue {
    // opentelemetry-otlp 0.33: "HTTP export failed with status code: 503".
    if let Some(rest) = message.split("status code: ").nth(1) {
        let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if code.len() == 3 && (b'1'..=b'5').contains(&code.as_bytes()[0]) {
            return code.into();
        }
    }
    // "HTTP export failed: network error".
    if message.contains("network error") {
        return "network_error".into();
    }
    // "... export failed with gRPC code: Unavailable: ...".
    if let Some(rest) = message.split("gRPC code: ").nth(1) {
        let name: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
        if let Some((_, canonical)) = GRPC_CODES.iter().find(|(debug, _)| *debug == name) {
            return (*canonical).into();
        }
    }
    "_OTHER".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn errors_map_to_bounded_values() {
        let cases = [
            (OTelSdkError::Timeout(Duration::from_secs(10)), "timeout"),
            (OTelSdkError::AlreadyShutdown, "already_shutdown"),
            (
                OTelSdkError::InternalFailure("HTTP export failed with status code: 503".into()),
                "503",
            ),
            (
                OTelSdkError::InternalFailure("HTTP export failed: network error".into()),
                "network_error",
            ),
            (
                OTelSdkError::InternalFailure(
                    "TraceExporter export failed with gRPC code: Unavailable: tcp connect error"
                        .into(),
                ),
                "UNAVAILABLE",
            ),
            (
                OTelSdkError::InternalFailure(
                    "export failed with gRPC code: DeadlineExceeded".into(),
                ),
                "DEADLINE_EXCEEDED",
            ),
            (
                OTelSdkError::InternalFailure("status code: 99999 garbage".into()),
                "_OTHER",
            ),
            (
                OTelSdkError::InternalFailure("secret token abc in a message".into()),
                "_OTHER",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(export_error_type(&error).as_str(), expected, "{error:?}");
        }
    }
}
