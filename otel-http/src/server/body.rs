use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use otel_kit_core::instrument::type_error_type;
use pin_project_lite::pin_project;

use super::finish::Finisher;

pin_project! {
    /// The response body of a [`ServerService`](super::ServerService): the
    /// inner body, unchanged, whose end (last frame sent, error, or drop)
    /// ends the request's span and records its duration (or, with a
    /// [`StreamPolicy`](super::StreamPolicy), its limit while the stream
    /// goes on). Bytes sent are
    /// counted for `http.server.response.body.size`. A failing body marks
    /// the span as an error (`error.type` = the body error's full type
    /// path, `axum_core::error::Error` for an axum body).
    pub struct ResponseBody<B> {
        #[pin]
        inner: Option<B>,
        finisher: Option<Box<Finisher>>,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, finisher: Option<Box<Finisher>>) -> Self {
        ResponseBody {
            inner: Some(inner),
            finisher,
        }
    }

    /// An empty body (the 500 response to a caught panic).
    pub(crate) fn empty(finisher: Option<Box<Finisher>>) -> Self {
        ResponseBody {
            inner: None,
            finisher,
        }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            this.finisher.take();
            return Poll::Ready(None);
        };
        let Poll::Ready(result) = inner.poll_frame(cx) else {
            // Waiting for the next frame: the stream policy's deadline may
            // pass meanwhile (an idle stream).
            if let Some(f) = this.finisher.as_mut() {
                f.on_pending(cx);
            }
            return Poll::Pending;
        };
        match &result {
            Some(Ok(frame)) => {
                if let Some(f) = this.finisher.as_mut()
                    && let Some(data) = frame.data_ref()
                {
                    f.response_bytes += data.remaining() as u64;
                    f.on_frame();
                }
                let ended = this
                    .inner
                    .as_ref()
                    .as_pin_ref()
                    .is_none_or(|b| b.is_end_stream());
                if ended {
                    this.finisher.take();
                }
            }
            Some(Err(_)) => {
                if let Some(mut f) = this.finisher.take() {
                    f.on_failure(Cow::Borrowed(type_error_type::<B::Error>()), None, true);
                }
            }
            None => {
                this.finisher.take();
            }
        }
        Poll::Ready(result)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}
