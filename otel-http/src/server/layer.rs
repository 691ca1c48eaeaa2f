use std::fmt;
use std::sync::Arc;

use tower::Layer;

use super::builder::ServerLayerBuilder;
use super::config::ServerConfig;
use super::service::ServerService;

/// A tower [`Layer`] adding a SERVER span and the server metrics to an HTTP
/// service. Build it with [`ServerLayer::builder`]; [`ServerLayer::new`] uses
/// the global providers and propagator with the default options.
///
/// ```
/// use axum::{Router, routing::get};
/// use otel_kit_http::server::ServerLayer;
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "alice" }))
///     .layer(ServerLayer::new());
/// ```
#[derive(Clone)]
pub struct ServerLayer {
    config: Arc<ServerConfig>,
}

impl fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerLayer").finish_non_exhaustive()
    }
}

impl Default for ServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerLayer {
    /// The layer with the default options and the global providers.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for the options.
    pub fn builder() -> ServerLayerBuilder {
        ServerLayerBuilder::default()
    }

    pub(crate) fn from_config(config: ServerConfig) -> Self {
        ServerLayer {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerService::new(inner, Arc::clone(&self.config))
    }
}
