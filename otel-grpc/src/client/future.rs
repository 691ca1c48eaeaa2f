use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;
use tonic::Status;

use crate::body::GrpcBody;
use crate::call::{Call, Raised};
use crate::server::on_response;

pin_project! {
    /// The response future of [`GrpcClientService`](crate::GrpcClientService).
    /// Dropping it before the response arrives records `CANCELLED`.
    pub struct ClientResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F> ClientResponseFuture<F> {
    pub(crate) fn new(inner: F, call: Option<Call>) -> Self {
        ClientResponseFuture { inner, call }
    }
}

impl<F> std::fmt::Debug for ClientResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientResponseFuture")
            .field("traced", &self.call.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for ClientResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    E: Into<crate::BoxError>,
    ResB: Body<Data = Bytes>,
    ResB::Error: Into<crate::BoxError>,
{
    type Output = Result<Response<GrpcBody<ResB>>, crate::BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Poll::Ready(result) = this.inner.poll(cx) else {
            // No response headers yet (a client-streaming call gets them
            // at its end): `max_span_duration` may pass.
            if let Some(call) = this.call.as_mut() {
                call.on_pending(cx);
            }
            return Poll::Pending;
        };
        let call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => Ok(on_response(response, call, false)),
            Err(e) => Err(match call {
                Some(call) => Box::new(on_failure::<E>(call, e.into())),
                None => e.into(),
            }),
        })
    }
}

/// The channel failed instead of answering (a transport failure): an
/// exception, `error.type` the error's Rust type
/// (`tonic::transport::error::Error`) or the code name of a
/// `tonic::Status` error; `rpc.response.status_code` and the returned error
/// are the status tonic reports for it (connection refused: `UNAVAILABLE`).
fn on_failure<E>(mut call: Call, error: crate::BoxError) -> Status {
    let raised = Raised::new::<E>(error);
    call.fail(&raised);
    raised.status
}
