//! An idempotency barrier for saga participants, in the manner of dtm's:
//! each (saga id, branch, operation) is written once, so
//!
//! - a duplicate request is skipped (`saga.barrier.duplicate`),
//! - a compensation whose action never ran is a no-op
//!   (`saga.barrier.null_compensation`), and
//! - an action arriving after its compensation is refused
//!   (`saga.barrier.hanging`),
//!
//! each recorded as an event on the current span.
//!
//! [`Barrier`] writes its rows through a [`BarrierStore`], apart from the
//! participant's business change. With feature `postgres`,
//! `saga::TxBarrier` writes them in the participant's own
//! `tokio_postgres::Transaction`, as dtm does, so the row and the business
//! change commit or roll back together.
//!
//! ```
//! use otel_kit_patterns::saga::barrier::{Barrier, BarrierResult, MemoryBarrierStore};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let barrier = Barrier::new(MemoryBarrierStore::default());
//! // The compensation arrives first (the action was lost in the network)...
//! let r = barrier.compensation("saga-1", "reserve", async { Ok::<_, ()>(()) }).await.unwrap();
//! assert_eq!(r, BarrierResult::NullCompensation);
//! // ...then the late action must not run.
//! let r = barrier.action("saga-1", "reserve", async { Ok::<_, ()>(()) }).await.unwrap();
//! assert_eq!(r, BarrierResult::Hanging);
//! # }
//! ```

use crate::log::LogError;
use crate::names;
use futures_util::future::BoxFuture;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use otel_kit_core::opentelemetry;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Operation recorded in the barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// The forward action.
    Action,
    /// The compensation.
    Compensation,
}

impl Op {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Action => "action",
            Op::Compensation => "compensation",
        }
    }
}

/// Storage of barrier rows: (gid, branch, op) → the op that wrote it.
/// Implemented by [`MemoryBarrierStore`] and `PostgresLog` (feature
/// `postgres`); a [`Barrier`] takes any:
///
/// ```no_run
/// use otel_kit_patterns::log::PostgresLog;
/// use otel_kit_patterns::saga::barrier::Barrier;
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresLog::connect("postgres://postgres@127.0.0.1:5432/test", "inventory").await?;
/// let barrier = Barrier::new(store);
/// # let _ = barrier; Ok(()) }
/// ```
pub trait BarrierStore: Send + Sync + 'static {
    /// Inserts (gid, branch, op) written by `origin` unless present; returns
    /// `None` when inserted, or the origin of the existing row.
    fn insert<'a>(
        &'a self,
        gid: &'a str,
        branch: &'a str,
        op: Op,
        origin: Op,
    ) -> BoxFuture<'a, Result<Option<Op>, LogError>>;

    /// Removes (gid, branch, op): the guarded operation failed, so a retry
    /// must run it again.
    fn remove<'a>(
        &'a self,
        gid: &'a str,
        branch: &'a str,
        op: Op,
    ) -> BoxFuture<'a, Result<(), LogError>>;
}

/// An in-memory [`BarrierStore`] (one process; see
/// [`Barrier`] for its use). `PostgresLog` is the durable one.
#[derive(Debug, Default)]
pub struct MemoryBarrierStore {
    rows: Mutex<HashMap<(String, String, Op), Op>>,
}

impl BarrierStore for MemoryBarrierStore {
    fn insert<'a>(
        &'a self,
        gid: &'a str,
        branch: &'a str,
        op: Op,
        origin: Op,
    ) -> BoxFuture<'a, Result<Option<Op>, LogError>> {
        Box::pin(async move {
            let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
            let key = (gid.to_owned(), branch.to_owned(), op);
            if let Some(existing) = rows.get(&key) {
                return Ok(Some(*existing));
            }
            rows.insert(key, origin);
            Ok(None)
        })
    }

    fn remove<'a>(
        &'a self,
        gid: &'a str,
        branch: &'a str,
        op: Op,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move {
            let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
            rows.remove(&(gid.to_owned(), branch.to_owned(), op));
            Ok(())
        })
    }
}

/// What the barrier did with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierResult {
    /// The operation ran.
    Ran,
    /// Already done: skipped.
    Duplicate,
    /// Compensation of an action that never ran: skipped, and the action is
    /// now blocked.
    NullCompensation,
    /// Action after its compensation: skipped.
    Hanging,
}

/// The error of a barrier-guarded call.
#[derive(Debug, thiserror::Error)]
pub enum BarrierError<E> {
    /// The store failed; the operation did not run.
    #[error(transparent)]
    Store(LogError),
    /// The operation ran and failed.
    #[error("operation failed")]
    Operation(E),
}

/// The barrier over a store: a saga participant guards its action and its
/// compensation with it, keyed by the saga id and the step's name (both in
/// the [`StepContext`](super::StepContext)).
///
/// ```
/// use otel_kit_patterns::saga::barrier::{Barrier, MemoryBarrierStore};
/// use otel_kit_patterns::saga::{Saga, Step, StepContext, StepError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let barrier = Barrier::new(MemoryBarrierStore::default());
/// let (b1, b2) = (barrier.clone(), barrier);
/// let saga = Saga::<u32>::builder("order")
///     .step(
///         Step::new("reserve", move |cx: StepContext<u32>| {
///             let b = b1.clone();
///             async move {
///                 // Skipped when a retry or a redelivery runs it again.
///                 b.action(&cx.saga_id, &cx.step, async { Ok::<_, StepError>(()) })
///                     .await
///                     .map_err(|e| StepError::new("barrier", e.to_string()))?;
///                 Ok(())
///             }
///         })
///         .compensate_with(move |cx: StepContext<u32>| {
///             let b = b2.clone();
///             async move {
///                 // A no-op when the action never ran.
///                 b.compensation(&cx.saga_id, &cx.step, async { Ok::<_, StepError>(()) })
///                     .await
///                     .map_err(|e| StepError::new("barrier", e.to_string()))?;
///                 Ok(())
///             }
///         }),
///     )
///     .build();
/// saga.run(1).await.unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct Barrier {
    store: Arc<dyn BarrierStore>,
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}

pub(crate) fn event(name: &'static str, gid: &str, branch: &str, op: Op) {
    let cx = Context::current();
    let span = cx.span();
    if span.is_recording() {
        span.add_event(
            name,
            vec![
                KeyValue::new(names::SAGA_ID, gid.to_owned()),
                KeyValue::new(names::SAGA_BRANCH, branch.to_owned()),
                KeyValue::new(names::SAGA_BARRIER_OP, op.as_str()),
            ],
        );
    }
}

impl Barrier {
    /// A barrier over `store`.
    pub fn new(store: impl BarrierStore) -> Self {
        Barrier {
            store: Arc::new(store),
        }
    }

    /// Runs the action `fut` of branch `branch` of saga `gid` unless it is a
    /// duplicate or hanging. When the action fails its row is removed, so a
    /// retry runs it again. (The row and the business change are not in one
    /// database transaction: a crash between them is resolved by the saga's
    /// in-doubt handling. A participant whose business change is in
    /// PostgreSQL should use `TxBarrier` (feature `postgres`) instead: the
    /// row is written in the business transaction.)
    pub async fn action<T, E, F>(
        &self,
        gid: &str,
        branch: &str,
        fut: F,
    ) -> Result<BarrierResult, BarrierError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        match self
            .store
            .insert(gid, branch, Op::Action, Op::Action)
            .await
            .map_err(BarrierError::Store)?
        {
            None => match fut.await {
                Ok(_) => Ok(BarrierResult::Ran),
                Err(e) => {
                    self.store
                        .remove(gid, branch, Op::Action)
                        .await
                        .map_err(BarrierError::Store)?;
                    Err(BarrierError::Operation(e))
                }
            },
            Some(Op::Compensation) => {
                event(names::SAGA_HANGING_EVENT, gid, branch, Op::Action);
                Ok(BarrierResult::Hanging)
            }
            Some(Op::Action) => {
                event(names::SAGA_DUPLICATE_EVENT, gid, branch, Op::Action);
                Ok(BarrierResult::Duplicate)
            }
        }
    }

    /// Runs the compensation `fut` unless it is a duplicate or a null
    /// compensation.
    pub async fn compensation<T, E, F>(
        &self,
        gid: &str,
        branch: &str,
        fut: F,
    ) -> Result<BarrierResult, BarrierError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        // Claim the action's row: success means the action never ran.
        let null = self
            .store
            .insert(gid, branch, Op::Action, Op::Compensation)
            .await
            .map_err(BarrierError::Store)?
            .is_none();
        let dup = self
            .store
            .insert(gid, branch, Op::Compensation, Op::Compensation)
            .await
            .map_err(BarrierError::Store)?
            .is_some();
        if dup {
            event(names::SAGA_DUPLICATE_EVENT, gid, branch, Op::Compensation);
            return Ok(BarrierResult::Duplicate);
        }
        if null {
            event(names::SAGA_NULL_COMP_EVENT, gid, branch, Op::Compensation);
            return Ok(BarrierResult::NullCompensation);
        }
        match fut.await {
            Ok(_) => Ok(BarrierResult::Ran),
            Err(e) => {
                self.store
                    .remove(gid, branch, Op::Compensation)
                    .await
                    .map_err(BarrierError::Store)?;
                Err(BarrierError::Operation(e))
            }
        }
    }
}
