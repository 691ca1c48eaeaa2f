//! The load harness's span sink counts exactly what it receives, over both
//! transports: export requests sent over OTLP/gRPC (by tonic's generated
//! client) and OTLP/HTTP (protobuf, plain and gzipped).

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use otel_benchmarks::load::sink::{self, Counts};
use otel_benchmarks::load::sink_ceiling::batch;
use prost::Message;

async fn post(port: u16, body: Vec<u8>, gzip: bool) -> http::StatusCode {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::post(format!("http://127.0.0.1:{port}/v1/traces"))
        .header("content-type", "application/x-protobuf");
    let body = if gzip {
        request = request.header("content-encoding", "gzip");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&body).expect("gzip");
        encoder.finish().expect("gzip")
    } else {
        body
    };
    let response = client
        .request(request.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .expect("POST /v1/traces");
    let status = response.status();
    response.into_body().collect().await.expect("body");
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_counts_every_span_over_grpc_and_http() {
    let counts = Arc::new(Counts::default());
    let (grpc, http) = sink::start(counts.clone()).await.expect("sink");

    let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .expect("connect");
    client.export(batch(7)).await.expect("gRPC export");
    client.export(batch(0)).await.expect("empty gRPC export");
    assert_eq!(
        post(http, batch(5).encode_to_vec(), false).await,
        http::StatusCode::OK
    );
    assert_eq!(
        post(http, batch(3).encode_to_vec(), true).await,
        http::StatusCode::OK
    );
    // Not a protobuf export request: refused, nothing counted.
    assert_eq!(
        post(http, b"\xff\xff\xff".to_vec(), false).await,
        http::StatusCode::BAD_REQUEST
    );

    assert_eq!(counts.spans(), 7 + 5 + 3);
    assert_eq!(counts.requests(), 4);
}
