//! The clients a [`TracedClient`](super::TracedClient) can wrap: a
//! tokio-postgres `Client`, a `Transaction`, a deadpool-postgres pooled
//! object.

use tokio_postgres::GenericClient;

mod sealed {
    pub trait Sealed {}
}

/// A PostgreSQL connection or transaction a [`TracedClient`](super::TracedClient)
/// wraps. Implemented for `tokio_postgres::Client`,
/// `tokio_postgres::Transaction` and (feature `deadpool-postgres`)
/// `deadpool_postgres::Object`.
pub trait PgConnection: sealed::Sealed + Send + Sync {
    /// The tokio-postgres client or transaction it holds.
    type Generic: GenericClient + Send + Sync;
    /// Shared access to it.
    fn generic(&self) -> &Self::Generic;
    /// Exclusive access to it (to open a transaction).
    fn generic_mut(&mut self) -> &mut Self::Generic;
}

impl sealed::Sealed for tokio_postgres::Client {}
impl PgConnection for tokio_postgres::Client {
    type Generic = tokio_postgres::Client;
    fn generic(&self) -> &Self::Generic {
        self
    }
    fn generic_mut(&mut self) -> &mut Self::Generic {
        self
    }
}

impl sealed::Sealed for tokio_postgres::Transaction<'_> {}
impl<'a> PgConnection for tokio_postgres::Transaction<'a> {
    type Generic = tokio_postgres::Transaction<'a>;
    fn generic(&self) -> &Self::Generic {
        self
    }
    fn generic_mut(&mut self) -> &mut Self::Generic {
        self
    }
}

#[cfg(feature = "deadpool-postgres")]
impl sealed::Sealed for deadpool_postgres::Object {}
#[cfg(feature = "deadpool-postgres")]
impl PgConnection for deadpool_postgres::Object {
    type Generic = tokio_postgres::Client;
    fn generic(&self) -> &Self::Generic {
        self
    }
    fn generic_mut(&mut self) -> &mut Self::Generic {
        self
    }
}
