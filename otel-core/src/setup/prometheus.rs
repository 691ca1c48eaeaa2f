//! The Prometheus scrape endpoint (`OTEL_METRICS_EXPORTER=prometheus`): a
//! small HTTP/1 server on the export runtime answering `GET /metrics`.

use super::runtime::RuntimeHandle;
use crate::config::PrometheusSettings;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use std::net::SocketAddr;

/// The running endpoint; dropping it stops the server.
#[derive(Debug)]
pub(crate) struct PrometheusEndpoint {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl PrometheusEndpoint {
    /// Binds `host:port` (synchronously, so a taken port is reported at setup)
    /// and serves the registry the returned reader fills.
    pub(crate) fn start(
        settings: &PrometheusSettings,
        rt: &RuntimeHandle,
    ) -> Result<(opentelemetry_prometheus::PrometheusExporter, Self), String> {
        let registry = prometheus::Registry::new();
        let reader = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .map_err(|e| format!("cannot build the Prometheus exporter: {e}"))?;
        let listener = std::net::TcpListener::bind((settings.host.as_str(), settings.port))
            .map_err(|e| format!("cannot listen: {e}"))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let listener = {
            let _entered = rt.enter();
            tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?
        };
        let task =
            rt.spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        // e.g. out of file descriptors: back off, do not spin.
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    };
                    let registry = registry.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(
                            move |req: Request<hyper::body::Incoming>| {
                                let registry = registry.clone();
                                async move {
                                    Ok::<_, std::convert::Infallible>(respond(&req, &registry))
                                }
                            },
                        );
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        Ok((reader, PrometheusEndpoint { addr, task }))
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for PrometheusEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond<B>(req: &Request<B>, registry: &prometheus::Registry) -> Response<Full<Bytes>> {
    use prometheus::Encoder;
    let status = |code: StatusCode, body: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.status_mut() = code;
        r
    };
    if req.uri().path() != "/metrics" {
        return status(StatusCode::NOT_FOUND, "not found: scrape /metrics\n");
    }
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        return status(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
    }
    let encoder = prometheus::TextEncoder::new();
    let mut body = Vec::new();
    if encoder.encode(&registry.gather(), &mut body).is_err() {
        return status(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n");
    }
    let mut r = Response::new(Full::new(Bytes::from(body)));
    if let Ok(v) = http::HeaderValue::from_str(encoder.format_type()) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}
