//! PostgreSQL implementations of [`SagaLog`] and of the barrier store
//! (feature `postgres`).

use super::barrier::{BarrierError, BarrierResult, BarrierStore, Op, event};
use super::{LogEntry, LogError, LogRecord, LoggedInstance, SagaLog};
use crate::names;
use futures_util::future::BoxFuture;
use otel_kit_core::propagation::{TraceParent, TraceParentBuf};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// A [`SagaLog`] (and barrier store) in PostgreSQL tables `records`,
/// `entries` and `barrier` of one schema, created if missing. Every write is
/// one statement, committed before the saga acts on it.
#[derive(Clone)]
pub struct PostgresLog {
    client: Arc<Client>,
    schema: String,
}

impl fmt::Debug for PostgresLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLog")
            .field("schema", &self.schema)
            .finish()
    }
}

fn pg(e: tokio_postgres::Error) -> LogError {
    LogError(e.to_string())
}

fn valid_schema(schema: &str) -> Result<(), LogError> {
    if schema.is_empty()
        || !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(LogError(format!("invalid schema name {schema:?}")));
    }
    Ok(())
}

/// The schema and the barrier table (shared by [`PostgresLog`] and
/// [`TxBarrier`]); `schema` is checked by [`valid_schema`].
fn barrier_ddl(s: &str) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS \"{s}\";
         CREATE TABLE IF NOT EXISTS \"{s}\".barrier (
           gid text NOT NULL, branch text NOT NULL, op text NOT NULL,
           origin text NOT NULL, created timestamptz NOT NULL DEFAULT now(),
           PRIMARY KEY (gid, branch, op));"
    )
}

impl PostgresLog {
    /// Connects to `url` (e.g. `postgres://postgres@127.0.0.1:5432/test`,
    /// no TLS) and prepares the tables in `schema` (letters, digits, `_`).
    /// The connection is driven by a spawned tokio task.
    pub async fn connect(url: &str, schema: &str) -> Result<Self, LogError> {
        let (client, conn) = tokio_postgres::connect(url, NoTls).await.map_err(pg)?;
        tokio::spawn(async move {
            // The connection ends when the client is dropped or the server goes away.
            let _ = conn.await;
        });
        Self::with_client(Arc::new(client), schema).await
    }

    /// Uses an existing client.
    pub async fn with_client(client: Arc<Client>, schema: &str) -> Result<Self, LogError> {
        valid_schema(schema)?;
        let s = schema;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{s}\";
                 CREATE TABLE IF NOT EXISTS \"{s}\".records (
                   id text PRIMARY KEY, kind text NOT NULL, name text NOT NULL,
                   payload text NOT NULL, status text NOT NULL, span text,
                   created timestamptz NOT NULL DEFAULT now(),
                   updated timestamptz NOT NULL DEFAULT now());
                 ALTER TABLE \"{s}\".records
                   ADD COLUMN IF NOT EXISTS claim_owner text,
                   ADD COLUMN IF NOT EXISTS claim_until timestamptz;
                 CREATE INDEX IF NOT EXISTS records_open ON \"{s}\".records (kind, name, status);
                 CREATE TABLE IF NOT EXISTS \"{s}\".entries (
                   record_id text NOT NULL REFERENCES \"{s}\".records(id) ON DELETE CASCADE,
                   idx integer NOT NULL, name text NOT NULL, state text NOT NULL,
                   span text, error text, PRIMARY KEY (record_id, idx));
                 {}",
                barrier_ddl(s)
            ))
            .await
            .map_err(pg)?;
        Ok(PostgresLog {
            client,
            schema: schema.to_owned(),
        })
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Drops the schema and everything in it (tests).
    pub async fn drop_schema(&self) -> Result<(), LogError> {
        self.client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ))
            .await
            .map_err(pg)
    }

    async fn entries(&self, id: &str) -> Result<Vec<LogEntry>, LogError> {
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT idx, name, state, span, error FROM \"{}\".entries WHERE record_id = $1 ORDER BY idx",
                    self.schema
                ),
                &[&id],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| LogEntry {
                index: r.get::<_, i32>(0) as u32,
                name: Arc::from(r.get::<_, &str>(1)),
                state: Cow::Owned(r.get(2)),
                span: parse_span(r.get(3)),
                error: r.get(4),
            })
            .collect())
    }
}

fn record(r: &tokio_postgres::Row) -> LogRecord {
    LogRecord {
        id: r.get(0),
        kind: Cow::Owned(r.get(1)),
        name: r.get(2),
        payload: r.get(3),
        status: Cow::Owned(r.get(4)),
        span: parse_span(r.get(5)),
    }
}

/// A stored `traceparent`; an unparsable value reads as no span.
fn parse_span(s: Option<&str>) -> Option<TraceParent> {
    s.and_then(TraceParent::parse)
}

/// The `traceparent` text stored for a span reference.
fn span_text(tp: Option<TraceParent>) -> Option<TraceParentBuf> {
    tp.map(|tp| tp.encode())
}

impl SagaLog for PostgresLog {
    fn create<'a>(
        &'a self,
        rec: &'a LogRecord,
        entries: &'a [LogEntry],
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move {
            let s = &self.schema;
            // One statement: the record and its entries commit together.
            let idx: Vec<i32> = entries.iter().map(|e| e.index as i32).collect();
            let names: Vec<&str> = entries.iter().map(|e| &*e.name).collect();
            let states: Vec<&str> = entries.iter().map(|e| &*e.state).collect();
            let span = span_text(rec.span);
            self.client
                .execute(
                    &format!(
                        "WITH r AS (INSERT INTO \"{s}\".records (id, kind, name, payload, status, span)
                           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id)
                         INSERT INTO \"{s}\".entries (record_id, idx, name, state)
                         SELECT r.id, e.idx, e.name, e.state FROM r,
                           unnest($7::int[], $8::text[], $9::text[]) AS e(idx, name, state)"
                    ),
                    &[
                        &rec.id,
                        &&*rec.kind,
                        &rec.name,
                        &rec.payload,
                        &&*rec.status,
                        &span.as_deref(),
                        &idx,
                        &names,
                        &states,
                    ],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }

    fn set_status<'a>(
        &'a self,
        id: &'a str,
        status: &'a str,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move {
            let n = self
                .client
                .execute(
                    &format!(
                        "UPDATE \"{}\".records SET status = $2, updated = now() WHERE id = $1",
                        self.schema
                    ),
                    &[&id, &status],
                )
                .await
                .map_err(pg)?;
            if n == 0 {
                return Err(LogError(format!("no instance {id}")));
            }
            Ok(())
        })
    }

    fn set_entry<'a>(
        &'a self,
        id: &'a str,
        e: &'a LogEntry,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move {
            let span = span_text(e.span);
            self.client
                .execute(
                    &format!(
                        "INSERT INTO \"{}\".entries (record_id, idx, name, state, span, error)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (record_id, idx) DO UPDATE
                         SET name = EXCLUDED.name, state = EXCLUDED.state,
                             span = EXCLUDED.span, error = EXCLUDED.error",
                        self.schema
                    ),
                    &[
                        &id,
                        &(e.index as i32),
                        &&*e.name,
                        &&*e.state,
                        &span.as_deref(),
                        &e.error,
                    ],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }

    fn find<'a>(
        &'a self,
        kind: &'a str,
        name: &'a str,
        statuses: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<LoggedInstance>, LogError>> {
        Box::pin(async move {
            let statuses: Vec<&str> = statuses.to_vec();
            let rows = self
                .client
                .query(
                    &format!(
                        "SELECT id, kind, name, payload, status, span FROM \"{}\".records
                         WHERE kind = $1 AND name = $2 AND status = ANY($3) ORDER BY created, id",
                        self.schema
                    ),
                    &[&kind, &name, &statuses],
                )
                .await
                .map_err(pg)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let rec = record(r);
                let entries = self.entries(&rec.id).await?;
                out.push((rec, entries));
            }
            Ok(out)
        })
    }

    fn claim<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        statuses: &'a [&'a str],
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, LogError>> {
        Box::pin(self.claim_row(id, owner, statuses, lease))
    }

    fn release<'a>(&'a self, id: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move {
            self.client
                .execute(
                    &format!(
                        "UPDATE \"{}\".records SET claim_owner = NULL, claim_until = NULL
                         WHERE id = $1 AND claim_owner = $2",
                        self.schema
                    ),
                    &[&id, &owner],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<LoggedInstance>, LogError>> {
        Box::pin(async move {
            let row = self
                .client
                .query_opt(
                    &format!(
                        "SELECT id, kind, name, payload, status, span FROM \"{}\".records WHERE id = $1",
                        self.schema
                    ),
                    &[&id],
                )
                .await
                .map_err(pg)?;
            match row {
                None => Ok(None),
                Some(r) => {
                    let rec = record(&r);
                    let entries = self.entries(&rec.id).await?;
                    Ok(Some((rec, entries)))
                }
            }
        })
    }
}

impl PostgresLog {
    async fn claim_row(
        &self,
        id: &str,
        owner: &str,
        statuses: &[&str],
        lease: Duration,
    ) -> Result<bool, LogError> {
        // One statement: the row lock makes concurrent claims of one
        // instance take turns, and the second sees the first's owner.
        let n = self
            .client
            .execute(
                &format!(
                    "UPDATE \"{}\".records
                     SET claim_owner = $2, claim_until = now() + make_interval(secs => $4)
                     WHERE id = $1 AND status = ANY($3)
                       AND (claim_owner IS NULL OR claim_owner = $2 OR claim_until < now())",
                    self.schema
                ),
                &[&id, &owner, &statuses, &lease.as_secs_f64()],
            )
            .await
            .map_err(pg)?;
        Ok(n == 1)
    }
}

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
    client: &impl tokio_postgres::GenericClient,
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

impl BarrierStore for PostgresLog {
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

impl PostgresLog {
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
