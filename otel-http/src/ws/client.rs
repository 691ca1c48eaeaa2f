//! The client side: a traced tokio-tungstenite handshake whose CLIENT span
//! ends when the `101` arrives, and the traced stream it returns.

use std::borrow::Cow;

use otel_kit_core::instrument::{ErrorRecord, record_error, type_error_type};
use otel_kit_core::opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt};
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::propagation::HeaderInjector;
use otel_kit_core::semconv::attribute as sc;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite};

use super::connection::Connection;
use super::instrumentation::WsInstrumentation;
use super::side::Side;
use super::socket::TracedWebSocket;
use crate::Redactor;
use crate::client::UrlTemplate;
use crate::error_type::status_error_type;

/// The traced client socket: tokio-tungstenite's stream in a
/// [`TracedWebSocket`].
pub type ClientWebSocket = TracedWebSocket<WebSocketStream<MaybeTlsStream<TcpStream>>>;

impl WsInstrumentation {
    /// `tokio_tungstenite::connect_async`, traced: the handshake is a
    /// CLIENT span (`GET`, or `GET {url.template}` when the request carries
    /// a [`UrlTemplate`] extension), child of the current context, whose
    /// context is injected into the handshake request; it ends when the
    /// `101` response arrives (not an error) or the handshake fails, and
    /// its duration is recorded as `http.client.request.duration` (method,
    /// server, status code or `error.type`, `url.template` with a template).
    /// The returned socket's messages are `receive` / `send` spans linked to
    /// it (`receive {url.template}` with a template).
    ///
    /// ```no_run
    /// use otel_kit_http::client::UrlTemplate;
    /// use otel_kit_http::ws::WsInstrumentation;
    /// use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let ws = WsInstrumentation::global();
    /// let mut request = "ws://127.0.0.1:8080/ws".into_client_request()?;
    /// request.extensions_mut().insert(UrlTemplate("/ws".into()));
    /// let (mut socket, _response) = ws.connect_async(request).await?;
    /// socket.send(Message::text("hello")).await?;
    /// if let Some(Ok(reply)) = socket.recv().await {
    ///     println!("{}", reply.to_text()?);
    /// }
    /// socket.send(Message::Close(None)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_async<R>(
        &self,
        request: R,
    ) -> Result<(ClientWebSocket, Response), tungstenite::Error>
    where
        R: IntoClientRequest + Unpin,
    {
        let mut request = request.into_client_request()?;
        let template = request
            .extensions()
            .get::<UrlTemplate>()
            .map(|t| t.0.clone());
        let config = &self.config;
        let mut builder = SpanBuilder::from_name(match &template {
            Some(t) => Cow::Owned(format!("GET {t}")),
            None => Cow::Borrowed("GET"),
        });
        builder.span_kind = Some(SpanKind::Client);
        builder.attributes = Some(vec![KeyValue::new(sc::HTTP_REQUEST_METHOD, "GET")]);
        let uri = request.uri().clone();
        let cx = config.tracer.start(builder, &Context::current(), |late| {
            late.push(KeyValue::new(
                sc::URL_FULL,
                Redactor::default().redact_url(&uri.to_string()),
            ));
            push_server(&uri, late);
            if let Some(t) = &template {
                late.push(KeyValue::new(sc::URL_TEMPLATE, t.to_string()));
            }
        });
        config
            .propagation
            .inject(&cx, &mut HeaderInjector(request.headers_mut()));
        let span = cx.span();
        let started = std::time::Instant::now();
        let result = tokio_tungstenite::connect_async(request).await;
        let seconds = started.elapsed().as_secs_f64();
        let (status, error_type) = outcome(&result);
        let status =
            status.map(|code| KeyValue::new(sc::HTTP_RESPONSE_STATUS_CODE, i64::from(code)));
        if let Some(metrics) = config.metrics(Side::Client) {
            let mut attrs = handshake_attributes(&uri, template.as_ref());
            attrs.extend(status.clone());
            if let Some(e) = &error_type {
                attrs.push(KeyValue::new(sc::ERROR_TYPE, e.clone()));
            }
            metrics.handshake(seconds, &attrs);
        }
        if let Some(status) = status {
            span.set_attribute(status);
        }
        match result {
            Ok((stream, response)) => {
                span.end();
                let route = template.map(|t| KeyValue::new(sc::URL_TEMPLATE, t));
                let connection = Connection::open(
                    self.config.clone(),
                    Side::Client,
                    span.span_context().clone(),
                    route,
                );
                Ok((TracedWebSocket::new(stream, connection), response))
            }
            Err(e) => {
                record_error(
                    &span,
                    &ErrorRecord {
                        error_type: error_type
                            .unwrap_or(Cow::Borrowed(type_error_type::<tungstenite::Error>())),
                        message: Some(Cow::Owned(e.to_string())),
                        exception: !matches!(e, tungstenite::Error::Http(_)),
                    },
                );
                span.end();
                Err(e)
            }
        }
    }
}

/// The handshake's status code, when a response came, and its `error.type`
/// when it failed: the status for a refused upgrade (any answer but `101`),
/// tungstenite's error type otherwise.
fn outcome<T>(
    result: &Result<(T, Response), tungstenite::Error>,
) -> (Option<u16>, Option<Cow<'static, str>>) {
    match result {
        Ok((_, response)) => (Some(response.status().as_u16()), None),
        Err(tungstenite::Error::Http(response)) => {
            let code = response.status().as_u16();
            (Some(code), Some(status_error_type(code)))
        }
        Err(_) => (
            None,
            Some(Cow::Borrowed(type_error_type::<tungstenite::Error>())),
        ),
    }
}

/// The handshake's `http.client.request.duration` attributes before its
/// outcome: `GET`, the server's address and port, the template if any.
fn handshake_attributes(uri: &http::Uri, template: Option<&Cow<'static, str>>) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(6);
    attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, "GET"));
    push_server(uri, &mut attrs);
    if let Some(t) = template {
        attrs.push(KeyValue::new(sc::URL_TEMPLATE, t.clone()));
    }
    attrs
}

/// `server.address` (when the URI has a host) and `server.port` (the URI's,
/// or its scheme's default: `wss`/`https` 443, else 80).
fn push_server(uri: &http::Uri, out: &mut Vec<KeyValue>) {
    if let Some(host) = uri.host() {
        out.push(KeyValue::new(sc::SERVER_ADDRESS, host.to_owned()));
    }
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("wss") | Some("https") => 443,
        _ => 80,
    });
    out.push(KeyValue::new(sc::SERVER_PORT, i64::from(port)));
}

/// [`WsInstrumentation::connect_async`] with [`WsInstrumentation::global`].
pub async fn connect_async<R>(request: R) -> Result<(ClientWebSocket, Response), tungstenite::Error>
where
    R: IntoClientRequest + Unpin,
{
    WsInstrumentation::global().connect_async(request).await
}
