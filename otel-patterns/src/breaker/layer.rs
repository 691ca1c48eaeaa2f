//! The breaker as a tower layer.

use super::{BreakerError, CircuitBreaker, Outcome};
use futures_util::future::BoxFuture;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

type Classifier<R, E> = Arc<dyn Fn(&Result<R, E>) -> Outcome + Send + Sync>;

/// Wraps a service in a [`CircuitBreaker`]: rejected requests fail with
/// [`BreakerError::Open`] without reaching the service.
///
/// Around an HTTP client (here a `service_fn` stands in for hyper-util's
/// client or a tonic channel; an otel-kit-http / otel-kit-grpc client
/// layer goes inside it, so rejected calls make no client span):
///
/// ```
/// use otel_kit_patterns::breaker::{BreakerError, CircuitBreaker, CircuitBreakerLayer};
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let breaker = CircuitBreaker::builder("inventory").build();
/// let mut client = ServiceBuilder::new()
///     // Errors and 5xx responses count as failures.
///     .layer(CircuitBreakerLayer::http(breaker.clone()))
///     .service_fn(|req: http::Request<String>| async move {
///         Ok::<_, std::io::Error>(http::Response::new(format!("stock of {}", req.uri())))
///     });
/// let request = http::Request::get("/stock/sku-1").body(String::new()).unwrap();
/// let response = client.ready().await.unwrap().call(request).await.unwrap();
/// assert_eq!(response.body(), "stock of /stock/sku-1");
///
/// // Once open, calls fail at once with `BreakerError::Open`.
/// breaker.force_open();
/// let request = http::Request::get("/stock/sku-1").body(String::new()).unwrap();
/// let r = client.ready().await.unwrap().call(request).await;
/// assert!(matches!(r, Err(BreakerError::Open(_))));
/// # }
/// ```
pub struct CircuitBreakerLayer<R, E> {
    breaker: CircuitBreaker,
    classify: Classifier<R, E>,
}

impl<R, E> Clone for CircuitBreakerLayer<R, E> {
    fn clone(&self) -> Self {
        CircuitBreakerLayer {
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<R, E> fmt::Debug for CircuitBreakerLayer<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker)
            .finish()
    }
}

impl<R, E> CircuitBreakerLayer<R, E> {
    /// Errors are failures, responses successes.
    pub fn new(breaker: CircuitBreaker) -> Self {
        Self::with_classifier(breaker, |r: &Result<R, E>| match r {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        })
    }

    /// A custom classification of results.
    pub fn with_classifier(
        breaker: CircuitBreaker,
        classify: impl Fn(&Result<R, E>) -> Outcome + Send + Sync + 'static,
    ) -> Self {
        CircuitBreakerLayer {
            breaker,
            classify: Arc::new(classify),
        }
    }
}

impl<B: 'static, E: 'static> CircuitBreakerLayer<http::Response<B>, E> {
    /// For HTTP clients: errors and 5xx responses are failures, the rest
    /// successes.
    pub fn http(breaker: CircuitBreaker) -> Self {
        Self::with_classifier(breaker, |r: &Result<http::Response<B>, E>| match r {
            Ok(resp) if resp.status().is_server_error() => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        })
    }
}

impl<S, R, E> Layer<S> for CircuitBreakerLayer<R, E> {
    type Service = CircuitBreakerService<S, R, E>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`CircuitBreakerLayer`] (see its example): its
/// error is [`BreakerError`], `Open` for a rejected call, `Inner` for the
/// wrapped service's own error.
pub struct CircuitBreakerService<S, R, E> {
    inner: S,
    layer: CircuitBreakerLayer<R, E>,
}

impl<S: Clone, R, E> Clone for CircuitBreakerService<S, R, E> {
    fn clone(&self) -> Self {
        CircuitBreakerService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, R, E> fmt::Debug for CircuitBreakerService<S, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, Req> Service<Req> for CircuitBreakerService<S, S::Response, S::Error>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = BreakerError<S::Error>;
    type Future = BoxFuture<'static, Result<S::Response, BreakerError<S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BreakerError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.layer.breaker.acquire_owned() {
            Err(state) => {
                // Recorded when polled, so the span joins the caller's context.
                let breaker = self.layer.breaker.clone();
                Box::pin(async move { Err(BreakerError::Open(breaker.rejected(state))) })
            }
            Ok(permit) => {
                let fut = self.inner.call(req);
                let classify = self.layer.classify.clone();
                Box::pin(async move {
                    let r = fut.await;
                    permit.record(classify(&r));
                    r.map_err(BreakerError::Inner)
                })
            }
        }
    }
}
