use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::Extensions;
use otel_kit_core::instrument::{OTHER, type_error_type};
use reqwest_middleware::{Middleware, Next};

use super::attempt::{Attempt, Target, default_port};
use super::builder::ClientLayerBuilder;
use super::config::ClientConfig;

/// A `reqwest-middleware` middleware (feature `reqwest`) with the same
/// behaviour as [`ClientLayer`](super::ClientLayer): one CLIENT span per
/// attempt through it.
///
/// ```
/// use otel_kit_http::client::TracingMiddleware;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(TracingMiddleware::new())
///     .build();
/// # drop(client);
/// ```
///
/// Put it after a retry middleware (`.with(retry).with(TracingMiddleware)`)
/// so that each retry is its own span: attempts that share one
/// `Extensions` are numbered with `http.request.resend_count`.
#[derive(Clone)]
pub struct TracingMiddleware {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for TracingMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracingMiddleware").finish_non_exhaustive()
    }
}

impl Default for TracingMiddleware {
    fn default() -> Self {
        Self::new()
    }
}

/// Attempts made so far with one `Extensions` (reqwest-middleware's retry
/// middleware passes the same one to every attempt).
#[derive(Clone, Copy, Debug)]
struct AttemptsSeen(u32);

impl TracingMiddleware {
    /// The middleware with the default options and the global providers.
    pub fn new() -> Self {
        ClientLayerBuilder::default().build_middleware()
    }

    /// A builder for the options (finish with
    /// [`build_middleware`](ClientLayerBuilder::build_middleware)).
    pub fn builder() -> ClientLayerBuilder {
        ClientLayerBuilder::default()
    }

    pub(crate) fn from_config(config: Arc<ClientConfig>) -> Self {
        TracingMiddleware { config }
    }
}

/// `error.type` of a failed reqwest attempt, per the family's rule: the
/// class reqwest names (`timeout`, `connect`, `redirect`, `body`, `decode`,
/// `request`; never a message: reqwest's messages carry the URL), else the
/// full type path `reqwest::error::Error`; a middleware's error is
/// type-erased (`anyhow`): `_OTHER`.
fn error_type(error: &reqwest_middleware::Error) -> Cow<'static, str> {
    let e = match error {
        reqwest_middleware::Error::Reqwest(e) => e,
        reqwest_middleware::Error::Middleware(_) => return Cow::Borrowed(OTHER),
    };
    Cow::Borrowed(if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_redirect() {
        "redirect"
    } else if e.is_body() {
        "body"
    } else if e.is_decode() {
        "decode"
    } else if e.is_request() {
        "request"
    } else {
        type_error_type::<reqwest::Error>()
    })
}

#[async_trait::async_trait]
impl Middleware for TracingMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let seen = extensions.get::<AttemptsSeen>().map_or(0, |a| a.0);
        extensions.insert(AttemptsSeen(seen + 1));
        let resend = Attempt::resend_count(extensions).max(seen);
        let attempt = {
            let url = req.url().clone();
            let scheme = url.scheme();
            let target = url.host_str().map(|h| Target {
                scheme,
                host: h.trim_start_matches('[').trim_end_matches(']'),
                port: url.port().unwrap_or_else(|| default_port(scheme)),
            });
            let config = &self.config;
            let method = req.method().clone();
            Attempt::start(
                config,
                &method,
                target,
                || config.redactor.redact_url(url.as_str()),
                req.headers_mut(),
                extensions,
                resend,
            )
        };
        let result = next.run(req, extensions).await;
        match &result {
            Ok(response) => {
                if let Some(addr) = response.remote_addr() {
                    attempt.peer(addr);
                }
                attempt.response(response.status(), response.version(), response.headers())
            }
            Err(e) => attempt.error(error_type(e), None),
        }
        result
    }
}
