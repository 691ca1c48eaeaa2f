use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use otel_kit_core::instrument::type_error_type;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::attempt::{Attempt, Target, default_port};
use super::builder::ClientLayerBuilder;
use super::config::ClientConfig;
use crate::attributes::{header_str, split_host_port};

/// A tower [`Layer`] adding a CLIENT span per request to an HTTP client
/// service (`hyper_util::client::legacy::Client`, or any
/// `Service<http::Request<B>, Response = http::Response<_>>`).
///
/// ```
/// use otel_kit_http::client::ClientLayer;
/// use tower::ServiceBuilder;
///
/// let layer = ClientLayer::builder().propagate_to(["*.svc.cluster.local"]).build();
/// let _stack = ServiceBuilder::new().layer(layer);
/// ```
#[derive(Clone)]
pub struct ClientLayer {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for ClientLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientLayer").finish_non_exhaustive()
    }
}

impl Default for ClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientLayer {
    /// The layer with the default options and the global providers.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for the options.
    pub fn builder() -> ClientLayerBuilder {
        ClientLayerBuilder::default()
    }

    pub(crate) fn from_config(config: Arc<ClientConfig>) -> Self {
        ClientLayer { config }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The [`Service`] of a [`ClientLayer`].
pub struct ClientService<S> {
    inner: S,
    config: Arc<ClientConfig>,
}

impl<S: Clone> Clone for ClientService<S> {
    fn clone(&self) -> Self {
        ClientService {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ClientService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> ClientService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ClientService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let resend = Attempt::resend_count(req.extensions());
        let uri = req.uri().clone();
        let scheme = uri.scheme_str().unwrap_or("http");
        let authority_host = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'));
        let (host, port) = match authority_host {
            Some(h) => (Some(h.to_owned()), uri.port_u16()),
            None => {
                match header_str(req.headers(), &http::header::HOST).and_then(split_host_port) {
                    Some((h, p)) => (Some(h.to_owned()), p),
                    None => (None, None),
                }
            }
        };
        let target = host.as_deref().map(|h| Target {
            scheme,
            host: h,
            port: port.unwrap_or_else(|| default_port(scheme)),
        });
        let config = &self.config;
        let full_url = || {
            let raw = if uri.scheme().is_some() && uri.authority().is_some() {
                uri.to_string()
            } else {
                let mut s = String::new();
                s.push_str(scheme);
                s.push_str("://");
                if let Some(h) = &host {
                    s.push_str(h);
                    if let Some(p) = port {
                        s.push(':');
                        s.push_str(&p.to_string());
                    }
                }
                s.push_str(uri.path_and_query().map_or("/", |pq| pq.as_str()));
                s
            };
            config.redactor.redact_url(&raw)
        };
        let (mut head, body) = req.into_parts();
        let attempt = Attempt::start(
            config,
            &head.method,
            target,
            full_url,
            &mut head.headers,
            &head.extensions,
            resend,
        );
        req = Request::from_parts(head, body);
        ResponseFuture {
            inner: self.inner.call(req),
            attempt: Some(attempt),
        }
    }
}

pin_project! {
    /// The response future of a [`ClientService`]: ends the attempt's span
    /// when the response head arrives or the call fails.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        attempt: Option<Attempt>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Some(attempt) = this.attempt.take() {
            match &result {
                Ok(response) => {
                    #[cfg(feature = "hyper-util")]
                    if let Some(info) = response
                        .extensions()
                        .get::<hyper_util::client::legacy::connect::HttpInfo>()
                    {
                        attempt.peer(info.remote_addr());
                    }
                    attempt.response(response.status(), response.version(), response.headers())
                }
                Err(_) => attempt.error(Cow::Borrowed(type_error_type::<E>()), None),
            }
        }
        Poll::Ready(result)
    }
}
