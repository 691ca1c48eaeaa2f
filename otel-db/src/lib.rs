//! OpenTelemetry instrumentation for database clients, per the stable
//! database semantic conventions (v1.44): tokio-postgres and
//! deadpool-postgres (features `tokio-postgres`, `deadpool-postgres`), sqlx
//! with PostgreSQL or MySQL/MariaDB (`sqlx-postgres`, `sqlx-mysql`) and
//! redis (`redis`).
//!
//! ```no_run
//! # #[cfg(feature = "tokio-postgres")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use otel_kit_db::Instrumentation;
//! use otel_kit_db::postgres::TracedClient;
//!
//! let instrumentation = Instrumentation::default(); // the global providers
//! let config: tokio_postgres::Config = "postgres://postgres@127.0.0.1/test".parse()?;
//! let client: TracedClient =
//!     otel_kit_db::postgres::connect(&config, tokio_postgres::NoTls, &instrumentation).await?;
//! // One CLIENT span `SELECT users` per call, and db.client.operation.duration.
//! let rows = client.query("SELECT name FROM users WHERE id = $1", &[&7i32]).await?;
//! # let _ = rows;
//! # Ok(())
//! # }
//! ```
//!
//! Every operation is a CLIENT span and one `db.client.operation.duration`
//! measurement (seconds, the conventions' buckets):
//!
//! - **name**: `db.query.summary` when the SQL has one (`SELECT users
//!   orders`), else `db.operation.name` (Redis: `GET`, `BATCH SET`), else
//!   `db.system.name`;
//! - **attributes**: `db.system.name` (`postgresql`, `mysql`, `mariadb`,
//!   `redis`), `db.namespace` (database name; Redis: database index),
//!   `server.address`, `server.port`, `db.query.summary` (SQL),
//!   `db.operation.name` (Redis), `db.operation.batch.size` (pipelines and
//!   batches of 2 or more), `db.query.text` (see [`QueryText`]); on failure
//!   `error.type`, `db.response.status_code` and status Error. For SQL,
//!   `db.operation.name` and `db.collection.name` are not set: the
//!   conventions say not to extract them from text in systems that allow
//!   several statements per text; `db.query.summary` carries both.
//! - **`error.type`**: the SQLSTATE (`23505`) or Redis error prefix
//!   (`WRONGTYPE`), also recorded as `db.response.status_code`; else the
//!   class the client names: the I/O error kind (`ConnectionRefused`,
//!   `TimedOut`), `closed`, `timeout` (pool), `cancelled` (the caller
//!   dropped the future), `RowNotFound` (sqlx), ...; else `_OTHER`.
//! - **No credentials**: targets are built from host, port and database
//!   only; a password in a connection string never reaches an attribute.
//!
//! The query summary ([`query_summary`]) and sanitized text
//! ([`sanitize_query`]) come from a small lexer, never a full parser, and
//! are cached per statement text in a bounded cache
//! ([`STATEMENT_CACHE_CAPACITY`]).
//!
//! Opt-in: [`InstrumentationBuilder::sql_commenter`] appends
//! `/*traceparent='…'*/` to SQL text (tokio-postgres).
//!
//! Redis pub/sub `PUBLISH` is recorded here as a Redis command span, not as
//! a messaging `send` span: this crate cannot depend on otel-kit-messaging
//! (no layer crate depends on another), and Redis carries no headers to
//! hold a trace context, so a messaging span would link to nothing.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
// Without a SQL client the statement analysis is only reachable through
// `query_summary` / `sanitize_query`.
#![cfg_attr(
    not(any(
        feature = "tokio-postgres",
        feature = "sqlx-postgres",
        feature = "sqlx-mysql"
    )),
    allow(dead_code)
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "tokio-postgres")]
mod commenter;
mod failure;
mod instrumentation;
mod lexer;
mod operation;
#[cfg(any(
    feature = "deadpool-postgres",
    feature = "sqlx-postgres",
    feature = "sqlx-mysql"
))]
mod pool_metrics;
#[cfg(feature = "deadpool-postgres")]
mod pool_waits;
mod query_text;
mod sanitize;
mod statement;
mod summary;
mod system;
mod target;

#[cfg(feature = "tokio-postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-postgres")))]
pub mod postgres;

#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql")))
)]
pub mod sqlx;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;

pub use failure::DbFailure;
pub use instrumentation::{Instrumentation, InstrumentationBuilder};
pub use lexer::Dialect;
pub use query_text::QueryText;
pub use sanitize::sanitize_query;
pub use statement::STATEMENT_CACHE_CAPACITY;
pub use summary::{MAX_SUMMARY_LEN, query_summary};
pub use system::DbSystem;
pub use target::DbTarget;
