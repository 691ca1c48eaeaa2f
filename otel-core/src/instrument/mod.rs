//! The instrumentation core: how every layer crate of the family
//! (`otel-kit-http`, `otel-kit-grpc`, `otel-kit-messaging`, `otel-kit-patterns`, ...)
//! behaves, written once.
//!
//! | concern | item |
//! |---|---|
//! | instrumentation scope (name, version, schema URL) | [`scope`] |
//! | options every builder shares, one setter name each | [`Options`], [`instrumentation_setters!`](crate::instrumentation_setters) |
//! | starting a span (late attributes, Level 2 flags kept) | [`SpanStarter`] |
//! | one extraction rule, given or global propagator | [`Propagation`] |
//! | header / metadata / message-header capture, one sensitive rule | [`HeaderCapture`] |
//! | error to `error.type` and status | [`error_type`](self#error-type), [`record_error`], [`record_exception`] |
//! | exceptions as span events or log records | [`ExceptionEvents`] |
//! | duration histograms and their buckets | [`duration_histogram`], [`DURATION_BUCKETS`] |
//! | a carrier's values under another parent (link mode) | [`carried_onto`], [`with_base_baggage`] |
//! | bounded caches, interning, hashing | [`BoundCache`], [`intern_span_name`], [`FastHasher`] |
//! | `_OTHER` | [`OTHER`] |
//! | filters | [`Filter`] and its combinators |
//! | which attempt a request is | [`ResendCount`] |
//! | a PostgreSQL client a component runs its statements on, plain or traced (feature `tokio-postgres`) | `PostgresClient` |
//! | a deadline any executor can wait for (stream policies) | [`Deadline`] |
//!
//! The clock is [`crate::clock`].
//!
//! # error.type
//!
//! The rule is in [`type_error_type`]'s module documentation: a protocol
//! status first, then a class the error names, then the Rust type, else
//! [`OTHER`].

mod bound;
mod carried;
mod deadline;
mod duration;
mod error;
mod error_record;
mod error_type;
mod exception;
mod filter;
mod hasher;
mod headers;
mod options;
#[cfg(feature = "tokio-postgres")]
mod postgres_client;
mod propagation;
mod resend;
mod scope;
mod setters;
mod span_name;
mod span_start;

pub use bound::{BoundCache, StaticKey};
pub use carried::{carried_onto, with_base_baggage};
pub use deadline::Deadline;
pub use duration::{DURATION_BUCKETS, duration_histogram, old_duration_histogram_ms};
pub use error::{record_error, record_exception};
pub use error_record::ErrorRecord;
pub use error_type::{OTHER, type_error_type, variant_error_type};
pub(crate) use exception::set_global_logger_provider;
pub use exception::{ExceptionEvent, ExceptionEvents, ExceptionLoggerHandle};
pub use filter::{All, Any, Filter, FilterExt, Not, all, any, not};
pub use hasher::{BuildFastHasher, FastHasher};
pub use headers::{HeaderCapture, SENSITIVE_HEADERS, is_sensitive_header};
pub use options::{Options, ResolvedOptions, SemconvArea};
#[cfg(feature = "tokio-postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-postgres")))]
pub use postgres_client::PostgresClient;
pub use propagation::{Extracted, Propagation};
pub use resend::ResendCount;
pub use scope::scope;
pub use span_name::{INTERNED_SPAN_NAME_BYTES, intern_span_name};
pub use span_start::{RANDOM_TRACE_FLAG, SpanStarter};
