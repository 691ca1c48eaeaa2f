//! [`TracedClient`] as the instrumentation core's
//! [`PostgresClient`]: what a component that runs its own statements
//! (otel-kit-patterns' `PostgresLog`) takes, so they show as CLIENT spans.

use std::future::Future;

use otel_kit_core::instrument::PostgresClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row};

use super::client::TracedClient;
use super::connection::PgConnection;

/// Each statement a CLIENT span, as through [`TracedClient`]'s own methods.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use otel_kit_core::instrument::PostgresClient;
/// use otel_kit_db::Instrumentation;
/// use otel_kit_db::postgres;
///
/// // A component written against the core trait (as `PostgresLog` is) ...
/// async fn mark_done(db: &impl PostgresClient, id: &str) -> Result<u64, tokio_postgres::Error> {
///     db.execute("UPDATE jobs SET done = true WHERE id = $1", &[&id]).await
/// }
/// // ... traces its statements when handed a traced client: a span `UPDATE jobs`.
/// let config: tokio_postgres::Config = "postgres://postgres@127.0.0.1:5432/test".parse()?;
/// let client = postgres::connect(&config, tokio_postgres::NoTls, &Instrumentation::default()).await?;
/// mark_done(&client, "job-1").await?;
/// # Ok(())
/// # }
/// ```
impl<C: PgConnection> PostgresClient for TracedClient<C> {
    fn execute<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<u64, Error>> + Send + 'a {
        TracedClient::execute(self, sql, params)
    }

    fn query<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send + 'a {
        TracedClient::query(self, sql, params)
    }

    fn query_opt<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Option<Row>, Error>> + Send + 'a {
        TracedClient::query_opt(self, sql, params)
    }

    fn batch_execute<'a>(
        &'a self,
        sql: &'a str,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a {
        TracedClient::batch_execute(self, sql)
    }
}
