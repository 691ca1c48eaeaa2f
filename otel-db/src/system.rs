//! `db.system.name`: which database a client talks to, and the quoting
//! rules its SQL follows.

use crate::lexer::Dialect;

/// The database system (`db.system.name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DbSystem {
    /// `postgresql`.
    PostgreSql,
    /// `mysql`.
    MySql,
    /// `mariadb` (a MySQL client that found a MariaDB server).
    MariaDb,
    /// `redis`.
    Redis,
}

impl DbSystem {
    /// The `db.system.name` value.
    ///
    /// ```
    /// assert_eq!(otel_kit_db::DbSystem::PostgreSql.as_str(), "postgresql");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            DbSystem::PostgreSql => "postgresql",
            DbSystem::MySql => "mysql",
            DbSystem::MariaDb => "mariadb",
            DbSystem::Redis => "redis",
        }
    }

    /// The SQL quoting rules of the system (PostgreSQL's for Redis, which
    /// has no SQL).
    pub const fn dialect(self) -> Dialect {
        match self {
            DbSystem::MySql | DbSystem::MariaDb => Dialect::MySql,
            DbSystem::PostgreSql | DbSystem::Redis => Dialect::Postgres,
        }
    }

    /// The server port the system listens on by default.
    pub const fn default_port(self) -> u16 {
        match self {
            DbSystem::PostgreSql => 5432,
            DbSystem::MySql | DbSystem::MariaDb => 3306,
            DbSystem::Redis => 6379,
        }
    }
}
