//! tokio-postgres (feature `tokio-postgres`) and deadpool-postgres
//! (feature `deadpool-postgres`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use otel_kit_db::Instrumentation;
//! use otel_kit_db::postgres::{self, TracedClient};
//!
//! let config: tokio_postgres::Config = "postgres://postgres@127.0.0.1:5432/test".parse()?;
//! let client: TracedClient = postgres::connect(&config, tokio_postgres::NoTls, &Instrumentation::default()).await?;
//! let rows = client.query("SELECT id FROM users WHERE name = $1", &[&"ann"]).await?;
//! # let _ = rows;
//! # Ok(())
//! # }
//! ```
//!
//! Errors: [`failure`] (SQLSTATE first). `COPY`: [`TracedClient::copy_in`]
//! and [`TracedClient::copy_out`], one span for the whole transfer.
//!
//! A [`TracedClient`] is also the instrumentation core's
//! [`PostgresClient`](otel_kit_core::instrument::PostgresClient): a
//! component that runs its own statements on a client its user passes
//! (otel-kit-patterns' `PostgresLog`, the saga log) traces them when given
//! one.

mod client;
mod component_client;
mod connect;
mod connection;
mod copy;
mod failure;
#[cfg(feature = "deadpool-postgres")]
mod pool;
mod query;

pub use client::{TracedClient, TracedTransaction};
pub use connect::{connect, target_of};
pub use connection::PgConnection;
pub use copy::{TracedCopyInSink, TracedCopyOutStream};
pub use failure::failure;
#[cfg(feature = "deadpool-postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "deadpool-postgres")))]
pub use pool::TracedPool;
pub use query::{ToQuery, TracedStatement};
