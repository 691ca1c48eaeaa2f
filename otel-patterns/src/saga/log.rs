//! The durable log of sagas and two-phase-commit transactions.

use futures_util::future::BoxFuture;
use opentelemetry::trace::{SpanContext, TraceState};
use otel_kit_core::opentelemetry;
use otel_kit_core::propagation::TraceParent;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One saga or transaction instance.
///
/// The states the patterns write are `&'static str`s
/// (`Cow::Borrowed`, no allocation); a log reading them back from storage
/// gives `Cow::Owned`. Span references are kept as [`TraceParent`]s (ids
/// and flags, `Copy`): a log stores them as W3C `traceparent` text with
/// [`TraceParent::encode`] and reads them back with
/// [`TraceParent::parse`] (an unparsable stored value reads as `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Instance id (`saga.id`, `2pc.id`), unique in the log.
    pub id: String,
    /// `saga` or `2pc`.
    pub kind: Cow<'static, str>,
    /// Definition name (`saga.name`, `2pc.name`).
    pub name: String,
    /// The input, as JSON.
    pub payload: String,
    /// The instance state (see the saga and 2PC docs for the values).
    pub status: Cow<'static, str>,
    /// The instance's root span.
    pub span: Option<TraceParent>,
}

/// One step of a saga or one participant of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Position (0-based).
    pub index: u32,
    /// Step or participant name (shared with the definition).
    pub name: Arc<str>,
    /// Its state.
    pub state: Cow<'static, str>,
    /// The span of its last action.
    pub span: Option<TraceParent>,
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

    /// Claims instance `id` for `owner` (one recovery call) if its status
    /// is one of `statuses` and no other owner holds an unexpired claim;
    /// the claim lasts `lease`. `true` when `owner` now holds it. Recovery
    /// claims every instance before touching it, so concurrent
    /// [`Saga::recover`](super::Saga::recover) calls (in one process or
    /// several sharing the log) never resume the same instance twice.
    ///
    /// The default grants every claim: a log without it supports a single
    /// recovering caller. [`MemoryLog`] and `PostgresLog` implement it.
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

/// An in-memory [`SagaLog`]: survives nothing but is the default, and the
/// reference for the others.
#[derive(Debug, Default)]
pub struct MemoryLog {
    data: Mutex<HashMap<String, (LogRecord, Vec<LogEntry>)>>,
    /// Recovery claims: instance id → (owner, expiry).
    claims: Mutex<HashMap<String, (String, Instant)>>,
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
        let s = r.status.to_mut();
        s.clear();
        s.push_str(status);
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

/// Runs `work` (the recovery of claimed instance `id`) while renewing
/// `owner`'s claim every third of `lease`, so a recovery that outlasts one
/// lease (long compensation retries, a slow participant) is not resumed a
/// second time by a recovery that sees the claim expire. Renewal is
/// [`SagaLog::claim`] again by the same owner; `statuses` must hold every
/// status the instance passes through while `work` runs. Renewal stops
/// when a claim is refused (the instance reached a final status, or the
/// claim was lost after all); a failed renewal is tried again a period
/// later. Renewal waits on Tokio's timer: outside a Tokio runtime (the
/// saga API itself runs on any executor) `work` runs without it, holding
/// the claim for one lease.
pub(crate) async fn renewing_claim<F: Future>(
    log: &dyn SagaLog,
    id: &str,
    owner: &str,
    statuses: &[&str],
    lease: Duration,
    work: F,
) -> F::Output {
    if tokio::runtime::Handle::try_current().is_err() {
        return work.await;
    }
    let period = (lease / 3).max(Duration::from_millis(1));
    let renew = async {
        loop {
            tokio::time::sleep(period).await;
            if let Ok(false) = log.claim(id, owner, statuses, lease).await {
                break;
            }
        }
        // Never completes: only `work` ends the select.
        std::future::pending::<F::Output>().await
    };
    tokio::select! {
        biased;
        out = work => out,
        out = renew => out,
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
                .filter(|(r, _)| r.kind == kind && r.name == name && statuses.contains(&&*r.status))
                .cloned()
                .collect();
            out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
            Ok(out)
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<LoggedInstance>, LogError>> {
        Box::pin(async move { Ok(lock(&self.data).get(id).cloned()) })
    }

    fn claim<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        statuses: &'a [&'a str],
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, LogError>> {
        Box::pin(async move {
            // Lock order: data, then claims (as in `release`'s callers).
            let data = lock(&self.data);
            let open = data
                .get(id)
                .is_some_and(|(r, _)| statuses.contains(&&*r.status));
            if !open {
                return Ok(false);
            }
            let mut claims = lock(&self.claims);
            let now = Instant::now();
            match claims.get(id) {
                Some((o, until)) if o != owner && *until > now => Ok(false),
                _ => {
                    claims.insert(id.to_owned(), (owner.to_owned(), now + lease));
                    Ok(true)
                }
            }
        })
    }

    fn release<'a>(&'a self, id: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move {
            let mut claims = lock(&self.claims);
            if claims.get(id).is_some_and(|(o, _)| o == owner) {
                claims.remove(id);
            }
            Ok(())
        })
    }
}

/// The span reference stored in the log for a span context (`None` when
/// it is invalid).
pub fn to_traceparent(sc: &SpanContext) -> Option<TraceParent> {
    TraceParent::from_span_context(sc)
}

/// The remote span context a stored span reference stands for.
pub fn from_traceparent(tp: TraceParent) -> SpanContext {
    tp.to_span_context(TraceState::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let s = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let sc = from_traceparent(TraceParent::parse(s).unwrap());
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(to_traceparent(&sc).unwrap().encode().as_str(), s);
        assert!(to_traceparent(&SpanContext::empty_context()).is_none());
    }
}
