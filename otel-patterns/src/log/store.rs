//! The [`SagaLog`] trait: where sagas and transactions write every state
//! change before acting on it, and the engines' write helpers.

use super::{LogEntry, LogError, LogRecord, LoggedInstance};
use futures_util::future::BoxFuture;
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::context::FutureExt as _;
use std::time::Duration;

/// Where sagas and transactions write every state change before acting on
/// it, so that a restarted process can finish them. Implementations:
/// [`MemoryLog`](super::MemoryLog), and `PostgresLog` (feature
/// `postgres`).
///
/// Another store implements the five required methods (writes must be
/// durable when their future completes) and, for several recovering
/// processes, [`claim`](Self::claim) and [`release`](Self::release):
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use futures_util::future::BoxFuture;
/// use otel_kit_patterns::log::{LogEntry, LogError, LogRecord, LoggedInstance, MemoryLog, SagaLog};
///
/// /// A log that counts its writes and keeps them in another store.
/// struct CountedLog<L> { inner: L, writes: AtomicU64 }
///
/// impl<L: SagaLog> SagaLog for CountedLog<L> {
///     fn create<'a>(&'a self, record: &'a LogRecord, entries: &'a [LogEntry])
///         -> BoxFuture<'a, Result<(), LogError>> {
///         self.writes.fetch_add(1, Ordering::Relaxed);
///         self.inner.create(record, entries)
///     }
///     fn set_status<'a>(&'a self, id: &'a str, status: &'a str)
///         -> BoxFuture<'a, Result<(), LogError>> {
///         self.writes.fetch_add(1, Ordering::Relaxed);
///         self.inner.set_status(id, status)
///     }
///     fn set_entry<'a>(&'a self, id: &'a str, entry: &'a LogEntry)
///         -> BoxFuture<'a, Result<(), LogError>> {
///         self.writes.fetch_add(1, Ordering::Relaxed);
///         self.inner.set_entry(id, entry)
///     }
///     fn find<'a>(&'a self, kind: &'a str, name: &'a str, statuses: &'a [&'a str])
///         -> BoxFuture<'a, Result<Vec<LoggedInstance>, LogError>> {
///         self.inner.find(kind, name, statuses)
///     }
///     fn get<'a>(&'a self, id: &'a str)
///         -> BoxFuture<'a, Result<Option<LoggedInstance>, LogError>> {
///         self.inner.get(id)
///     }
/// }
///
/// let log = CountedLog { inner: MemoryLog::default(), writes: AtomicU64::new(0) };
/// # let _ = log;
/// ```
pub trait SagaLog: Send + Sync + 'static {
    /// Stores a new instance and its entries.
    fn create<'a>(
        &'a self,
        record: &'a LogRecord,
        entries: &'a [LogEntry],
    ) -> BoxFuture<'a, Result<(), LogError>>;

    /// Sets an instance's status.
    fn set_status<'a>(
        &'a self,
        id: &'a str,
        status: &'a str,
    ) -> BoxFuture<'a, Result<(), LogError>>;

    /// Replaces one entry of an instance.
    fn set_entry<'a>(
        &'a self,
        id: &'a str,
        entry: &'a LogEntry,
    ) -> BoxFuture<'a, Result<(), LogError>>;

    /// For logs whose writes need no I/O (in memory, no-op): does what
    /// [`set_status`](Self::set_status) does, at once, and returns its
    /// result. `None` (the default) means "no such path": the caller awaits
    /// `set_status`. The patterns try this first on their hot paths, so a
    /// log without I/O saves a boxed future per write.
    fn set_status_now(&self, id: &str, status: &str) -> Option<Result<(), LogError>> {
        let _ = (id, status);
        None
    }

    /// [`set_status_now`](Self::set_status_now) for
    /// [`set_entry`](Self::set_entry).
    fn set_entry_now(&self, id: &str, entry: &LogEntry) -> Option<Result<(), LogError>> {
        let _ = (id, entry);
        None
    }

    /// Instances of `kind` and `name` whose status is one of `statuses`,
    /// with their entries in index order.
    fn find<'a>(
        &'a self,
        kind: &'a str,
        name: &'a str,
        statuses: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<LoggedInstance>, LogError>>;

    /// One instance by id.
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<LoggedInstance>, LogError>>;

    /// Claims instance `id` for `owner` (one recovery call) if its status
    /// is one of `statuses` and no other owner holds an unexpired claim;
    /// the claim lasts `lease`. `true` when `owner` now holds it. Recovery
    /// claims every instance before touching it, so concurrent
    /// [`Saga::recover`](crate::saga::Saga::recover) calls (in one process or
    /// several sharing the log) never resume the same instance twice.
    ///
    /// The default grants every claim: a log without it supports a single
    /// recovering caller. [`MemoryLog`](super::MemoryLog) and `PostgresLog` implement it.
    fn claim<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        statuses: &'a [&'a str],
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, LogError>> {
        let _ = (id, owner, statuses, lease);
        Box::pin(async { Ok(true) })
    }

    /// Gives back `owner`'s claim on `id` (nothing when it holds none).
    fn release<'a>(&'a self, id: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), LogError>> {
        let _ = (id, owner);
        Box::pin(async { Ok(()) })
    }
}

/// Writes `entry`, synchronously when the log can, else in `cx` (the span
/// of the step or saga it belongs to): a traced log's statement is a child
/// of that span.
pub(crate) async fn write_entry(
    log: &dyn SagaLog,
    cx: &Context,
    id: &str,
    entry: &LogEntry,
) -> Result<(), LogError> {
    match log.set_entry_now(id, entry) {
        Some(r) => r,
        None => log.set_entry(id, entry).with_context(cx.clone()).await,
    }
}

/// Writes `status`, synchronously when the log can, else in `cx` (the
/// saga's span).
pub(crate) async fn write_status(
    log: &dyn SagaLog,
    cx: &Context,
    id: &str,
    status: &str,
) -> Result<(), LogError> {
    match log.set_status_now(id, status) {
        Some(r) => r,
        None => log.set_status(id, status).with_context(cx.clone()).await,
    }
}
