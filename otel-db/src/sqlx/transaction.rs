//! A traced sqlx transaction.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::{Database, Either, Execute, Executor, Transaction};

use super::database::TracedDatabase;
use super::executor::Shared;

/// A transaction from [`TracedPool::begin`](super::TracedPool::begin):
/// `&mut TracedTransaction` is a sqlx `Executor` (each statement its own
/// span); [`commit`](Self::commit) and [`rollback`](Self::rollback) are
/// spans too. Dropped without either, sqlx rolls it back without a span.
pub struct TracedTransaction<DB: Database> {
    tx: Transaction<'static, DB>,
    shared: Arc<Shared>,
}

impl<DB: Database> fmt::Debug for TracedTransaction<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedTransaction")
            .field("target", &self.shared.target)
            .finish_non_exhaustive()
    }
}

impl<DB: TracedDatabase> TracedTransaction<DB> {
    pub(crate) fn new(tx: Transaction<'static, DB>, shared: Arc<Shared>) -> Self {
        TracedTransaction { tx, shared }
    }

    /// The wrapped transaction (statements through it are not traced).
    pub fn inner_mut(&mut self) -> &mut Transaction<'static, DB> {
        &mut self.tx
    }

    /// Commits (a span `COMMIT`).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let TracedTransaction { tx, shared } = self;
        shared
            .future("COMMIT", false, || Box::pin(tx.commit()))
            .await
    }

    /// Rolls back (a span `ROLLBACK`).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let TracedTransaction { tx, shared } = self;
        shared
            .future("ROLLBACK", false, || Box::pin(tx.rollback()))
            .await
    }
}

impl<'t, DB: TracedDatabase> Executor<'t> for &'t mut TracedTransaction<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let sql = query.sql();
        let TracedTransaction { tx, shared } = self;
        shared.stream(sql, || (&mut **tx).fetch_many(query))
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let sql = query.sql();
        let TracedTransaction { tx, shared } = self;
        shared.future(sql, false, || (&mut **tx).fetch_optional(query))
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement<'q>, sqlx::Error>>
    where
        't: 'e,
    {
        let TracedTransaction { tx, shared } = self;
        shared.future(sql, true, || (&mut **tx).prepare_with(sql, parameters))
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>>
    where
        't: 'e,
    {
        (&mut *self.tx).describe(sql)
    }
}
