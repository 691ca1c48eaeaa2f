//! The durable log of sagas and two-phase-commit transactions.

use futures_util::future::BoxFuture;
use opentelemetry::trace::{SpanContext, TraceState};
use otel_core::opentelemetry;
use std::collections::HashMap;
use std::sync::Mutex;

/// One saga or transaction instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Instance id (`saga.id`, `2pc.id`), unique in the log.
    pub id: String,
    /// `saga` or `2pc`.
    pub kind: String,
    /// Definition name (`saga.name`, `2pc.name`).
    pub name: String,
    /// The input, as JSON.
    pub payload: String,
    /// The instance state (see the saga and 2PC docs for the values).
    pub status: String,
    /// The instance's root span, as a `traceparent` value.
    pub span: Option<String>,
}

/// One step of a saga or one participant of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Position (0-based).
    pub index: u32,
    /// Step or participant name.
    pub name: String,
    /// Its state.
    pub state: String,
    /// The span of its last action, as a `traceparent` value.
    pub span: Option<String>,
    /// The `error.type` of its failure, if any.
    pub error: Option<String>,
}

/// An instance and its entries, as stored.
pub type LoggedInstance = (LogRecord, Vec<LogEntry>);

/// A log failure; the pattern stops before acting on an unlogged change.
#[derive(Debug, thiserror::Error)]
#[error("saga log: {0}")]
pub struct LogError(pub String);

/// Where sagas and transactions write every state change before acting on
/// it, so that a restarted process can finish them. Implementations:
/// [`MemoryLog`], and `PostgresLog` (feature `postgres`).
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
}

/// An in-memory [`SagaLog`]: survives nothing but is the default, and the
/// reference for the others.
#[derive(Debug, Default)]
pub struct MemoryLog {
    data: Mutex<HashMap<String, (LogRecord, Vec<LogEntry>)>>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
}

impl MemoryLog {
    fn write_status(&self, id: &str, status: &str) -> Result<(), LogError> {
        let mut d = lock(&self.data);
        let (r, _) = d
            .get_mut(id)
            .ok_or_else(|| LogError(format!("no instance {id}")))?;
        r.status.clear();
        r.status.push_str(status);
        Ok(())
    }

    fn write_entry(&self, id: &str, entry: &LogEntry) -> Result<(), LogError> {
        let mut d = lock(&self.data);
        let (_, entries) = d
            .get_mut(id)
            .ok_or_else(|| LogError(format!("no instance {id}")))?;
        match entries.iter_mut().find(|e| e.index == entry.index) {
            Some(e) => e.clone_from(entry),
            None => {
                entries.push(entry.clone());
                entries.sort_by_key(|e| e.index);
            }
        }
        Ok(())
    }
}

/// Writes `entry`, synchronously when the log can.
pub(crate) async fn write_entry(
    log: &dyn SagaLog,
    id: &str,
    entry: &LogEntry,
) -> Result<(), LogError> {
    match log.set_entry_now(id, entry) {
        Some(r) => r,
        None => log.set_entry(id, entry).await,
    }
}

/// Writes `status`, synchronously when the log can.
pub(crate) async fn write_status(
    log: &dyn SagaLog,
    id: &str,
    status: &str,
) -> Result<(), LogError> {
    match log.set_status_now(id, status) {
        Some(r) => r,
        None => log.set_status(id, status).await,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SagaLog for MemoryLog {
    fn create<'a>(
        &'a self,
        record: &'a LogRecord,
        entries: &'a [LogEntry],
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move {
            let mut d = lock(&self.data);
            if d.contains_key(&record.id) {
                return Err(LogError(format!("instance {} already logged", record.id)));
            }
            d.insert(record.id.clone(), (record.clone(), entries.to_vec()));
            Ok(())
        })
    }

    fn set_status<'a>(
        &'a self,
        id: &'a str,
        status: &'a str,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move { self.write_status(id, status) })
    }

    fn set_entry<'a>(
        &'a self,
        id: &'a str,
        entry: &'a LogEntry,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move { self.write_entry(id, entry) })
    }

    fn set_status_now(&self, id: &str, status: &str) -> Option<Result<(), LogError>> {
        Some(self.write_status(id, status))
    }

    fn set_entry_now(&self, id: &str, entry: &LogEntry) -> Option<Result<(), LogError>> {
        Some(self.write_entry(id, entry))
    }

    fn find<'a>(
        &'a self,
        kind: &'a str,
        name: &'a str,
        statuses: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<LoggedInstance>, LogError>> {
        Box::pin(async move {
            let d = lock(&self.data);
            let mut out: Vec<_> = d
                .values()
                .filter(|(r, _)| {
                    r.kind == kind && r.name == name && statuses.contains(&r.status.as_str())
                })
                .cloned()
                .collect();
            out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
            Ok(out)
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<LoggedInstance>, LogError>> {
        Box::pin(async move { Ok(lock(&self.data).get(id).cloned()) })
    }
}

/// A span context as a W3C `traceparent` value (otel-core's
/// allocation-free codec), as stored in the log.
pub fn to_traceparent(sc: &SpanContext) -> Option<String> {
    otel_core::propagation::TraceParent::format(sc).map(|tp| tp.as_str().to_owned())
}

/// Parses a stored `traceparent` value into a remote span context.
pub fn from_traceparent(s: &str) -> Option<SpanContext> {
    otel_core::propagation::TraceParent::parse(s)
        .map(|tp| tp.to_span_context(TraceState::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let s = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let sc = from_traceparent(s).unwrap();
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(to_traceparent(&sc).as_deref(), Some(s));
        assert!(from_traceparent("00-zz-b7ad6b7169203331-01").is_none());
        assert!(to_traceparent(&SpanContext::empty_context()).is_none());
    }
}
