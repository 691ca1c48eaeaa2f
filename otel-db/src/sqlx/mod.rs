//! sqlx (features `sqlx-postgres`, `sqlx-mysql`): a traced pool and its
//! transactions, as sqlx `Executor`s.
//!
//! ```no_run
//! # async fn run() -> Result<(), sqlx::Error> {
//! use otel_kit_db::Instrumentation;
//! use otel_kit_db::sqlx::TracedPool;
//!
//! let pool = sqlx::MySqlPool::connect("mysql://root@127.0.0.1:3306/test").await?;
//! let pool = TracedPool::new(pool, &Instrumentation::default())
//!     .detect_mariadb() // db.system.name `mariadb` on MariaDB
//!     .await?;
//! sqlx::query("UPDATE users SET name = ? WHERE id = ?").bind("ann").bind(1).execute(&pool).await?;
//! # Ok(())
//! # }
//! ```
//!
//! The span covers the whole call: acquiring a connection from the pool
//! (a refused connection shows as sqlx's `PoolTimedOut` after the pool's
//! acquire timeout) and reading every row. Text with placeholders (`$1`,
//! `?`) is recorded as written, other text sanitized. sqlcommenter
//! comments are not added to sqlx queries: a query's text is borrowed
//! from the caller for sqlx's statement cache.

mod database;
mod executor;
mod failure;
mod pool;
mod transaction;

pub use database::TracedDatabase;
pub use failure::failure;
pub use pool::TracedPool;
pub use transaction::TracedTransaction;
