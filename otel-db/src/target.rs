//! The connection attributes every span and measurement of one client
//! carries: `db.system.name`, `db.namespace`, `server.address`,
//! `server.port`. Built from the client's configuration by each client
//! module; a password or user name is never read.

use std::sync::Arc;

use otel_kit_core::opentelemetry::{KeyValue, StringValue};
use otel_kit_core::semconv::attribute as sc;

use crate::system::DbSystem;

/// Where a client's operations go: the system, the namespace (database
/// name; Redis: the database index) and the server.
///
/// The client modules build it from their configuration
/// (`postgres::target_of`, ...); build one yourself for a client this crate
/// does not wrap.
///
/// ```
/// use otel_kit_db::{DbSystem, DbTarget};
///
/// let target = DbTarget::new(DbSystem::PostgreSql)
///     .with_namespace("orders")
///     .with_server("db.internal", 5432);
/// assert_eq!(target.namespace(), Some("orders"));
/// ```
#[derive(Clone, Debug)]
pub struct DbTarget {
    system: DbSystem,
    namespace: Option<Arc<str>>,
    server_address: Option<Arc<str>>,
    server_port: Option<u16>,
    /// Identity of this target for the metric cache.
    id: Arc<()>,
}

impl DbTarget {
    /// A target of `system` with no namespace or server known.
    pub fn new(system: DbSystem) -> Self {
        DbTarget {
            system,
            namespace: None,
            server_address: None,
            server_port: None,
            id: Arc::new(()),
        }
    }

    /// `db.namespace`: the database (PostgreSQL, MySQL) or the database
    /// index (Redis). Empty names are not recorded.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        self.namespace = (!namespace.is_empty()).then(|| namespace.into());
        self.id = Arc::new(());
        self
    }

    /// `server.address` and `server.port`: the host (name, IP or Unix
    /// socket path) and port the client connects to.
    pub fn with_server(mut self, address: impl Into<String>, port: u16) -> Self {
        let address = address.into();
        self.server_address = (!address.is_empty()).then(|| address.into());
        self.server_port = Some(port);
        self.id = Arc::new(());
        self
    }

    /// The system (`db.system.name`).
    pub fn system(&self) -> DbSystem {
        self.system
    }

    /// Changes the system (a MySQL client that found a MariaDB server).
    pub fn with_system(mut self, system: DbSystem) -> Self {
        self.system = system;
        self.id = Arc::new(());
        self
    }

    /// `db.namespace`.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// `server.address`.
    pub fn server_address(&self) -> Option<&str> {
        self.server_address.as_deref()
    }

    /// `server.port`.
    pub fn server_port(&self) -> Option<u16> {
        self.server_port
    }

    /// A key that tells targets apart cheaply (its address), and the
    /// allocation behind it (whoever keeps the key keeps this too, so the
    /// address is not reused by another target).
    pub(crate) fn id(&self) -> (usize, &Arc<()>) {
        (Arc::as_ptr(&self.id) as usize, &self.id)
    }

    /// Pushes the target's attributes.
    pub(crate) fn push_attributes(&self, attrs: &mut Vec<KeyValue>) {
        attrs.push(KeyValue::new(sc::DB_SYSTEM_NAME, self.system.as_str()));
        if let Some(ns) = &self.namespace {
            attrs.push(KeyValue::new(
                sc::DB_NAMESPACE,
                StringValue::from(ns.clone()),
            ));
        }
        if let Some(address) = &self.server_address {
            attrs.push(KeyValue::new(
                sc::SERVER_ADDRESS,
                StringValue::from(address.clone()),
            ));
            if let Some(port) = self.server_port {
                attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(port)));
            }
        }
    }
}
