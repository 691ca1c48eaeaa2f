//! [`MemoryLog`]: the in-memory [`SagaLog`], the default.

use super::{LogEntry, LogError, LogRecord, LoggedInstance, SagaLog};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An in-memory [`SagaLog`]: survives nothing but is the default, and the
/// reference for the others. Share one between a saga and a test to look
/// at what it wrote:
///
/// ```
/// use otel_kit_patterns::log::{MemoryLog, SagaLog};
/// use otel_kit_patterns::saga::{Saga, Step};
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let log = Arc::new(MemoryLog::new());
/// let saga = Saga::<()>::builder("order")
///     .step(Step::new("reserve", |_| async { Ok(()) }))
///     .log(log.clone())
///     .build();
/// let id = saga.run(()).await.unwrap().id;
/// let (record, _) = log.get(&id).await.unwrap().unwrap();
/// assert_eq!(record.status, "completed");
/// # }
/// ```
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
