//! redis (feature `redis`): async multiplexed connections and connection
//! managers.
//!
//! ```no_run
//! # async fn run() -> redis::RedisResult<()> {
//! use otel_kit_db::Instrumentation;
//! use otel_kit_db::redis::TracedConnection;
//! use redis::AsyncCommands;
//!
//! let client = redis::Client::open("redis://127.0.0.1:6379")?;
//! let mut conn = TracedConnection::manager(&client, &Instrumentation::default()).await?;
//! let _: () = conn.set_ex("session:42", "data", 60).await?;
//! # Ok(())
//! # }
//! ```
//!
//! `PUBLISH` is a Redis command span here, not a messaging `send` span:
//! Redis messages carry no headers for a trace context, so a messaging
//! span could not be linked from the subscriber, and a layer crate does not
//! depend on otel-kit-messaging.

mod command;
mod connection;
mod failure;

pub use connection::{TracedConnection, target_of};
pub use failure::failure;
