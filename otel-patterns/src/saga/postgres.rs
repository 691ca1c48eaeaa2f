//! PostgreSQL implementations of [`SagaLog`] and of the barrier store
//! (feature `postgres`).

use super::barrier::{BarrierStore, Op};
use super::{LogEntry, LogError, LogRecord, LoggedInstance, SagaLog};
use futures_util::future::BoxFuture;
use std::fmt;
use std::sync::Arc;
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
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(LogError(format!("invalid schema name {schema:?}")));
        }
        let s = schema;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{s}\";
                 CREATE TABLE IF NOT EXISTS \"{s}\".records (
                   id text PRIMARY KEY, kind text NOT NULL, name text NOT NULL,
                   payload text NOT NULL, status text NOT NULL, span text,
                   created timestamptz NOT NULL DEFAULT now(),
                   updated timestamptz NOT NULL DEFAULT now());
                 CREATE INDEX IF NOT EXISTS records_open ON \"{s}\".records (kind, name, status);
                 CREATE TABLE IF NOT EXISTS \"{s}\".entries (
                   record_id text NOT NULL REFERENCES \"{s}\".records(id) ON DELETE CASCADE,
                   idx integer NOT NULL, name text NOT NULL, state text NOT NULL,
                   span text, error text, PRIMARY KEY (record_id, idx));
                 CREATE TABLE IF NOT EXISTS \"{s}\".barrier (
                   gid text NOT NULL, branch text NOT NULL, op text NOT NULL,
                   origin text NOT NULL, created timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (gid, branch, op));"
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
                name: r.get(1),
                state: r.get(2),
                span: r.get(3),
                error: r.get(4),
            })
            .collect())
    }
}

fn record(r: &tokio_postgres::Row) -> LogRecord {
    LogRecord {
        id: r.get(0),
        kind: r.get(1),
        name: r.get(2),
        payload: r.get(3),
        status: r.get(4),
        span: r.get(5),
    }
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
            let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            let states: Vec<&str> = entries.iter().map(|e| e.state.as_str()).collect();
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
                        &rec.kind,
                        &rec.name,
                        &rec.payload,
                        &rec.status,
                        &rec.span,
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
                    &[&id, &(e.index as i32), &e.name, &e.state, &e.span, &e.error],
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

fn op_from(s: &str) -> Op {
    if s == Op::Compensation.as_str() {
        Op::Compensation
    } else {
        Op::Action
    }
}

impl BarrierStore for PostgresLog {
    fn insert<'a>(
        &'a self,
        gid: &'a str,
        branch: &'a str,
        op: Op,
        origin: Op,
    ) -> BoxFuture<'a, Result<Option<Op>, LogError>> {
        Box::pin(async move {
            let s = &self.schema;
            let n = self
                .client
                .execute(
                    &format!(
                        "INSERT INTO \"{s}\".barrier (gid, branch, op, origin) VALUES ($1, $2, $3, $4)
                         ON CONFLICT DO NOTHING"
                    ),
                    &[&gid, &branch, &op.as_str(), &origin.as_str()],
                )
                .await
                .map_err(pg)?;
            if n == 1 {
                return Ok(None);
            }
            let row = self
                .client
                .query_opt(
                    &format!(
                        "SELECT origin FROM \"{s}\".barrier WHERE gid = $1 AND branch = $2 AND op = $3"
                    ),
                    &[&gid, &branch, &op.as_str()],
                )
                .await
                .map_err(pg)?;
            // Removed between the two statements: report it as present
            // (the caller skips, which is the safe side).
            Ok(Some(row.map_or(origin, |r| op_from(r.get::<_, &str>(0)))))
        })
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
