//! The durable log shared by [`saga`](crate::saga) and
//! [`twopc`](crate::twopc): every state change of an instance is written
//! to a [`SagaLog`] before it is acted on, so that a restarted process can
//! finish (or compensate) what a crashed one left.
//!
//! - [`LogRecord`] and [`LogEntry`] (in `record`): one instance, one step
//!   or participant, with the span references that let a recovered run
//!   link to the original.
//! - [`SagaLog`] (in `store`): the trait a log implements, with recovery
//!   claims so concurrent recoveries never resume one instance twice.
//! - [`MemoryLog`] (in `memory`): the default, in memory.
//! - `PostgresLog` (in `postgres`, feature `postgres`): tables in one
//!   PostgreSQL schema, written through a plain tokio-postgres client or a
//!   traced one (`PostgresClient`, the core trait `otel-kit-db`'s
//!   `TracedClient` implements).
//! - the claim renewal of a running recovery (in `claim`).
//!
//! A saga or a coordinator takes its log from its builder:
//!
//! ```
//! use otel_kit_patterns::log::{MemoryLog, SagaLog};
//! use otel_kit_patterns::saga::{Saga, Step};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let log = Arc::new(MemoryLog::new());
//! let saga = Saga::<u32>::builder("order")
//!     .step(Step::new("reserve", |_| async { Ok(()) }))
//!     .log(log.clone())
//!     .build();
//! let report = saga.run(7).await.unwrap();
//! // The instance is in the log, completed.
//! let (record, entries) = log.get(&report.id).await.unwrap().unwrap();
//! assert_eq!(record.status, "completed");
//! assert_eq!(entries[0].state, "done");
//! # }
//! ```

mod claim;
mod memory;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod record;
mod store;

pub(crate) use claim::renewing_claim;
pub use memory::MemoryLog;
#[cfg(feature = "postgres")]
pub use otel_kit_core::instrument::PostgresClient;
pub use otel_kit_core::propagation::TraceParent;
#[cfg(feature = "postgres")]
pub use postgres::PostgresLog;
pub use record::{LogEntry, LogRecord, LoggedInstance, from_traceparent, to_traceparent};
pub use store::SagaLog;
pub(crate) use store::{write_entry, write_status};

/// A log failure; the pattern stops before acting on an unlogged change.
#[derive(Debug, thiserror::Error)]
#[error("saga log: {0}")]
pub struct LogError(pub String);
