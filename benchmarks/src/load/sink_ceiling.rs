//! The span sink's own ceiling: a generator (`load sink-ceiling`) sends
//! one pre-encoded export request over and over from its own process, over
//! several connections, to a [`sink`](super::sink) child, and reads the
//! spans per second the sink counted. Encoding happens once, so the
//! generator's CPU per request is the transport's alone.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use super::process;
use super::sink::SinkProcess;

/// The transport the generator sends over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/gRPC `TraceService/Export`.
    Grpc,
    /// OTLP/HTTP, `POST /v1/traces` with a protobuf body.
    HttpProtobuf,
}

impl Transport {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::HttpProtobuf => "http/protobuf",
        }
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

/// An export request of `spans` spans shaped like the HTTP server spans
/// the harness's servers export: ids, times, a server kind, the
/// semantic conventions' request attributes, one resource and one scope.
pub fn batch(spans: usize) -> ExportTraceServiceRequest {
    let spans = (0..spans as u64)
        .map(|i| Span {
            trace_id: [
                &0x4bf9_2f35_77b3_4da6u64.to_be_bytes()[..],
                &i.to_be_bytes(),
            ]
            .concat(),
            span_id: (i + 1).to_be_bytes().to_vec(),
            parent_span_id: (i + 2).to_be_bytes().to_vec(),
            flags: 0x101,
            name: "GET /hello".into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: 1_765_000_000_000_000_000 + i * 20_000,
            end_time_unix_nano: 1_765_000_000_000_000_000 + i * 20_000 + 9_000,
            attributes: vec![
                text("http.request.method", "GET"),
                text("url.path", "/hello"),
                text("url.scheme", "http"),
                text("http.route", "/hello"),
                kv("http.response.status_code", any_value::Value::IntValue(200)),
                text("network.protocol.version", "1.1"),
                text("server.address", "127.0.0.1"),
                kv("server.port", any_value::Value::IntValue(8080)),
                text("client.address", "127.0.0.1"),
            ],
            status: Some(Status::default()),
            ..Span::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "load-sink-ceiling"),
                    text("telemetry.sdk.language", "rust"),
                    text("telemetry.sdk.name", "opentelemetry"),
                    text("telemetry.sdk.version", "0.33.0"),
                ],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "otel-kit-http".into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// A gRPC codec that sends bytes already encoded and ignores the response.
#[derive(Clone, Copy, Debug, Default)]
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = PreEncoded;
    type Decoder = PreEncoded;

    fn encoder(&mut self) -> Self::Encoder {
        PreEncoded
    }

    fn decoder(&mut self) -> Self::Decoder {
        PreEncoded
    }
}

impl Encoder for PreEncoded {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for PreEncoded {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

async fn send_grpc(endpoint: String, body: Bytes, stop: Arc<AtomicBool>) -> u64 {
    let channel = tonic::transport::Endpoint::from_shared(endpoint)
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to the sink");
    let mut client = tonic::client::Grpc::new(channel);
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        client.ready().await.expect("channel ready");
        let r: Result<tonic::Response<()>, _> = client
            .unary(tonic::Request::new(body.clone()), path.clone(), PreEncoded)
            .await;
        r.expect("export to the sink");
        sent += 1;
    }
    sent
}

async fn send_http(
    client: Client<HttpConnector, Full<Bytes>>,
    uri: http::Uri,
    body: Bytes,
    stop: Arc<AtomicBool>,
) -> u64 {
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        let request = http::Request::post(uri.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(Full::new(body.clone()))
            .expect("request");
        let response = client.request(request).await.expect("export to the sink");
        assert!(
            response.status().is_success(),
            "sink answered {}",
            response.status()
        );
        response.into_body().collect().await.expect("response body");
        sent += 1;
    }
    sent
}

/// One ceiling measurement.
#[derive(Clone, Debug)]
pub struct Ceiling {
    /// Over which transport.
    pub transport: Transport,
    /// Spans per export request.
    pub batch: usize,
    /// Concurrent connections, one request in flight each.
    pub connections: usize,
    /// Spans the sink counted per second of the phase.
    pub spans_per_second: f64,
    /// Export requests per second.
    pub requests_per_second: f64,
    /// The sink's CPU time over the phase's wall time (1.0: one core busy).
    pub sink_cores: f64,
}

/// Measures the sink's ceiling over `transport` for `duration`: a fresh
/// sink child, `connections` senders of a pre-encoded `batch`-span request.
pub fn measure(
    exe: &Path,
    transport: Transport,
    batch: usize,
    connections: usize,
    duration: Duration,
) -> std::io::Result<Ceiling> {
    let mut sink = SinkProcess::start(exe)?;
    let body = Bytes::from(self::batch(batch).encode_to_vec());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (spans_before, requests_before) = sink.counts()?;
    let cpu_before = process::cpu_time(sink.pid())?;
    let start = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        let http_client: Client<HttpConnector, Full<Bytes>> = {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            Client::builder(TokioExecutor::new()).build(connector)
        };
        let uri: http::Uri = format!("{}/v1/traces", sink.http_endpoint())
            .parse()
            .expect("uri");
        for _ in 0..connections {
            let body = body.clone();
            let stop = stop.clone();
            tasks.push(match transport {
                Transport::Grpc => tokio::spawn(send_grpc(sink.grpc_endpoint(), body, stop)),
                Transport::HttpProtobuf => {
                    tokio::spawn(send_http(http_client.clone(), uri.clone(), body, stop))
                }
            });
        }
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("sender task");
        }
    });
    let elapsed = start.elapsed();
    let sink_cpu = process::cpu_time(sink.pid())?.saturating_sub(cpu_before);
    let (spans, requests) = sink.counts()?;
    let secs = elapsed.as_secs_f64();
    Ok(Ceiling {
        transport,
        batch,
        connections,
        spans_per_second: (spans - spans_before) as f64 / secs,
        requests_per_second: (requests - requests_before) as f64 / secs,
        sink_cores: sink_cpu.as_secs_f64() / secs,
    })
}

/// The ceilings as a markdown table.
pub fn markdown(ceilings: &[Ceiling]) -> String {
    let mut out = String::from(
        "| transport | spans per request | connections | spans/s counted by the sink | requests/s | sink CPU (cores) |\n|---|---|---|---|---|---|\n",
    );
    for c in ceilings {
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.2} |\n",
            c.transport.name(),
            c.batch,
            c.connections,
            c.spans_per_second,
            c.requests_per_second,
            c.sink_cores
        ));
    }
    out
}
