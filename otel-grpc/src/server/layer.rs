use std::sync::Arc;

use tower::Layer;

use crate::config::{LayerBuilder, ServerSide, Shared, Side};
use crate::server::GrpcServerService;

/// Instruments a tonic server: a SERVER span and `rpc.server.call.duration`
/// per call, the caller's context extracted from the request metadata.
///
/// Use it with `tonic::transport::Server::builder().layer(GrpcServerLayer::new())`,
/// or around any `Service<http::Request<B>>` whose responses are gRPC
/// responses. Cheap to clone.
#[derive(Clone, Debug)]
pub struct GrpcServerLayer {
    shared: Arc<Shared>,
}

impl GrpcServerLayer {
    /// A layer with the default options (global providers and propagator).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Options: providers, filter, metadata capture, public endpoint, ...
    pub fn builder() -> LayerBuilder<ServerSide> {
        LayerBuilder::default()
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        debug_assert_eq!(shared.side, Side::Server);
        GrpcServerLayer { shared }
    }
}

impl Default for GrpcServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for GrpcServerLayer {
    type Service = GrpcServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcServerService::new(inner, self.shared.clone())
    }
}
