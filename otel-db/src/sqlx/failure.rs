//! `error.type` and `db.response.status_code` of a sqlx error.

use std::borrow::Cow;

use otel_kit_core::instrument::variant_error_type;

use crate::failure::{DbFailure, io_error_type};

/// How a sqlx error is recorded: a database error's code as `error.type`
/// and `db.response.status_code` (PostgreSQL: the SQLSTATE, `23505`;
/// MySQL / MariaDB: the server's error number, `1062`, as their
/// conventions say); an I/O error's kind (`ConnectionReset`, ...); else
/// sqlx's error variant (`PoolTimedOut`, also for a refused connection,
/// which sqlx's pool retries until its acquire timeout; `RowNotFound`,
/// `ColumnDecode`, `Protocol`, ...).
///
/// ```
/// let failure = otel_kit_db::sqlx::failure(&sqlx::Error::RowNotFound);
/// assert_eq!(failure.error_type(), "RowNotFound");
/// assert_eq!(failure.status_code(), None);
/// ```
pub fn failure(error: &sqlx::Error) -> DbFailure {
    match error {
        sqlx::Error::Database(db) => {
            #[cfg(feature = "sqlx-mysql")]
            if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                return DbFailure::status(my.number().to_string(), my.message());
            }
            match db.code() {
                Some(code) => DbFailure::status(code.into_owned(), db.message()),
                None => DbFailure::class("Database", db.message()),
            }
        }
        sqlx::Error::Io(io) => DbFailure::class(io_error_type(io), error.to_string()),
        other => DbFailure::class(Cow::Owned(variant_error_type(other)), other.to_string()),
    }
}
