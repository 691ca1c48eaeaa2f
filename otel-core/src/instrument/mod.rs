//! Building blocks shared by the layer crates (`otel-http`, `otel-grpc`,
//! `otel-messaging`, `otel-patterns`), so each rule is written once:
//! histogram buckets, the resend-count request extension, header capture
//! allow-lists, filter combinators, error and exception recording (span
//! events or log records), interned span names and the cache of
//! instruments bound to hot attribute sets.

mod bound;
mod error;
mod exception;
mod filter;
mod headers;
mod resend;
mod span_name;

pub use bound::{BoundCache, StaticKey};
pub use error::{ErrorRecord, record_error, record_exception};
pub(crate) use exception::set_global_logger_provider;
pub use exception::{ExceptionEvent, ExceptionEvents};
pub use filter::{All, Any, Filter, FilterExt, Not, all, any, not};
pub use headers::{HeaderCapture, SENSITIVE_HEADERS};
pub use resend::ResendCount;
pub use span_name::{INTERNED_SPAN_NAME_BYTES, intern_span_name};

/// The advisory bucket boundaries (seconds) of every duration histogram of
/// the semantic conventions (`http.*.request.duration`, `rpc.*.call.duration`,
/// `messaging.*.duration`).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
