use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower::Service;

use crate::body::{CountingBody, GrpcBody};
use crate::call::{Call, MessageKind};
use crate::client::ClientResponseFuture;
use crate::config::Shared;

/// The service made by [`GrpcClientLayer`](crate::GrpcClientLayer).
///
/// Accepts any request body and hands the inner service (a tonic `Channel`)
/// a `tonic::body::Body`. Errors of the inner service are turned into the
/// `tonic::Status` tonic would report for them, boxed.
#[derive(Clone, Debug)]
pub struct GrpcClientService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> GrpcClientService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        GrpcClientService { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B, ResB> Service<Request<B>> for GrpcClientService<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResB>>,
    S::Error: Into<crate::BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
    ResB: Body<Data = Bytes>,
    ResB::Error: Into<crate::BoxError>,
{
    type Response = Response<GrpcBody<ResB>>;
    type Error = crate::BoxError;
    type Future = ClientResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    /// The steps of a client call: `Call::start` (filter, name,
    /// attributes, start the CLIENT span under the current context, inject
    /// it into the metadata), count the sent messages (dup mode), call the
    /// channel; the `ClientResponseFuture` then finishes the call in
    /// `on_response` / `on_failure`.
    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let call = Call::start(&self.shared, &mut req);
        let req = count_sent(call.as_ref(), req);
        ClientResponseFuture::new(self.inner.call(req), call)
    }
}

/// The request body for the channel: with message events on (opted in, or
/// dup mode) it records the sent messages as `rpc.message` events, within
/// the call's budget.
fn count_sent<B>(call: Option<&Call>, req: Request<B>) -> Request<tonic::body::Body>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
{
    match call {
        Some(call) if call.event_budget().is_on() => {
            let (cx, budget) = (call.cx.clone(), call.event_budget().clone());
            req.map(|b| tonic::body::Body::new(CountingBody::new(b, cx, MessageKind::Sent, budget)))
        }
        _ => req.map(tonic::body::Body::new),
    }
}
