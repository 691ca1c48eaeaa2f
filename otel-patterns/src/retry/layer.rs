//! Retry as a tower layer over HTTP (or gRPC, which is HTTP) clients; each
//! re-sent request carries [`ResendCount`] so the otel-kit-http / otel-kit-grpc
//! client span records `http.request.resend_count`.

use super::{RetryDecision, RetryPolicy, server_delay};
use futures_util::future::{BoxFuture, poll_fn};
use otel_kit_core::instrument::ResendCount;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;
use tower::{Layer, Service};

type Classifier<R, E> = Arc<dyn Fn(&Result<R, E>) -> RetryDecision + Send + Sync>;

/// Retries `http::Request<B>` (with `B: Clone`) through the inner service
/// according to a [`RetryPolicy`].
///
/// Around an HTTP client (a `service_fn` stands in for hyper-util's client
/// or a tonic channel here); with an otel-kit-http / otel-kit-grpc client
/// layer inside it, each attempt is a client span with
/// `http.request.resend_count`:
///
/// ```
/// use otel_kit_patterns::retry::{RetryLayer, RetryPolicy};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let policy = RetryPolicy::builder("GET /price")
///     .max_attempts(3)
///     .initial_backoff(Duration::from_millis(1))
///     .build();
/// let calls = Arc::new(AtomicU32::new(0));
/// let mut client = ServiceBuilder::new()
///     // Transport errors, 408, 429, 502, 503, 504 are retried.
///     .layer(RetryLayer::new(policy))
///     .service_fn({
///         let calls = calls.clone();
///         move |_req: http::Request<String>| {
///             let n = calls.fetch_add(1, Ordering::Relaxed);
///             async move {
///                 let status = if n == 0 { 503 } else { 200 };
///                 let response = http::Response::builder().status(status).body(String::new());
///                 Ok::<_, std::io::Error>(response.unwrap())
///             }
///         }
///     });
/// let request = http::Request::get("/price/sku-1").body(String::new()).unwrap();
/// let response = client.ready().await.unwrap().call(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// assert_eq!(calls.load(Ordering::Relaxed), 2);
/// # }
/// ```
pub struct RetryLayer<R, E> {
    policy: RetryPolicy,
    classify: Classifier<R, E>,
}

impl<R, E> Clone for RetryLayer<R, E> {
    fn clone(&self) -> Self {
        RetryLayer {
            policy: self.policy.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<R, E> fmt::Debug for RetryLayer<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.policy)
            .finish()
    }
}

impl<R, E> RetryLayer<R, E> {
    /// A custom classification of results.
    pub fn with_classifier(
        policy: RetryPolicy,
        classify: impl Fn(&Result<R, E>) -> RetryDecision + Send + Sync + 'static,
    ) -> Self {
        RetryLayer {
            policy,
            classify: Arc::new(classify),
        }
    }
}

impl<B: 'static, E: 'static> RetryLayer<http::Response<B>, E> {
    /// The default HTTP/gRPC classification: transport errors, `408`, `429`,
    /// `502`, `503`, `504` and gRPC `UNAVAILABLE` / `RESOURCE_EXHAUSTED` are
    /// retried, honouring `Retry-After` and gRPC `RetryInfo`.
    pub fn new(policy: RetryPolicy) -> Self {
        Self::with_classifier(policy, http_classify::<B, E>)
    }
}

/// The default classification of [`RetryLayer::new`].
pub(crate) fn http_classify<B, E>(r: &Result<http::Response<B>, E>) -> RetryDecision {
    let resp = match r {
        Err(_) => return RetryDecision::Retry,
        Ok(resp) => resp,
    };
    let headers = resp.headers();
    let status = resp.status().as_u16();
    let grpc = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u8>().ok());
    let retryable = matches!(status, 408 | 429 | 502 | 503 | 504) || matches!(grpc, Some(8 | 14));
    if !retryable {
        return RetryDecision::Stop;
    }
    match server_delay::retry_after(headers, SystemTime::now())
        .or_else(|| server_delay::grpc_retry_info(headers))
    {
        Some(d) => RetryDecision::RetryAfter(d),
        None => RetryDecision::Retry,
    }
}

impl<S, R, E> Layer<S> for RetryLayer<R, E> {
    type Service = RetryService<S, R, E>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`RetryLayer`] (see its example).
pub struct RetryService<S, R, E> {
    inner: S,
    layer: RetryLayer<R, E>,
}

impl<S: Clone, R, E> Clone for RetryService<S, R, E> {
    fn clone(&self) -> Self {
        RetryService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, R, E> fmt::Debug for RetryService<S, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

fn clone_request<B: Clone>(req: &http::Request<B>) -> http::Request<B> {
    let mut out = http::Request::new(req.body().clone());
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = req.uri().clone();
    *out.version_mut() = req.version();
    *out.headers_mut() = req.headers().clone();
    *out.extensions_mut() = req.extensions().clone();
    out
}

impl<S, B> Service<http::Request<B>> for RetryService<S, S::Response, S::Error>
where
    S: Service<http::Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    B: Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // Keep the service that was driven ready for the first attempt.
        let fresh = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, fresh);
        let spare = self.inner.clone();
        let layer = self.layer.clone();
        let mut first = Some((ready, req));
        let mut template: Option<http::Request<B>> = None;
        Box::pin(async move {
            let classify = layer.classify.clone();
            layer
                .policy
                .run(
                    move |attempt| {
                        let (mut svc, req, fresh) = match first.take() {
                            Some((svc, req)) => {
                                template = Some(clone_request(&req));
                                (svc, req, false)
                            }
                            None => {
                                let mut req = clone_request(
                                    template
                                        .as_ref()
                                        .expect("template kept after first attempt"),
                                );
                                req.extensions_mut().insert(ResendCount(attempt - 1));
                                (spare.clone(), req, true)
                            }
                        };
                        async move {
                            if fresh {
                                poll_fn(|cx| svc.poll_ready(cx)).await?;
                            }
                            svc.call(req).await
                        }
                    },
                    move |r| classify(r),
                )
                .await
        })
    }
}
