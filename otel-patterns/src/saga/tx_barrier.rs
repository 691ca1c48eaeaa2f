//! [`TxBarrier`]: the idempotency barrier inside the participant's own
//! PostgreSQL transaction, and [`PostgresLog`] as a [`BarrierStore`]
//! (feature `postgres`).

use super::barrier::{BarrierError, BarrierResult, BarrierStore, Op, event};
use crate::log::postgres::{barrier_ddl, pg, valid_schema};
use crate::log::{LogError, PostgresLog};
use crate::names;
use futures_util::future::BoxFuture;
use otel_kit_core::instrument::PostgresClient;

fn op_from(s: &str) -> Op {
    if s == Op::Compensation.as_str() {
        Op::Compensation
    } else {
        Op::Action
    }
}

/// Inserts the barrier row (gid, branch, op) written by `origin` unless it
/// is present: `None` when inserted, else the existing row's origin. Through
/// the log's own client, or inside the participant's transaction
/// ([`TxBarrier`]).
async fn insert_barrier(
    client: &impl PostgresClient,
    schema: &str,
    gid: &str,
    branch: &str,
    op: Op,
    origin: Op,
) -> Result<Option<Op>, LogError> {
    let n = client
        .execute(
            &format!(
                "INSERT INTO \"{schema}\".barrier (gid, branch, op, origin) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING"
            ),
            &[&gid, &branch, &op.as_str(), &origin.as_str()],
        )
        .await
        .map_err(pg)?;
    if n == 1 {
        return Ok(None);
    }
    let row = client
        .query_opt(
            &format!(
                "SELECT origin FROM \"{schema}\".barrier WHERE gid = $1 AND branch = $2 AND op = $3"
            ),
            &[&gid, &branch, &op.as_str()],
        )
        .await
        .map_err(pg)?;
    // Removed between the two statements: report it as present (the
    // caller skips, which is the safe side).
    Ok(Some(row.map_or(origin, |r| op_from(r.get::<_, &str>(0)))))
}

impl<C: PostgresClient + 'static> BarrierStore for PostgresLog<C> {
    fn insert<'a>(
        &'a self,
        gid: &'a str,
        branch: &'a str,
        op: Op,
        origin: Op,
    ) -> BoxFuture<'a, Result<Option<Op>, LogError>> {
        Box::pin(insert_barrier(
            &*self.client,
            &self.schema,
            gid,
            branch,
            op,
            origin,
        ))
    }

    fn remove<'a>(
        &'a self,
        gid: &'a str,
        branch: &'a str,
        op: Op,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move {
            self.client
                .execute(
                    &format!(
                        "DELETE FROM \"{}\".barrier WHERE gid = $1 AND branch = $2 AND op = $3",
                        self.schema
                    ),
                    &[&gid, &branch, &op.as_str()],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }
}

/// The barrier inside the participant's own database transaction, as dtm's
/// barrier does it: the barrier row is inserted (`ON CONFLICT DO NOTHING`)
/// in the caller's `tokio_postgres::Transaction`, before the business
/// change in that same transaction, so both commit or roll back together.
/// A crash or error between them leaves neither; a concurrent duplicate
/// request waits on the row's unique key until the first commits, then
/// sees it and is skipped (or runs, if the first rolled back).
///
/// The barrier table must live in the participant's database (not
/// necessarily the saga log's): [`TxBarrier::create_table`] creates it,
/// or use [`PostgresLog::tx_barrier`] when they share one. Run the
/// transactions at `READ COMMITTED` (PostgreSQL's default); under
/// `REPEATABLE READ` or `SERIALIZABLE` a concurrent duplicate fails with a
/// serialization error instead of waiting (retry it).
///
/// Duplicate, null-compensation and hanging-action detection and their span
/// events (`saga.barrier.duplicate`, `saga.barrier.null_compensation`,
/// `saga.barrier.hanging` on the current span) are those of
/// [`Barrier`](super::barrier::Barrier).
///
/// ```no_run
/// use otel_kit_patterns::saga::barrier::{BarrierResult, Op};
/// use otel_kit_patterns::saga::TxBarrier;
/// # async fn reserve(client: &mut tokio_postgres::Client, saga_id: &str) -> Result<(), Box<dyn std::error::Error>> {
/// let barrier = TxBarrier::new("public")?;
/// barrier.create_table(&*client).await?;
/// let tx = client.transaction().await?;
/// let r = barrier
///     .call(tx, saga_id, "reserve", Op::Action, async |tx| {
///         tx.execute("UPDATE stock SET held = held + 1 WHERE sku = 'a'", &[]).await
///     })
///     .await?;
/// // `Ran`: the update and the barrier row committed together; anything
/// // else: skipped, nothing changed but the barrier rows.
/// assert!(matches!(r, BarrierResult::Ran | BarrierResult::Duplicate));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TxBarrier {
    schema: String,
}

impl<C> PostgresLog<C> {
    /// The transactional barrier over this log's `barrier` table (for a
    /// participant whose business tables are in the log's database).
    pub fn tx_barrier(&self) -> TxBarrier {
        TxBarrier {
            schema: self.schema.clone(),
        }
    }
}

impl TxBarrier {
    /// A barrier over table `barrier` of `schema` (letters, digits, `_`).
    pub fn new(schema: &str) -> Result<Self, LogError> {
        valid_schema(schema)?;
        Ok(TxBarrier {
            schema: schema.to_owned(),
        })
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Creates the schema and the barrier table if missing (same table as
    /// [`PostgresLog`]'s).
    pub async fn create_table(
        &self,
        client: &impl tokio_postgres::GenericClient,
    ) -> Result<(), LogError> {
        client
            .batch_execute(&barrier_ddl(&self.schema))
            .await
            .map_err(pg)
    }

    /// Inserts (gid, branch, op) written by `origin` in `tx` unless present;
    /// `None` when inserted, else the existing row's origin.
    async fn insert(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        gid: &str,
        branch: &str,
        op: Op,
        origin: Op,
    ) -> Result<Option<Op>, LogError> {
        insert_barrier(tx, &self.schema, gid, branch, op, origin).await
    }

    /// Writes the barrier rows of `op` on branch `branch` of saga `gid` in
    /// `tx` and says whether the business change must run: `Ran` means
    /// "run it now, in `tx`, then commit `tx`"; `Duplicate`,
    /// `NullCompensation` and `Hanging` mean skip it (and still commit
    /// `tx`: a null compensation's row is what blocks the late action).
    /// When the business change fails, roll `tx` back: the barrier rows go
    /// with it, so a retry runs again.
    pub async fn enter(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        gid: &str,
        branch: &str,
        op: Op,
    ) -> Result<BarrierResult, LogError> {
        match op {
            Op::Action => match self.insert(tx, gid, branch, Op::Action, Op::Action).await? {
                None => Ok(BarrierResult::Ran),
                Some(Op::Compensation) => {
                    event(names::SAGA_HANGING_EVENT, gid, branch, Op::Action);
                    Ok(BarrierResult::Hanging)
                }
                Some(Op::Action) => {
                    event(names::SAGA_DUPLICATE_EVENT, gid, branch, Op::Action);
                    Ok(BarrierResult::Duplicate)
                }
            },
            Op::Compensation => {
                // Claim the action's row: success means the action never ran.
                let null = self
                    .insert(tx, gid, branch, Op::Action, Op::Compensation)
                    .await?
                    .is_none();
                let dup = self
                    .insert(tx, gid, branch, Op::Compensation, Op::Compensation)
                    .await?
                    .is_some();
                if dup {
                    event(names::SAGA_DUPLICATE_EVENT, gid, branch, Op::Compensation);
                    Ok(BarrierResult::Duplicate)
                } else if null {
                    event(names::SAGA_NULL_COMP_EVENT, gid, branch, Op::Compensation);
                    Ok(BarrierResult::NullCompensation)
                } else {
                    Ok(BarrierResult::Ran)
                }
            }
        }
    }

    /// dtm's `CallWithDB`: [`enter`](Self::enter) in `tx`, then, unless
    /// skipped, `business` in `tx`; commits `tx` when the business change
    /// succeeded or was skipped, rolls it back (barrier rows included) when
    /// it failed.
    pub async fn call<T, E, F>(
        &self,
        tx: tokio_postgres::Transaction<'_>,
        gid: &str,
        branch: &str,
        op: Op,
        business: F,
    ) -> Result<BarrierResult, BarrierError<E>>
    where
        F: AsyncFnOnce(&tokio_postgres::Transaction<'_>) -> Result<T, E>,
    {
        let r = self
            .enter(&tx, gid, branch, op)
            .await
            .map_err(BarrierError::Store)?;
        if r == BarrierResult::Ran
            && let Err(e) = business(&tx).await
        {
            // A failed rollback leaves the server to abort the transaction
            // when the connection drops it; the business error is the one
            // that matters.
            let _ = tx.rollback().await;
            return Err(BarrierError::Operation(e));
        }
        tx.commit().await.map_err(|e| BarrierError::Store(pg(e)))?;
        Ok(r)
    }
}
