use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use crate::body::GrpcBody;
use crate::call::{Call, Raised};
use crate::status::{code_from_headers, code_from_http_status, message_from_headers};

pin_project! {
    /// The response future of [`GrpcServerService`](crate::GrpcServerService):
    /// polls the handler with the call's span as the current context.
    pub struct ServerResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F> ServerResponseFuture<F> {
    pub(crate) fn new(inner: F, call: Option<Call>) -> Self {
        ServerResponseFuture { inner, call }
    }
}

impl<F> std::fmt::Debug for ServerResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerResponseFuture")
            .field("traced", &self.call.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for ServerResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    E: std::fmt::Display,
    ResB: Body<Data = Bytes>,
    ResB::Error: Into<crate::BoxError>,
{
    type Output = Result<Response<GrpcBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _attached = this.call.as_ref().map(Call::attach);
            let Poll::Ready(result) = this.inner.poll(cx) else {
                // The handler is still working (a client-streaming handler
                // reading its requests): `max_span_duration` may pass.
                if let Some(call) = this.call.as_mut() {
                    call.on_pending(cx);
                }
                return Poll::Pending;
            };
            result
        };
        let call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => Ok(on_response(response, call, true)),
            Err(e) => {
                if let Some(call) = call {
                    on_failure(call, &e);
                }
                Err(e)
            }
        })
    }
}

/// The handler (the inner service) failed instead of answering: an
/// exception, `error.type` its Rust type (`_OTHER` for a boxed error),
/// recorded as `UNKNOWN`.
fn on_failure<E: std::fmt::Display>(mut call: Call, error: &E) {
    call.fail(&Raised::handler::<E>(error));
}

/// Finishes `call` now if the response headers carry its status
/// (trailers-only response, or a non-200 HTTP status), else hands it to the
/// body, which finishes it at the trailers.
pub(crate) fn on_response<B>(
    response: Response<B>,
    call: Option<Call>,
    attach: bool,
) -> Response<GrpcBody<B>>
where
    B: Body,
{
    let Some(mut call) = call else {
        return response.map(|b| GrpcBody::new(b, None, false));
    };
    call.capture_response_metadata(response.headers());
    if let Some(code) = code_from_headers(response.headers()) {
        let message = (code != tonic::Code::Ok)
            .then(|| message_from_headers(response.headers()))
            .flatten();
        call.finish(code, message.as_deref());
        return response.map(|b| GrpcBody::new(b, None, false));
    }
    if response.status() != http::StatusCode::OK {
        call.finish(code_from_http_status(response.status()), None);
        return response.map(|b| GrpcBody::new(b, None, false));
    }
    if response.body().is_end_stream() {
        call.finish(tonic::Code::Unknown, Some("response without a grpc-status"));
        return response.map(|b| GrpcBody::new(b, None, false));
    }
    response.map(|b| GrpcBody::new(b, Some(call), attach))
}
