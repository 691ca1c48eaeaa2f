//! `error.type` and `db.response.status_code` of a Redis error.

use std::borrow::Cow;

use otel_kit_core::instrument::variant_error_type;
use redis::{RedisError, ServerError, Value};

use crate::failure::{DbFailure, find_io_error, io_error_type};

/// How a Redis error is recorded: the server's error prefix (`WRONGTYPE`,
/// `ERR`, `NOSCRIPT`, `MOVED`, ...) as `error.type` and
/// `db.response.status_code`; else `ConnectionRefused`, `timeout`,
/// `connection_dropped` or the I/O error kind; else the redis crate's error
/// kind (`AuthenticationFailed`, `Parse`, ...).
///
/// ```no_run
/// # async fn run(mut conn: redis::aio::MultiplexedConnection) {
/// let err = redis::cmd("LPUSH").arg("a-string-key").arg(1)
///     .query_async::<i64>(&mut conn).await.unwrap_err();
/// assert_eq!(otel_kit_db::redis::failure(&err).error_type(), "WRONGTYPE");
/// # }
/// ```
pub fn failure(error: &RedisError) -> DbFailure {
    if let Some(code) = error.code() {
        return DbFailure::status(code, error.to_string());
    }
    let class: Cow<'static, str> = if error.is_connection_refusal() {
        Cow::Borrowed("ConnectionRefused")
    } else if error.is_timeout() {
        Cow::Borrowed("timeout")
    } else if error.is_connection_dropped() {
        Cow::Borrowed("connection_dropped")
    } else if let Some(io) = find_io_error(error) {
        io_error_type(io)
    } else {
        Cow::Owned(variant_error_type(&error.kind()))
    };
    DbFailure::class(class, error.to_string())
}

/// An error the server answered with inside an otherwise successful reply
/// (the redis crate turns it into an `Err` only when converting the reply).
pub(crate) fn server_failure(error: &ServerError) -> DbFailure {
    let message = match error.details() {
        Some(details) => format!("{}: {details}", error.code()),
        None => error.code().to_owned(),
    };
    DbFailure::status(error.code(), message)
}

/// The failure of a command's reply: its error, or the server error it
/// holds.
pub(crate) fn reply_failure(result: &Result<Value, RedisError>) -> Option<DbFailure> {
    match result {
        Err(e) => Some(failure(e)),
        Ok(Value::ServerError(e)) => Some(server_failure(e)),
        Ok(_) => None,
    }
}

/// The failure of a pipeline's replies: its error, or the first server
/// error among them (a transaction's replies are one array).
pub(crate) fn replies_failure(result: &Result<Vec<Value>, RedisError>) -> Option<DbFailure> {
    let replies = match result {
        Err(e) => return Some(failure(e)),
        Ok(replies) => replies,
    };
    replies.iter().find_map(|v| match v {
        Value::ServerError(e) => Some(server_failure(e)),
        Value::Array(items) => items.iter().find_map(|i| match i {
            Value::ServerError(e) => Some(server_failure(e)),
            _ => None,
        }),
        _ => None,
    })
}
