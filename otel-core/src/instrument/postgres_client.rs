//! [`PostgresClient`]: the few tokio-postgres calls a component that stores
//! its own rows makes, so that the caller picks the client it runs them on
//! (plain, or traced by `otel-kit-db`) without the component depending on
//! `otel-kit-db` (feature `tokio-postgres`).

use std::future::Future;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row};

/// A PostgreSQL client as seen by a component that runs its own statements:
/// `otel-kit-patterns`' `PostgresLog` (the saga and transaction log) is
/// generic over it. Implemented here for `tokio_postgres::Client` and
/// `tokio_postgres::Transaction` (statements untraced), and by
/// `otel-kit-db` for its `postgres::TracedClient` (each statement a CLIENT
/// span, a child of the span current where it runs). The shared trait lives
/// in the instrumentation core so that neither layer crate depends on the
/// other.
///
/// The methods are tokio-postgres' own, with text statements and
/// positional parameters (`$1`, `$2`, ...).
///
/// ```
/// use otel_kit_core::instrument::PostgresClient;
///
/// // What a component writes: any client, traced or not.
/// async fn count(client: &impl PostgresClient, table: &str) -> Result<i64, tokio_postgres::Error> {
///     let rows = client.query(&format!("SELECT count(*) FROM {table}"), &[]).await?;
///     Ok(rows[0].get(0))
/// }
/// # fn is_client<C: PostgresClient>() {}
/// # is_client::<tokio_postgres::Client>();
/// ```
pub trait PostgresClient: Send + Sync {
    /// `Client::execute`: runs `sql`, returns the number of rows it changed.
    fn execute<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<u64, Error>> + Send + 'a;

    /// `Client::query`: runs `sql`, returns its rows.
    fn query<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send + 'a;

    /// `Client::query_opt`: runs `sql`, returns its row if any (more than
    /// one row is an error).
    fn query_opt<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Option<Row>, Error>> + Send + 'a;

    /// `Client::batch_execute`: runs the `;`-separated statements of `sql`
    /// (simple query protocol, no parameters).
    fn batch_execute<'a>(
        &'a self,
        sql: &'a str,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a;
}

/// One impl per tokio-postgres client type, forwarding to its own methods.
macro_rules! forward {
    ($($ty:ty),*) => {$(
        impl PostgresClient for $ty {
            fn execute<'a>(
                &'a self,
                sql: &'a str,
                params: &'a [&'a (dyn ToSql + Sync)],
            ) -> impl Future<Output = Result<u64, Error>> + Send + 'a {
                <$ty>::execute(self, sql, params)
            }

            fn query<'a>(
                &'a self,
                sql: &'a str,
                params: &'a [&'a (dyn ToSql + Sync)],
            ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send + 'a {
                <$ty>::query(self, sql, params)
            }

            fn query_opt<'a>(
                &'a self,
                sql: &'a str,
                params: &'a [&'a (dyn ToSql + Sync)],
            ) -> impl Future<Output = Result<Option<Row>, Error>> + Send + 'a {
                <$ty>::query_opt(self, sql, params)
            }

            fn batch_execute<'a>(
                &'a self,
                sql: &'a str,
            ) -> impl Future<Output = Result<(), Error>> + Send + 'a {
                <$ty>::batch_execute(self, sql)
            }
        }
    )*};
}

forward!(tokio_postgres::Client, tokio_postgres::Transaction<'_>);
