//! [`PostgresLog`]: the [`SagaLog`] in PostgreSQL (feature `postgres`).

use super::{LogEntry, LogError, LogRecord, LoggedInstance, SagaLog};
use futures_util::future::BoxFuture;
use otel_kit_core::instrument::PostgresClient;
use otel_kit_core::propagation::{TraceParent, TraceParentBuf};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// A [`SagaLog`] (and barrier store) in PostgreSQL tables `records`,
/// `entries` and `barrier` of one schema, created if missing. Every write is
/// one statement, committed before the saga acts on it.
///
/// ```no_run
/// use otel_kit_patterns::log::PostgresLog;
/// use otel_kit_patterns::saga::{Saga, Step};
/// use std::sync::Arc;
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let log = Arc::new(PostgresLog::connect("postgres://postgres@127.0.0.1:5432/test", "orders").await?);
/// let saga = Saga::<String>::builder("order")
///     .step(Step::new("reserve", |_| async { Ok(()) }))
///     .log(log)
///     .build();
/// saga.recover().await?;
/// saga.run("order-1".to_owned()).await?;
/// # Ok(()) }
/// ```
///
/// # Traced log writes
///
/// The log runs its statements on any [`PostgresClient`](super::PostgresClient)
/// (the instrumentation core's trait, re-exported here). [`connect`](Self::connect)
/// uses a plain `tokio_postgres::Client`: its statements make no spans.
/// Hand [`with_client`](Self::with_client) a traced client of
/// `otel-kit-db` instead (`otel_kit_db::postgres::TracedClient`, feature
/// `tokio-postgres`, which implements the trait) and every log write is a
/// CLIENT span (`INSERT orders.entries`, `UPDATE orders.records`,
/// `db.system.name` `postgresql`): each step's writes (`started`, then
/// `done` or `failed`) are children of the step's span, a compensation's
/// of the compensation's, the instance's creation and status changes of
/// the saga's. No glue: neither crate depends on the other, both on the
/// core trait.
///
/// ```no_run
/// use otel_kit_patterns::log::{PostgresClient, PostgresLog};
/// use otel_kit_patterns::saga::{Saga, Step};
/// use std::sync::Arc;
///
/// // `client`: the traced client, made once at start-up:
/// //   let config: tokio_postgres::Config = "postgres://postgres@127.0.0.1:5432/test".parse()?;
/// //   let client = otel_kit_db::postgres::connect(&config, tokio_postgres::NoTls,
/// //       &otel_kit_db::Instrumentation::default()).await?;
/// async fn order_saga(client: impl PostgresClient + 'static) -> Result<(), Box<dyn std::error::Error>> {
///     let log = Arc::new(PostgresLog::with_client(Arc::new(client), "orders").await?);
///     let saga = Saga::<String>::builder("order")
///         .step(Step::new("reserve", |_| async { Ok(()) }))
///         .log(log)
///         .build();
///     // Span `reserve` has children `INSERT orders.entries` (started, done).
///     saga.run("order-1".to_owned()).await?;
///     Ok(())
/// }
/// ```
pub struct PostgresLog<C = Client> {
    pub(crate) client: Arc<C>,
    pub(crate) schema: String,
}

impl<C> Clone for PostgresLog<C> {
    fn clone(&self) -> Self {
        PostgresLog {
            client: self.client.clone(),
            schema: self.schema.clone(),
        }
    }
}

impl<C> fmt::Debug for PostgresLog<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLog")
            .field("schema", &self.schema)
            .finish()
    }
}

pub(crate) fn pg(e: tokio_postgres::Error) -> LogError {
    LogError(e.to_string())
}

pub(crate) fn valid_schema(schema: &str) -> Result<(), LogError> {
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
/// [`TxBarrier`](crate::saga::TxBarrier)); `schema` is checked by [`valid_schema`].
pub(crate) fn barrier_ddl(s: &str) -> String {
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
    /// The connection is driven by a spawned tokio task. Its statements are
    /// not traced ([`with_client`](Self::with_client) takes a traced one).
    pub async fn connect(url: &str, schema: &str) -> Result<Self, LogError> {
        let (client, conn) = tokio_postgres::connect(url, NoTls).await.map_err(pg)?;
        tokio::spawn(async move {
            // The connection ends when the client is dropped or the server goes away.
            let _ = conn.await;
        });
        Self::with_client(Arc::new(client), schema).await
    }
}

impl<C: PostgresClient> PostgresLog<C> {
    /// Uses an existing client (a `tokio_postgres::Client`, or
    /// `otel-kit-db`'s traced one: see [Traced log writes](PostgresLog#traced-log-writes))
    /// and prepares the tables in `schema` (letters, digits, `_`).
    pub async fn with_client(client: Arc<C>, schema: &str) -> Result<Self, LogError> {
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
    pub fn client(&self) -> &C {
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

impl<C: PostgresClient + 'static> SagaLog for PostgresLog<C> {
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

impl<C: PostgresClient> PostgresLog<C> {
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
