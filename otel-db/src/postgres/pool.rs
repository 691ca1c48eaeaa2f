//! deadpool-postgres: a pool whose connections are traced clients.

use std::fmt;

use deadpool_postgres::{Object, Pool, PoolError};

use super::client::TracedClient;
use crate::instrumentation::Instrumentation;
use crate::target::DbTarget;

/// A deadpool-postgres pool handing out [`TracedClient`]s: every call on a
/// pooled connection is traced as on a plain client.
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
        TracedPool {
            pool,
            target,
            instrumentation,
        }
    }

    /// A pooled connection, traced; it goes back to the pool when dropped.
    pub async fn get(&self) -> Result<TracedClient<Object>, PoolError> {
        let object = self.pool.get().await?;
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
