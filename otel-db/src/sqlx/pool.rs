//! The traced sqlx pool: an `Executor` user code passes where `&Pool`
//! goes today.

use std::fmt;
use std::sync::{Arc, Weak};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::{Database, Either, Execute, Executor, Pool};

use super::database::TracedDatabase;
use super::executor::Shared;
use super::transaction::TracedTransaction;
use crate::instrumentation::Instrumentation;
use crate::pool_metrics::{PoolSnapshot, default_pool_name, observe_pool};
use crate::system::DbSystem;

/// A sqlx pool whose queries are CLIENT spans named by their summary
/// (`SELECT users`) with a `db.client.operation.duration` measurement.
/// `&TracedPool<DB>` is a sqlx `Executor`: pass it wherever `&Pool<DB>`
/// goes (`query(..).fetch_all(&pool)`, `query!(..)`, `query_as!(..)`).
/// [`begin`](Self::begin) opens a traced transaction.
///
/// The pool's `db.client.connection.count` (`idle`, `used`) and
/// `db.client.connection.max` (conventions v1.44, development) are read from
/// sqlx's counters when metrics are collected, under
/// `db.client.connection.pool.name` = `{server.address}:{server.port}/{db.namespace}`
/// (sqlx does not expose its waiting requests or wait times). Make one
/// `TracedPool` per pool (clone it to share): each `new` registers the
/// gauges once; they stop reporting when every clone is dropped.
///
/// ```no_run
/// # async fn run() -> Result<(), sqlx::Error> {
/// use otel_kit_db::Instrumentation;
/// use otel_kit_db::sqlx::TracedPool;
///
/// let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1/test").await?;
/// let pool = TracedPool::new(pool, &Instrumentation::default());
/// let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM users WHERE id > $1")
///     .bind(10)
///     .fetch_all(&pool)                       // span `SELECT users`
///     .await?;
/// let mut tx = pool.begin().await?;           // span `BEGIN`
/// sqlx::query("DELETE FROM users WHERE id = $1").bind(1).execute(&mut tx).await?;
/// tx.commit().await?;                         // span `COMMIT`
/// # let _ = names;
/// # Ok(())
/// # }
/// ```
pub struct TracedPool<DB: Database> {
    pool: Arc<Pool<DB>>,
    shared: Arc<Shared>,
}

impl<DB: Database> Clone for TracedPool<DB> {
    fn clone(&self) -> Self {
        TracedPool {
            pool: self.pool.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<DB: Database> fmt::Debug for TracedPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedPool")
            .field("target", &self.shared.target)
            .finish_non_exhaustive()
    }
}

impl<DB: TracedDatabase> TracedPool<DB> {
    /// Wraps `pool`; the target comes from its connect options.
    pub fn new(pool: Pool<DB>, instrumentation: &Instrumentation) -> Self {
        let target = DB::target_of(&pool.connect_options());
        let pool = Arc::new(pool);
        let weak: Weak<Pool<DB>> = Arc::downgrade(&pool);
        observe_pool(
            &instrumentation.inner.meter,
            &default_pool_name(&target),
            move || {
                let pool = weak.upgrade()?;
                let size = i64::from(pool.size());
                let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
                Some(PoolSnapshot {
                    max: i64::from(pool.options().get_max_connections()),
                    idle,
                    used: size.saturating_sub(idle).max(0),
                    pending: None,
                })
            },
        );
        TracedPool {
            pool,
            shared: Arc::new(Shared {
                target,
                instrumentation: instrumentation.clone(),
            }),
        }
    }

    /// The same pool recorded as `system` (`DbSystem::MariaDb` for a MySQL
    /// pool talking to MariaDB; see [`detect_mariadb`](TracedPool::detect_mariadb)).
    pub fn with_system(self, system: DbSystem) -> Self {
        TracedPool {
            shared: Arc::new(Shared {
                target: self.shared.target.clone().with_system(system),
                instrumentation: self.shared.instrumentation.clone(),
            }),
            pool: self.pool,
        }
    }

    /// The wrapped pool (queries through it are not traced).
    pub fn inner(&self) -> &Pool<DB> {
        &self.pool
    }

    /// `db.system.name` of this pool's spans.
    pub fn system(&self) -> DbSystem {
        self.shared.target.system()
    }
}

impl<DB: TracedDatabase> TracedPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Begins a transaction (a span `BEGIN`); its statements, `commit`
    /// and `rollback` are traced too.
    pub async fn begin(&self) -> Result<TracedTransaction<DB>, sqlx::Error> {
        let shared = &self.shared;
        let tx = shared
            .future("BEGIN", false, || Box::pin(self.pool.begin()))
            .await?;
        Ok(TracedTransaction::new(tx, self.shared.clone()))
    }
}

#[cfg(feature = "sqlx-mysql")]
impl TracedPool<sqlx::MySql> {
    /// Asks the server for its version (untraced) and records the pool as
    /// `mariadb` when it is MariaDB.
    pub async fn detect_mariadb(self) -> Result<Self, sqlx::Error> {
        let (version,): (String,) = sqlx::query_as("SELECT VERSION()")
            .fetch_one(&*self.pool)
            .await?;
        Ok(if version.contains("MariaDB") {
            self.with_system(DbSystem::MariaDb)
        } else {
            self
        })
    }
}

impl<'p, DB: TracedDatabase> Executor<'p> for &'p TracedPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let sql = query.sql();
        self.shared.stream(sql, || self.pool.fetch_many(query))
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let sql = query.sql();
        self.shared
            .future(sql, false, || self.pool.fetch_optional(query))
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.shared
            .future(sql, true, || self.pool.prepare_with(sql, parameters))
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.describe(sql)
    }
}
