//! The traced tokio-postgres client: every call a CLIENT span and a
//! duration measurement.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::context::FutureExt as _;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, GenericClient, Row, SimpleQueryMessage, Transaction};

use bytes::Buf;

use super::connection::PgConnection;
use super::copy::{TracedCopyInSink, TracedCopyOutStream};
use super::failure::failure;
use super::query::{ToQuery, TracedStatement};
use crate::commenter::comment;
use crate::instrumentation::Instrumentation;
use crate::lexer::Dialect;
use crate::operation::{Operation, Spec};
use crate::statement::Statement;
use crate::target::DbTarget;

/// A tokio-postgres client (or transaction, or pooled connection) whose
/// every call is a CLIENT span named by the query summary (`SELECT users`)
/// with the database attributes, and a `db.client.operation.duration`
/// measurement.
///
/// The methods are tokio-postgres' own, with the same arguments: `query`,
/// `query_one`, `query_opt`, `execute`, `prepare`, `batch_execute`,
/// `simple_query`, `copy_in`, `copy_out`, `transaction` (then `commit` /
/// `rollback`). A
/// [`TracedStatement`] from [`prepare`](Self::prepare) runs as prepared
/// and its spans are named like its text's. Pipelining works as in
/// tokio-postgres: poll several calls at once (`futures::join!`), each is
/// its own span. The wrapped client stays reachable with
/// [`inner`](Self::inner) (its calls are not traced).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use otel_kit_db::Instrumentation;
/// use otel_kit_db::postgres::{self, TracedClient};
///
/// let config: tokio_postgres::Config = "postgres://postgres@127.0.0.1:5432/test".parse()?;
/// let mut client: TracedClient =
///     postgres::connect(&config, tokio_postgres::NoTls, &Instrumentation::default()).await?;
/// client.batch_execute("CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text)").await?;
/// let tx = client.transaction().await?;                          // span `BEGIN`
/// tx.execute("INSERT INTO users VALUES ($1, $2)", &[&1i32, &"ann"]).await?; // `INSERT users`
/// tx.commit().await?;                                            // span `COMMIT`
/// let by_id = client.prepare("SELECT name FROM users WHERE id = $1").await?;
/// let row = client.query_one(&by_id, &[&1i32]).await?;         // `SELECT users`
/// # let _ = row;
/// # Ok(())
/// # }
/// ```
pub struct TracedClient<C = tokio_postgres::Client> {
    client: C,
    target: DbTarget,
    instrumentation: Instrumentation,
}

/// A traced transaction: [`TracedClient::transaction`]'s result. Each
/// statement in it is its own span; `BEGIN`, `COMMIT` and `ROLLBACK` too.
pub type TracedTransaction<'a> = TracedClient<Transaction<'a>>;

impl<C> fmt::Debug for TracedClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedClient")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// The text to send and the started operation of one call.
struct Call<'t, 'q> {
    operation: Operation<'t>,
    text: Cow<'q, str>,
    prepared: Option<&'q TracedStatement>,
}

impl<C: PgConnection> TracedClient<C> {
    /// Wraps `client`, whose operations go to `target`
    /// ([`target_of`](super::target_of) builds it from the client's
    /// `Config`).
    pub fn new(client: C, target: DbTarget, instrumentation: Instrumentation) -> Self {
        TracedClient {
            client,
            target,
            instrumentation,
        }
    }

    /// The wrapped client (calls through it are not traced).
    pub fn inner(&self) -> &C {
        &self.client
    }

    /// The wrapped client, mutably.
    pub fn inner_mut(&mut self) -> &mut C {
        &mut self.client
    }

    /// The wrapped client.
    pub fn into_inner(self) -> C {
        self.client
    }

    /// Where the operations go.
    pub fn target(&self) -> &DbTarget {
        &self.target
    }

    fn analyse(&self, sql: &str) -> Arc<Statement> {
        self.instrumentation
            .inner
            .statements(Dialect::Postgres)
            .get(sql)
    }

    /// Starts the span of `query` under the current context and picks the
    /// text to send (with the sqlcommenter comment when enabled).
    fn begin<'s, 'q, Q: ToQuery + ?Sized>(
        &'s self,
        query: &'q Q,
        analysed: &Statement,
        parameterized: bool,
    ) -> Call<'s, 'q> {
        let spec = Spec::sql(&self.instrumentation, analysed, parameterized);
        let operation = self
            .instrumentation
            .start(&self.target, spec, &Context::current());
        let prepared = query.prepared();
        let text = if prepared.is_none() && self.instrumentation.inner.sql_commenter {
            comment(query.sql(), operation.context(), Dialect::Postgres)
        } else {
            Cow::Borrowed(query.sql())
        };
        Call {
            operation,
            text,
            prepared,
        }
    }

    fn analysed_of<Q: ToQuery + ?Sized>(&self, query: &Q) -> Arc<Statement> {
        match query.prepared() {
            Some(p) => p.analysed.clone(),
            None => self.analyse(query.sql()),
        }
    }

    /// `Client::query`, traced.
    pub async fn query<Q: ToQuery + ?Sized>(
        &self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let analysed = self.analysed_of(query);
        let call = self.begin(query, &analysed, !params.is_empty());
        let client = self.client.generic();
        let future = match call.prepared {
            Some(p) => client.query(&p.statement, params),
            None => client.query(&*call.text, params),
        };
        let result = future.with_context(call.operation.context().clone()).await;
        call.operation.end_with(&result, failure);
        result
    }

    /// `Client::query_one`, traced (no row or several rows fail the span
    /// with `error.type` `RowCount`).
    pub async fn query_one<Q: ToQuery + ?Sized>(
        &self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        let analysed = self.analysed_of(query);
        let call = self.begin(query, &analysed, !params.is_empty());
        let client = self.client.generic();
        let future = match call.prepared {
            Some(p) => client.query_one(&p.statement, params),
            None => client.query_one(&*call.text, params),
        };
        let result = future.with_context(call.operation.context().clone()).await;
        call.operation.end_with(&result, failure);
        result
    }

    /// `Client::query_opt`, traced.
    pub async fn query_opt<Q: ToQuery + ?Sized>(
        &self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        let analysed = self.analysed_of(query);
        let call = self.begin(query, &analysed, !params.is_empty());
        let client = self.client.generic();
        let future = match call.prepared {
            Some(p) => client.query_opt(&p.statement, params),
            None => client.query_opt(&*call.text, params),
        };
        let result = future.with_context(call.operation.context().clone()).await;
        call.operation.end_with(&result, failure);
        result
    }

    /// `Client::execute`, traced.
    pub async fn execute<Q: ToQuery + ?Sized>(
        &self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        let analysed = self.analysed_of(query);
        let call = self.begin(query, &analysed, !params.is_empty());
        let client = self.client.generic();
        let future = match call.prepared {
            Some(p) => client.execute(&p.statement, params),
            None => client.execute(&*call.text, params),
        };
        let result = future.with_context(call.operation.context().clone()).await;
        call.operation.end_with(&result, failure);
        result
    }

    /// `Client::prepare`, traced as a span `PREPARE`
    /// (`db.operation.name` `PREPARE`, the text in `db.query.text`): a
    /// syntax error shows there. Executing the result is traced like its
    /// text.
    pub async fn prepare(&self, sql: &str) -> Result<TracedStatement, Error> {
        let analysed = self.analyse(sql);
        let mut spec = Spec::sql(&self.instrumentation, &analysed, true);
        spec.summary = None;
        spec.operation_name = Some(Cow::Borrowed("PREPARE"));
        let operation = self
            .instrumentation
            .start(&self.target, spec, &Context::current());
        let result = self
            .client
            .generic()
            .prepare(sql)
            .with_context(operation.context().clone())
            .await;
        operation.end_with(&result, failure);
        Ok(TracedStatement {
            statement: result?,
            analysed,
        })
    }

    /// `Client::batch_execute`, traced: one span for the whole text, whose
    /// summary names every statement in it (`CREATE TABLE users INSERT
    /// users`); its text is recorded sanitized (it has no parameters).
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        let analysed = self.analyse(sql);
        let call = self.begin(sql, &analysed, false);
        let result = self
            .client
            .generic()
            .batch_execute(&call.text)
            .with_context(call.operation.context().clone())
            .await;
        call.operation.end_with(&result, failure);
        result
    }

    /// `Client::simple_query`, traced like [`batch_execute`](Self::batch_execute).
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        let analysed = self.analyse(sql);
        let call = self.begin(sql, &analysed, false);
        let result = self
            .client
            .generic()
            .simple_query(&call.text)
            .with_context(call.operation.context().clone())
            .await;
        call.operation.end_with(&result, failure);
        result
    }

    /// `Client::copy_in`, traced: the span (`COPY users`) lasts until
    /// [`TracedCopyInSink::finish`] returns.
    pub async fn copy_in<U>(&self, sql: &str) -> Result<TracedCopyInSink<'_, U>, Error>
    where
        U: Buf + Send + 'static,
    {
        let analysed = self.analyse(sql);
        let call = self.begin(sql, &analysed, false);
        let result = self
            .client
            .generic()
            .client()
            .copy_in(&*call.text)
            .with_context(call.operation.context().clone())
            .await;
        match result {
            Ok(sink) => Ok(TracedCopyInSink::new(sink, call.operation)),
            Err(e) => {
                call.operation.end(Some(&failure(&e)));
                Err(e)
            }
        }
    }

    /// `Client::copy_out`, traced: the span (`COPY users`) lasts until the
    /// stream ends.
    pub async fn copy_out(&self, sql: &str) -> Result<TracedCopyOutStream<'_>, Error> {
        let analysed = self.analyse(sql);
        let call = self.begin(sql, &analysed, false);
        let result = self
            .client
            .generic()
            .client()
            .copy_out(&*call.text)
            .with_context(call.operation.context().clone())
            .await;
        match result {
            Ok(stream) => Ok(TracedCopyOutStream::new(stream, call.operation)),
            Err(e) => {
                call.operation.end(Some(&failure(&e)));
                Err(e)
            }
        }
    }

    /// Opens a transaction (a span `BEGIN`); its statements, `commit` and
    /// `rollback` are traced too. A transaction dropped without `commit`
    /// is rolled back by tokio-postgres without a span.
    pub async fn transaction(&mut self) -> Result<TracedTransaction<'_>, Error> {
        let analysed = self.analyse("BEGIN");
        let spec = Spec::sql(&self.instrumentation, &analysed, false);
        let operation = self
            .instrumentation
            .start(&self.target, spec, &Context::current());
        let cx = operation.context().clone();
        let result = self
            .client
            .generic_mut()
            .transaction()
            .with_context(cx)
            .await;
        operation.end_with(&result, failure);
        Ok(TracedClient {
            client: result?,
            target: self.target.clone(),
            instrumentation: self.instrumentation.clone(),
        })
    }
}

impl TracedClient<Transaction<'_>> {
    /// Commits (a span `COMMIT`).
    pub async fn commit(self) -> Result<(), Error> {
        let analysed = self.analyse("COMMIT");
        let spec = Spec::sql(&self.instrumentation, &analysed, false);
        let TracedClient {
            client,
            target,
            instrumentation,
        } = self;
        let operation = instrumentation.start(&target, spec, &Context::current());
        let result = client
            .commit()
            .with_context(operation.context().clone())
            .await;
        operation.end_with(&result, failure);
        result
    }

    /// Rolls back (a span `ROLLBACK`).
    pub async fn rollback(self) -> Result<(), Error> {
        let analysed = self.analyse("ROLLBACK");
        let spec = Spec::sql(&self.instrumentation, &analysed, false);
        let TracedClient {
            client,
            target,
            instrumentation,
        } = self;
        let operation = instrumentation.start(&target, spec, &Context::current());
        let result = client
            .rollback()
            .with_context(operation.context().clone())
            .await;
        operation.end_with(&result, failure);
        result
    }
}
