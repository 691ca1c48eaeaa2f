use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http::{Response, StatusCode};
use otel_kit_core::opentelemetry::Context;
use pin_project_lite::pin_project;

use otel_kit_core::instrument::type_error_type;

use super::body::ResponseBody;
use super::finish::Finisher;
use super::on_failure::PANIC;

pin_project! {
    /// The response future of a [`ServerService`](super::ServerService): the
    /// inner future polled with the request's context attached, a panic
    /// caught (when configured) and turned into a 500 response.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        panic: Option<Box<dyn Any + Send>>,
        catch_panic: bool,
        // The context polled in: the finisher's while it is there (traced
        // requests), this one otherwise (filtered requests).
        cx: Option<Context>,
        finisher: Option<Box<Finisher>>,
    }
}

pub(crate) type CallResult<F> = Result<F, Box<dyn Any + Send>>;

impl<F> ResponseFuture<F> {
    /// The future of a request the filter skipped: polled in `cx` (the
    /// extracted context), no span.
    pub(crate) fn untraced(inner: CallResult<F>, cx: Context, catch_panic: bool) -> Self {
        Self::new(inner, Some(cx), catch_panic, None)
    }

    /// The future of a traced request: polled in the finisher's context.
    pub(crate) fn traced(inner: CallResult<F>, catch_panic: bool, finisher: Box<Finisher>) -> Self {
        Self::new(inner, None, catch_panic, Some(finisher))
    }

    fn new(
        inner: CallResult<F>,
        cx: Option<Context>,
        catch_panic: bool,
        finisher: Option<Box<Finisher>>,
    ) -> Self {
        let (inner, panic) = match inner {
            Ok(f) => (Some(f), None),
            Err(p) => (None, Some(p)),
        };
        ResponseFuture {
            inner,
            panic,
            catch_panic,
            cx,
            finisher,
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let panic = match this.inner.as_mut().as_pin_mut() {
            Some(inner) => {
                let polled = {
                    // Both are gone only once the inner future is done.
                    let cx = match this.finisher.as_deref() {
                        Some(f) => Some(f.context()),
                        None => this.cx.as_ref(),
                    };
                    let _guard = cx.map(|cx| cx.clone().attach());
                    if *this.catch_panic {
                        catch_unwind(AssertUnwindSafe(|| inner.poll(task)))
                    } else {
                        Ok(inner.poll(task))
                    }
                };
                if !matches!(polled, Ok(Poll::Pending)) {
                    this.inner.set(None);
                }
                match polled {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(mut response))) => {
                        if let Some(f) = this.finisher.as_mut() {
                            f.on_response(&mut response);
                        }
                        return Poll::Ready(Ok(
                            response.map(|b| ResponseBody::new(b, this.finisher.take()))
                        ));
                    }
                    Ok(Poll::Ready(Err(e))) => {
                        if let Some(mut f) = this.finisher.take() {
                            f.on_failure(Cow::Borrowed(type_error_type::<E>()), None, true);
                        }
                        return Poll::Ready(Err(e));
                    }
                    Err(payload) => payload,
                }
            }
            None => match this.panic.take() {
                Some(payload) => payload,
                // Polled again after completion: a contract violation of the
                // caller; stay pending rather than panic.
                None => return Poll::Pending,
            },
        };
        let mut finisher = this.finisher.take();
        if let Some(f) = finisher.as_mut() {
            f.on_failure(Cow::Borrowed(PANIC), panic_message(&*panic), true);
        }
        let mut response = Response::new(ResponseBody::<B>::empty(None));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        if let Some(f) = finisher.as_mut() {
            f.on_response(&mut response);
        }
        *response.body_mut() = ResponseBody::empty(finisher);
        Poll::Ready(Ok(response))
    }
}
