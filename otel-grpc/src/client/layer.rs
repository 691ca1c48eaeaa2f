use std::sync::Arc;

use tower::Layer;

use crate::client::GrpcClientService;
use crate::config::{ClientSide, LayerBuilder, Shared, Side};

/// Instruments a tonic client: a CLIENT span and `rpc.client.call.duration`
/// per call, the context injected into the request metadata.
///
/// Wrap a `Channel` (`ServiceBuilder::new().layer(layer).service(channel)`)
/// and hand the result to a generated client (`OrdersClient::new(svc)`).
/// Set [`target`](LayerBuilder::target) to the channel's target so spans
/// carry `server.address` / `server.port`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct GrpcClientLayer {
    shared: Arc<Shared>,
}

impl GrpcClientLayer {
    /// A layer with the default options (global providers and propagator,
    /// no target).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Options: target, providers, filter, metadata capture, ...
    pub fn builder() -> LayerBuilder<ClientSide> {
        LayerBuilder::default()
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        debug_assert_eq!(shared.side, Side::Client);
        GrpcClientLayer { shared }
    }
}

impl Default for GrpcClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for GrpcClientLayer {
    type Service = GrpcClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcClientService::new(inner, self.shared.clone())
    }
}
