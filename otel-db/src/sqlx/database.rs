//! The sqlx databases this crate traces, and the target each one's
//! connect options describe.

use sqlx::Database;

use crate::system::DbSystem;
use crate::target::DbTarget;

mod sealed {
    pub trait Sealed {}
}

/// A sqlx database a [`TracedPool`](super::TracedPool) works with:
/// `sqlx::Postgres` (feature `sqlx-postgres`) or `sqlx::MySql` (feature
/// `sqlx-mysql`, MariaDB included).
pub trait TracedDatabase: Database + sealed::Sealed {
    /// `db.system.name` (MySQL until a MariaDB server is seen).
    const SYSTEM: DbSystem;

    /// The target the pool's connect options describe (host, port,
    /// database; never the password).
    fn target_of(options: &<Self::Connection as sqlx::Connection>::Options) -> DbTarget;
}

#[cfg(feature = "sqlx-postgres")]
impl sealed::Sealed for sqlx::Postgres {}

#[cfg(feature = "sqlx-postgres")]
impl TracedDatabase for sqlx::Postgres {
    const SYSTEM: DbSystem = DbSystem::PostgreSql;

    fn target_of(options: &sqlx::postgres::PgConnectOptions) -> DbTarget {
        let target = DbTarget::new(Self::SYSTEM)
            .with_namespace(options.get_database().unwrap_or(options.get_username()));
        match options.get_socket() {
            Some(socket) => target.with_server(socket.display().to_string(), options.get_port()),
            None => target.with_server(options.get_host(), options.get_port()),
        }
    }
}

#[cfg(feature = "sqlx-mysql")]
impl sealed::Sealed for sqlx::MySql {}

#[cfg(feature = "sqlx-mysql")]
impl TracedDatabase for sqlx::MySql {
    const SYSTEM: DbSystem = DbSystem::MySql;

    fn target_of(options: &sqlx::mysql::MySqlConnectOptions) -> DbTarget {
        let target =
            DbTarget::new(Self::SYSTEM).with_namespace(options.get_database().unwrap_or_default());
        match options.get_socket() {
            Some(socket) => target.with_server(socket.display().to_string(), options.get_port()),
            None => target.with_server(options.get_host(), options.get_port()),
        }
    }
}
