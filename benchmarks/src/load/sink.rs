//! A span sink that keeps up: an OTLP receiver that counts the spans it
//! receives (and the export requests that carried them) without writing
//! them anywhere, so the load harness can tell a collector's limit from
//! the exporting process's.
//!
//! It serves OTLP/gRPC (`TraceService/Export`, and `MetricsService/Export`
//! answered and ignored, so the servers' metric exports succeed) and
//! OTLP/HTTP with protobuf bodies (`POST /v1/traces`, `/v1/metrics`), gzip
//! accepted on both. It runs in its own process (`load sink`), so its CPU
//! is accounted apart from the server's and the driver's.
//!
//! Protocol with the driver, one line each: the sink prints
//! `READY <grpc-port> <http-port>` once both listen on 127.0.0.1; for each
//! `COUNT` it reads on stdin it prints `<spans> <requests>` (received so
//! far); it exits at end of file on stdin.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;

/// Largest export request accepted (the SDK's batches are far smaller).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// What the sink has received so far.
#[derive(Debug, Default)]
pub struct Counts {
    spans: AtomicU64,
    requests: AtomicU64,
}

impl Counts {
    /// Adds one trace export request of `spans` spans.
    pub fn record(&self, spans: u64) {
        self.spans.fetch_add(spans, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Spans received.
    pub fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }

    /// Trace export requests received.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Number of spans in an export request.
pub fn spans_in(request: &ExportTraceServiceRequest) -> u64 {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

/// The gRPC services.
#[derive(Clone, Debug)]
struct Grpc(Arc<Counts>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.record(spans_in(request.get_ref()));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        _request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// The request body, gunzipped when `Content-Encoding: gzip`.
fn body(headers: &HeaderMap, body: Bytes) -> Result<Vec<u8>, StatusCode> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.as_bytes()) {
        None | Some(b"identity") => Ok(body.to_vec()),
        Some(b"gzip") => {
            let mut out = Vec::with_capacity(body.len() * 4);
            flate2::read::GzDecoder::new(&body[..])
                .take(MAX_MESSAGE as u64)
                .read_to_end(&mut out)
                .map_err(|_| StatusCode::BAD_REQUEST)?;
            Ok(out)
        }
        Some(_) => Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    }
}

fn protobuf(message: impl Message) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        message.encode_to_vec(),
    )
}

async fn http_traces(
    State(counts): State<Arc<Counts>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<impl IntoResponse, StatusCode> {
    let bytes = body(&headers, raw)?;
    let request =
        ExportTraceServiceRequest::decode(&bytes[..]).map_err(|_| StatusCode::BAD_REQUEST)?;
    counts.record(spans_in(&request));
    Ok(protobuf(ExportTraceServiceResponse::default()))
}

async fn http_metrics(headers: HeaderMap, raw: Bytes) -> Result<impl IntoResponse, StatusCode> {
    let bytes = body(&headers, raw)?;
    ExportMetricsServiceRequest::decode(&bytes[..]).map_err(|_| StatusCode::BAD_REQUEST)?;
    Ok(protobuf(ExportMetricsServiceResponse::default()))
}

/// Serves both transports on 127.0.0.1 (ephemeral ports) counting into
/// `counts`; returns the gRPC and HTTP ports once both listen. The servers
/// run on the current Tokio runtime until it stops.
pub async fn start(counts: Arc<Counts>) -> io::Result<(u16, u16)> {
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ports = (grpc.local_addr()?.port(), http.local_addr()?.port());

    let service = Grpc(counts.clone());
    let traces = TraceServiceServer::new(service.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE);
    let metrics = MetricsServiceServer::new(service)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE);
    // Without TCP_NODELAY, the answers and window updates wait out delayed
    // ACKs (tens of ms per export); large windows take a whole batch at once.
    let incoming = tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true));
    tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(8 << 20)
            .add_service(traces)
            .add_service(metrics)
            .serve_with_incoming(incoming)
            .await;
        if let Err(e) = served {
            eprintln!("load sink: gRPC server: {e}");
        }
    });

    let app = Router::new()
        .route("/v1/traces", post(http_traces))
        .route("/v1/metrics", post(http_metrics))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_MESSAGE))
        .with_state(counts);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(http, app).await {
            eprintln!("load sink: HTTP server: {e}");
        }
    });
    Ok(ports)
}

/// Runs the sink process (`load sink`) until end of file on stdin (see the
/// module docs).
pub fn serve() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("sink runtime");
    let counts = Arc::new(Counts::default());
    let (grpc, http) = runtime
        .block_on(start(counts.clone()))
        .expect("sink listeners");
    let mut out = io::stdout().lock();
    writeln!(out, "READY {grpc} {http}").expect("stdout");
    out.flush().expect("stdout");
    for line in io::stdin().lock().lines() {
        match line {
            Ok(l) if l.trim() == "COUNT" => {
                writeln!(out, "{} {}", counts.spans(), counts.requests()).expect("stdout");
                out.flush().expect("stdout");
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
}

/// A running `load sink` child.
pub struct SinkProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    grpc_port: u16,
    http_port: u16,
}

impl SinkProcess {
    /// Starts `exe sink` and waits for its `READY` line.
    pub fn start(exe: &Path) -> io::Result<Self> {
        let mut child = Command::new(exe)
            .arg("sink")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let ports: Vec<u16> = line
            .trim()
            .strip_prefix("READY ")
            .map(|p| p.split(' ').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default();
        let [grpc_port, http_port] = ports[..] else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "sink: expected READY <grpc> <http>, got {line:?}"
            )));
        };
        Ok(SinkProcess {
            child,
            stdin,
            stdout,
            grpc_port,
            http_port,
        })
    }

    /// Its OTLP/gRPC endpoint.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// Its OTLP/HTTP base endpoint (`/v1/traces` appended per signal).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Spans and trace export requests received so far.
    pub fn counts(&mut self) -> io::Result<(u64, u64)> {
        writeln!(self.stdin, "COUNT")?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let mut it = line.split_whitespace().map(str::parse::<u64>);
        match (it.next(), it.next()) {
            (Some(Ok(s)), Some(Ok(r))) => Ok((s, r)),
            _ => Err(io::Error::other(format!(
                "sink: expected `<spans> <requests>`, got {line:?}"
            ))),
        }
    }

    /// Spans received so far.
    pub fn spans(&mut self) -> io::Result<u64> {
        self.counts().map(|(s, _)| s)
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
