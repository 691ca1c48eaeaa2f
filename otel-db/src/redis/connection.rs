//! The traced Redis connection: a `redis::aio::ConnectionLike` whose
//! every command and pipeline is a CLIENT span.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use otel_kit_core::opentelemetry::context::FutureExt as _;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::semconv::attribute as sc;
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::{Cmd, ConnectionAddr, ConnectionInfo, Pipeline, RedisFuture, RedisResult, Value};

use super::command::{command_name, command_text, pipeline_name, pipeline_text};
use super::failure::{failure, replies_failure, reply_failure};
use crate::instrumentation::Instrumentation;
use crate::operation::Spec;
use crate::query_text::QueryText;
use crate::system::DbSystem;
use crate::target::DbTarget;

/// A Redis async connection (multiplexed connection, connection manager,
/// or any other `ConnectionLike`) whose commands are CLIENT spans named by
/// the command (`GET`; `db.operation.name`), pipelines one span
/// (`BATCH GET` / `BATCH`, with `db.operation.batch.size`), each with a
/// `db.client.operation.duration` measurement. It is itself a
/// `ConnectionLike`, so every `redis::AsyncCommands` method,
/// `Cmd::query_async` and `Pipeline::query_async` work on it unchanged.
///
/// ```no_run
/// # async fn run() -> redis::RedisResult<()> {
/// use otel_kit_db::Instrumentation;
/// use otel_kit_db::redis::TracedConnection;
/// use redis::AsyncCommands;
///
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let mut conn = TracedConnection::multiplexed(&client, &Instrumentation::default()).await?;
/// let _: () = conn.set("user:1", "ann").await?;               // span `SET`
/// let name: String = conn.get("user:1").await?;               // span `GET`
/// let (a, b): (String, i64) = redis::pipe()
///     .get("user:1").ttl("user:1")
///     .query_async(&mut conn).await?;                        // span `BATCH`, batch size 2
/// # let _ = (name, a, b);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TracedConnection<C> {
    conn: C,
    shared: Arc<Shared>,
}

struct Shared {
    target: DbTarget,
    instrumentation: Instrumentation,
}

impl<C> fmt::Debug for TracedConnection<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedConnection")
            .field("target", &self.shared.target)
            .finish_non_exhaustive()
    }
}

/// The target `info` describes: `server.address` / `server.port` (or the
/// Unix socket path), `db.namespace` the database index. User name and
/// password are never read.
///
/// ```
/// let client = redis::Client::open("redis://:s3cret@cache.internal:6380/2").unwrap();
/// let target = otel_kit_db::redis::target_of(client.get_connection_info());
/// assert_eq!(target.namespace(), Some("2"));
/// assert_eq!(target.server_address(), Some("cache.internal"));
/// assert_eq!(target.server_port(), Some(6380));
/// ```
pub fn target_of(info: &ConnectionInfo) -> DbTarget {
    let target =
        DbTarget::new(DbSystem::Redis).with_namespace(info.redis_settings().db().to_string());
    match info.addr() {
        ConnectionAddr::Tcp(host, port) => target.with_server(host.clone(), *port),
        ConnectionAddr::TcpTls { host, port, .. } => target.with_server(host.clone(), *port),
        ConnectionAddr::Unix(path) => target.with_server(path.display().to_string(), 0),
        _ => target,
    }
}

impl<C> TracedConnection<C> {
    /// Wraps `conn`, whose commands go to `target` ([`target_of`] the
    /// client's connection info).
    pub fn new(conn: C, target: DbTarget, instrumentation: Instrumentation) -> Self {
        TracedConnection {
            conn,
            shared: Arc::new(Shared {
                target,
                instrumentation,
            }),
        }
    }

    /// The wrapped connection (commands through it are not traced).
    pub fn inner(&self) -> &C {
        &self.conn
    }

    /// The wrapped connection.
    pub fn into_inner(self) -> C {
        self.conn
    }
}

impl TracedConnection<MultiplexedConnection> {
    /// Opens a multiplexed connection with `client`, traced (a failure to
    /// connect is a failed `connect` span, as in [`crate::postgres::connect`]).
    pub async fn multiplexed(
        client: &redis::Client,
        instrumentation: &Instrumentation,
    ) -> RedisResult<Self> {
        let target = target_of(client.get_connection_info());
        let conn = traced_connect(
            &target,
            instrumentation,
            client.get_multiplexed_async_connection(),
        )
        .await?;
        Ok(TracedConnection::new(conn, target, instrumentation.clone()))
    }
}

impl TracedConnection<ConnectionManager> {
    /// Opens a connection manager (reconnects by itself) with `client`,
    /// traced like [`multiplexed`](TracedConnection::multiplexed).
    pub async fn manager(
        client: &redis::Client,
        instrumentation: &Instrumentation,
    ) -> RedisResult<Self> {
        let target = target_of(client.get_connection_info());
        let conn =
            traced_connect(&target, instrumentation, client.get_connection_manager()).await?;
        Ok(TracedConnection::new(conn, target, instrumentation.clone()))
    }
}

async fn traced_connect<T>(
    target: &DbTarget,
    instrumentation: &Instrumentation,
    connect: impl Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    let spec = Spec {
        operation_name: Some(Cow::Borrowed("connect")),
        ..Spec::default()
    };
    let operation = instrumentation.start(target, spec, &Context::current());
    let result = connect.with_context(operation.context().clone()).await;
    operation.end_with(&result, failure);
    result
}

impl<C: ConnectionLike + Send> ConnectionLike for TracedConnection<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let TracedConnection { conn, shared } = self;
        let spec = Spec {
            operation_name: Some(command_name(cmd)),
            ..Spec::default()
        };
        let record_text = shared.instrumentation.inner.query_text != QueryText::Off;
        let operation =
            shared
                .instrumentation
                .start_with(&shared.target, spec, &Context::current(), |attrs| {
                    if record_text {
                        attrs.push(KeyValue::new(sc::DB_QUERY_TEXT, command_text(cmd)));
                    }
                });
        let cx = operation.context().clone();
        let future = conn.req_packed_command(cmd);
        Box::pin(async move {
            let result = future.with_context(cx).await;
            operation.end(reply_failure(&result).as_ref());
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let TracedConnection { conn, shared } = self;
        let spec = Spec {
            operation_name: Some(pipeline_name(pipeline)),
            batch_size: Some(pipeline.len()),
            ..Spec::default()
        };
        let record_text = shared.instrumentation.inner.query_text != QueryText::Off;
        let operation =
            shared
                .instrumentation
                .start_with(&shared.target, spec, &Context::current(), |attrs| {
                    if record_text {
                        attrs.push(KeyValue::new(sc::DB_QUERY_TEXT, pipeline_text(pipeline)));
                    }
                });
        let cx = operation.context().clone();
        let future = conn.req_packed_commands(pipeline, offset, count);
        Box::pin(async move {
            let result = future.with_context(cx).await;
            operation.end(replies_failure(&result).as_ref());
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}
