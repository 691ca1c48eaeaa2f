use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use otel_kit_core::opentelemetry::Context;
use tower::Service;

use super::config::ServerConfig;
use super::extract::extract;
use super::finish::Finisher;
use super::future::{CallResult, ResponseFuture};
use super::make_span::make_span;
use super::request::Incoming;
use super::span_name::span_name;

/// The [`Service`] of a [`ServerLayer`](super::ServerLayer).
pub struct ServerService<S> {
    inner: S,
    config: Arc<ServerConfig>,
}

impl<S: Clone> Clone for ServerService<S> {
    fn clone(&self) -> Self {
        ServerService {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ServerService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> ServerService<S> {
    pub(crate) fn new(inner: S, config: Arc<ServerConfig>) -> Self {
        ServerService { inner, config }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServerService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<super::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let config = &self.config;
        let catch_panic = config.catch_panic;
        let (parts, body) = req.into_parts();
        let parent = extract(config, &parts);
        if !config.traces(&parts) {
            let req = Request::from_parts(parts, body);
            let future = call_inner(&mut self.inner, req, &parent, catch_panic);
            return ResponseFuture::untraced(future, parent, catch_panic);
        }
        let incoming = Incoming::new(config, &parts);
        let name = span_name(config, &parts, &incoming);
        let span = make_span(config, &parts, &incoming, name, &parent);
        // Boxed: the response future and body move it several times.
        let finisher = Box::new(Finisher::start(config, span, &parts, &incoming));
        let req = Request::from_parts(parts, body);
        let future = call_inner(&mut self.inner, req, finisher.context(), catch_panic);
        ResponseFuture::traced(future, catch_panic, finisher)
    }
}

/// Step 4: calls the inner service with `cx` attached, catching a panic in
/// `call` itself when `catch_panic` is set.
#[inline(always)]
fn call_inner<S, R>(inner: &mut S, req: R, cx: &Context, catch_panic: bool) -> CallResult<S::Future>
where
    S: Service<R>,
{
    let _guard = cx.clone().attach();
    if catch_panic {
        catch_unwind(AssertUnwindSafe(|| inner.call(req)))
    } else {
        Ok(inner.call(req))
    }
}
