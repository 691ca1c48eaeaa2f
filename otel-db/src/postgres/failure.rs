//! `error.type` and `db.response.status_code` of a tokio-postgres error.

use std::borrow::Cow;

use otel_kit_core::instrument::OTHER;

use crate::failure::{DbFailure, find_io_error, io_error_type};

/// How a tokio-postgres error is recorded: the SQLSTATE when the server
/// answered with one (`42601` syntax error, `23505` unique violation,
/// `57014` statement timeout, ...), also `db.response.status_code`; else the
/// I/O error kind underneath (`ConnectionRefused`, `ConnectionReset`, ...);
/// else tokio-postgres' own error kind (`Closed`, `RowCount`, `Timeout`,
/// `Authentication`, ...); else `_OTHER`. The message is the server's
/// primary message only (its `DETAIL`, which may quote row values, is left
/// out).
///
/// ```no_run
/// # async fn run(client: &tokio_postgres::Client) {
/// let err = client.query("SELEC 1", &[]).await.unwrap_err();
/// let failure = otel_kit_db::postgres::failure(&err);
/// assert_eq!(failure.error_type(), "42601");
/// # }
/// ```
pub fn failure(error: &tokio_postgres::Error) -> DbFailure {
    if let Some(db) = error.as_db_error() {
        return DbFailure::status(db.code().code(), db.message());
    }
    if let Some(io) = find_io_error(error) {
        return DbFailure::class(io_error_type(io), error.to_string());
    }
    DbFailure::class(kind_of(error), error.to_string())
}

/// The variant name of tokio-postgres' private error kind, from its
/// `Debug` output (`Error { kind: Closed, cause: None }`).
fn kind_of(error: &tokio_postgres::Error) -> Cow<'static, str> {
    let debug = format!("{error:?}");
    let Some(rest) = debug.split_once("kind: ").map(|(_, r)| r) else {
        return Cow::Borrowed(OTHER);
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    match &rest[..end.min(64)] {
        "" => Cow::Borrowed(OTHER),
        kind => Cow::Owned(kind.to_owned()),
    }
}
