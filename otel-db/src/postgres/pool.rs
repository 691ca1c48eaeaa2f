//! deadpool-postgres: a pool whose connections are traced clients.

use std::fmt;
use std::time::Instant;

use deadpool_postgres::{Object, Pool, PoolError};

use super::client::TracedClient;
use crate::instrumentation::Instrumentation;
use crate::pool_metrics::{PoolSnapshot, default_pool_name, observe_pool};
use crate::pool_waits::PoolWaits;
use crate::target::DbTarget;

/// A deadpool-postgres pool handing out [`TracedClient`]s: every call on a
/// pooled connection is traced as on a plain client.
///
/// The pool's metrics (conventions v1.44, development) are recorded under
/// `db.client.connection.pool.name` = `{server.address}:{server.port}/{db.namespace}`:
/// `db.client.connection.count` (`idle`, `used`), `db.client.connection.max`,
/// `db.client.connection.pending_requests` (read from the pool's status
/// when metrics are collected), `db.client.connection.wait_time` and
/// `db.client.connection.timeouts` (recorded by [`get`](Self::get)). Make
/// one `TracedPool` per pool (clone it to share): each `new` registers the
/// pool's gauges once.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use deadpool_postgres::{Manager, Pool};
/// use otel_kit_db::Instrumentation;
/// use otel_kit_db::postgres::{TracedPool, target_of};
///
/// let config: tokio_postgres::Config = "postgres://postgres@127.0.0.1/test".parse()?;
/// let target = target_of(&config);
/// let pool = Pool::builder(Manager::new(config, tokio_postgres::NoTls)).max_size(8).build()?;
/// let pool = TracedPool::new(pool, target, Instrumentation::default());
/// let client = pool.get().await?;
/// client.query("SELECT 1", &[]).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TracedPool {
    pool: Pool,
    target: DbTarget,
    instrumentation: Instrumentation,
    waits: PoolWaits,
}

impl fmt::Debug for TracedPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedPool")
            .field("target", &self.target)
            .field("status", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl TracedPool {
    /// Wraps `pool`, whose connections go to `target`
    /// ([`target_of`](super::target_of) of the pool's `Config`).
    pub fn new(pool: Pool, target: DbTarget, instrumentation: Instrumentation) -> Self {
        let name = default_pool_name(&target);
        let meter = &instrumentation.inner.meter;
        let weak = pool.weak();
        observe_pool(meter, &name, move || {
            let status = weak.upgrade()?.status();
            let idle = i64::try_from(status.available).unwrap_or(i64::MAX);
            let size = i64::try_from(status.size).unwrap_or(i64::MAX);
            Some(PoolSnapshot {
                max: i64::try_from(status.max_size).unwrap_or(i64::MAX),
                idle,
                used: size.saturating_sub(idle).max(0),
                pending: Some(i64::try_from(status.waiting).unwrap_or(i64::MAX)),
            })
        });
        let waits = PoolWaits::new(meter, &name);
        TracedPool {
            pool,
            target,
            instrumentation,
            waits,
        }
    }

    /// A pooled connection, traced; it goes back to the pool when dropped.
    /// The wait is recorded as `db.client.connection.wait_time`, a timeout
    /// as `db.client.connection.timeouts`.
    pub async fn get(&self) -> Result<TracedClient<Object>, PoolError> {
        let started = Instant::now();
        let object = match self.pool.get().await {
            Ok(object) => {
                self.waits.obtained(started.elapsed());
                object
            }
            Err(e) => {
                if matches!(e, PoolError::Timeout(_)) {
                    self.waits.timed_out();
                }
                return Err(e);
            }
        };
        Ok(TracedClient::new(
            object,
            self.target.clone(),
            self.instrumentation.clone(),
        ))
    }

    /// The wrapped pool.
    pub fn inner(&self) -> &Pool {
        &self.pool
    }
}
