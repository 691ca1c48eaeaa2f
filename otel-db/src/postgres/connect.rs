//! Connecting with tracing: the `connect` span, and the target a
//! tokio-postgres `Config` describes.

use std::borrow::Cow;

use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::context::FutureExt as _;
use tokio_postgres::config::Host;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Config, Error, Socket};

use super::client::TracedClient;
use super::failure::failure;
use crate::instrumentation::Instrumentation;
use crate::operation::Spec;
use crate::system::DbSystem;
use crate::target::DbTarget;

/// The target `config` describes: `db.namespace` from its database name
/// (`dbname`, else the user name, PostgreSQL's default), `server.address`
/// and `server.port` from its first host and port. The password is never
/// read.
///
/// ```
/// let config: tokio_postgres::Config = "postgres://app:s3cret@db.internal:6432/orders".parse().unwrap();
/// let target = otel_kit_db::postgres::target_of(&config);
/// assert_eq!(target.namespace(), Some("orders"));
/// assert_eq!(target.server_address(), Some("db.internal"));
/// assert_eq!(target.server_port(), Some(6432));
/// ```
pub fn target_of(config: &Config) -> DbTarget {
    let mut target = DbTarget::new(DbSystem::PostgreSql);
    if let Some(db) = config.get_dbname().or_else(|| config.get_user()) {
        target = target.with_namespace(db);
    }
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(DbSystem::PostgreSql.default_port());
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => Some(host.clone()),
        #[cfg(unix)]
        Some(Host::Unix(path)) => Some(path.display().to_string()),
        None => config.get_hostaddrs().first().map(|a| a.to_string()),
    };
    if let Some(host) = host {
        target = target.with_server(host, port);
    }
    target
}

/// `tokio_postgres::Config::connect`, traced: a CLIENT span `connect`
/// (`db.operation.name` `connect`, with the target's attributes), failed
/// with the cause (`ConnectionRefused`, a SQLSTATE such as `3D000` for an
/// unknown database or `28P01` for a wrong password) when the connection
/// cannot be made. The connection task is spawned on the current Tokio
/// runtime, as tokio-postgres' examples do.
///
/// ```no_run
/// # async fn run() -> Result<(), tokio_postgres::Error> {
/// let config: tokio_postgres::Config = "postgres://postgres@127.0.0.1/test".parse()?;
/// let client = otel_kit_db::postgres::connect(
///     &config,
///     tokio_postgres::NoTls,
///     &otel_kit_db::Instrumentation::default(),
/// )
/// .await?;
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
pub async fn connect<T>(
    config: &Config,
    tls: T,
    instrumentation: &Instrumentation,
) -> Result<TracedClient, Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let target = target_of(config);
    let spec = Spec {
        operation_name: Some(Cow::Borrowed("connect")),
        ..Spec::default()
    };
    let operation = instrumentation.start(&target, spec, &Context::current());
    let result = config
        .connect(tls)
        .with_context(operation.context().clone())
        .await;
    operation.end_with(&result, failure);
    let (client, connection) = result?;
    tokio::spawn(async move {
        // Errors end the connection; every pending call fails with them.
        let _ = connection.await;
    });
    Ok(TracedClient::new(client, target, instrumentation.clone()))
}
