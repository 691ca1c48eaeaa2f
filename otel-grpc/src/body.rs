//! Response and request bodies that watch a call's messages and trailers.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use otel_kit_core::opentelemetry::Context;
use pin_project_lite::pin_project;
use tonic::{Code, Status};

use crate::call::{Call, EventBudget, MessageCounter, MessageKind, Raised, message_event};
use crate::status::{code_from_headers, message_from_headers};

pin_project! {
    /// The response body of an instrumented call. It ends the call's span
    /// when the trailers arrive (their `grpc-status` is the call's status),
    /// when the body fails, or — as `CANCELLED` — when it is dropped before
    /// its end. On a server, the response stream is polled with the call's
    /// context attached, so streaming handlers see their span as current.
    pub struct GrpcBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
        attach: bool,
    }
}

impl<B> GrpcBody<B> {
    pub(crate) fn new(inner: B, call: Option<Call>, attach: bool) -> Self {
        GrpcBody {
            inner,
            call,
            attach,
        }
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for GrpcBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcBody")
            .field("inner", &self.inner)
            .field("traced", &self.call.is_some())
            .finish()
    }
}

impl<B> Body for GrpcBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<crate::BoxError>,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        let _guard = match this.call.as_ref() {
            Some(call) if *this.attach => Some(call.attach()),
            _ => None,
        };
        let Poll::Ready(result) = this.inner.poll_frame(cx) else {
            // Waiting for the next message: `max_span_duration` may pass.
            if let Some(call) = this.call.as_mut() {
                call.on_pending(cx);
            }
            return Poll::Pending;
        };
        let Some(call) = this.call.as_mut() else {
            return Poll::Ready(result.map(|r| r.map_err(|e| Status::from_error(e.into()))));
        };
        match result {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    call.on_response_data(data);
                } else if let Some(trailers) = frame.trailers_ref() {
                    call.capture_response_metadata(trailers);
                    let code = code_from_headers(trailers).unwrap_or(Code::Unknown);
                    let message = (code != Code::Ok)
                        .then(|| message_from_headers(trailers))
                        .flatten();
                    call.finish(code, message.as_deref());
                    *this.call = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                // A body that fails (a reset stream, a lost connection) is an
                // error raised, not a status: an exception.
                let raised = Raised::new::<B::Error>(e.into());
                call.fail(&raised);
                *this.call = None;
                Poll::Ready(Some(Err(raised.status)))
            }
            None => {
                call.finish(Code::Unknown, Some("stream ended without a grpc-status"));
                *this.call = None;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// A request body recording its messages as `rpc.message` events, within
    /// the call's budget.
    pub(crate) struct CountingBody<B> {
        #[pin]
        inner: B,
        cx: Context,
        kind: MessageKind,
        counter: MessageCounter,
        budget: EventBudget,
    }
}

impl<B> CountingBody<B> {
    pub(crate) fn new(inner: B, cx: Context, kind: MessageKind, budget: EventBudget) -> Self {
        CountingBody {
            inner,
            cx,
            kind,
            counter: MessageCounter::default(),
            budget,
        }
    }
}

impl<B> Body for CountingBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<crate::BoxError>,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        let result = ready!(this.inner.poll_frame(cx));
        if let Some(Ok(frame)) = &result
            && let Some(data) = frame.data_ref()
        {
            let (span_cx, kind, budget) = (&*this.cx, *this.kind, &*this.budget);
            this.counter.feed(data, |id, c, len| {
                if budget.take() {
                    message_event(span_cx, kind, id, c, len);
                }
            });
        }
        Poll::Ready(result.map(|r| r.map_err(|e| Status::from_error(e.into()))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
