use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower::Service;

use crate::body::{CountingBody, GrpcBody};
use crate::call::{Call, MessageKind};
use crate::config::Shared;
use crate::server::ServerResponseFuture;

/// The service made by [`GrpcServerLayer`](crate::GrpcServerLayer).
///
/// Accepts any request body and hands the inner service a
/// `tonic::body::Body` (without re-boxing one that already is).
#[derive(Clone, Debug)]
pub struct GrpcServerService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> GrpcServerService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        GrpcServerService { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B, ResB> Service<Request<B>> for GrpcServerService<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResB>>,
    S::Error: std::fmt::Display,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
    ResB: Body<Data = Bytes>,
    ResB::Error: Into<crate::BoxError>,
{
    type Response = Response<GrpcBody<ResB>>;
    type Error = S::Error;
    type Future = ServerResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    /// The steps of a server call: `Call::start` (filter, extract the
    /// caller's context, name, attributes, start the SERVER span), count the
    /// received messages (dup mode), `Call::attach` while the inner
    /// service is called; the `ServerResponseFuture` then finishes the
    /// call in `on_response` / `on_failure`.
    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Some(call) = Call::start(&self.shared, &mut req) else {
            let req = req.map(tonic::body::Body::new);
            return ServerResponseFuture::new(self.inner.call(req), None);
        };
        let req = count_received(&call, req);
        let fut = {
            let _attached = call.attach();
            self.inner.call(req)
        };
        ServerResponseFuture::new(fut, Some(call))
    }
}

/// The request body for the inner service: with message events on (opted
/// in, or dup mode) it records the received messages as `rpc.message`
/// events, within the call's budget.
fn count_received<B>(call: &Call, req: Request<B>) -> Request<tonic::body::Body>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
{
    if call.event_budget().is_on() {
        let (cx, budget) = (call.cx.clone(), call.event_budget().clone());
        req.map(|b| tonic::body::Body::new(CountingBody::new(b, cx, MessageKind::Received, budget)))
    } else {
        req.map(tonic::body::Body::new)
    }
}
