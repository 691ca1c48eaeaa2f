//! No secret reaches the collector, the logs or the diagnostics with
//! default options.
//!
//! End to end over HTTP: a client sends a request carrying credentials in
//! every usual place (signed-URL query keys, `Authorization`, `Cookie`,
//! `Proxy-Authorization`, an API-key header, baggage) to an axum service
//! traced by otel-kit-http's server layer; the handler calls another route with
//! otel-kit-http's traced reqwest client using a URL with userinfo and signed
//! query keys plus `Authorization` and `Cookie`, and answers with
//! `Set-Cookie`. Everything is exported to rotel, and the raw JSON it
//! received is searched for every secret value.
//!
//! The same for otel-kit-http's tower `ClientLayer` over hyper-util's client
//! (userinfo, signed query keys, `Authorization`, `Cookie`,
//! `Proxy-Authorization`, baggage; `Set-Cookie` in the response), for gRPC
//! metadata through otel-kit-grpc's server and client layers (`authorization`,
//! `cookie`, binary `-bin` credentials; `set-cookie` in the response
//! metadata; userinfo in the channel target), and for NATS and RabbitMQ
//! message headers through otel-kit-messaging's producers and consumers.
//!
//! OTLP exporter headers (API keys) and endpoint credentials: never in the
//! setup report (`Display`/`Debug`), the configuration's `Debug`, the export
//! error, or a shutdown error.

use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

/// Held by every test that installs the global providers and propagator
/// (the layers' defaults are what these tests check), so that they run one
/// after the other.
static GLOBALS: Mutex<()> = Mutex::const_new(());

/// Installs telemetry exporting every span (and, at shutdown, every metric)
/// to `collector` as the global providers and propagator (the default W3C
/// trace context and baggage), with the lock on the globals.
async fn install_globally(
    collector: &Collector,
    service: &str,
) -> (Telemetry, MutexGuard<'static, ()>) {
    let guard = GLOBALS.lock().await;
    let telemetry = Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_SERVICE_NAME", service),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                collector.grpc_endpoint().as_str(),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_SAMPLER", "always_on"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]))
        .strict(true)
        .install()
        .expect("setup");
    (telemetry, guard)
}

/// Fails listing every one of `secrets` found in what `collector` received.
#[track_caller]
fn assert_none_received(collector: &Collector, secrets: &[&str]) {
    let received = collector.received_text();
    let leaked: Vec<&str> = secrets
        .iter()
        .copied()
        .filter(|s| received.contains(s))
        .collect();
    assert!(
        leaked.is_empty(),
        "secrets reached the collector: {leaked:?}\n{received}"
    );
}

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use otel_kit_core::Telemetry;
use otel_kit_core::config::Environment;
use otel_kit_core::opentelemetry::trace::{Span as _, Tracer as _};
use otel_kit_http::client::TracingMiddleware;
use otel_kit_http::server::ServerLayer;
use otel_tests::collector::Collector;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

/// Every secret value sent; none may appear in what the collector received.
const SECRETS: &[&str] = &[
    "SecretQueryToken1",
    "SecretAmzSignature2",
    "SecretSig3",
    "SecretAmzCredential4",
    "SecretBearer5",
    "SecretCookie6",
    "SecretProxyAuth7",
    "SecretApiKey8",
    "SecretBaggage9",
    "SecretUserinfoPass10",
    "SecretDownstreamSig11",
    "SecretDownstreamBearer12",
    "SecretDownstreamCookie13",
    "SecretSetCookie14",
    "SecretDownstreamToken15",
];

#[derive(Clone)]
struct App {
    client: ClientWithMiddleware,
    port: u16,
}

async fn login(State(app): State<App>) -> impl IntoResponse {
    let url = format!(
        "http://alice:SecretUserinfoPass10@127.0.0.1:{}/files/report.pdf?\
         X-Amz-Signature=SecretDownstreamSig11&token=SecretDownstreamToken15&part=1",
        app.port
    );
    let downstream = app
        .client
        .get(url)
        .header("authorization", "Bearer SecretDownstreamBearer12")
        .header("cookie", "session=SecretDownstreamCookie13")
        .send()
        .await
        .expect("downstream call");
    assert_eq!(downstream.status(), 200);
    let mut headers = HeaderMap::new();
    headers.insert(
        "set-cookie",
        "session=SecretSetCookie14; HttpOnly".parse().unwrap(),
    );
    (headers, "logged in")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_sent_through_the_http_layers_reaches_the_collector() {
    let collector = Collector::start();
    // The layers' defaults (global provider and propagator) are what is tested.
    let (telemetry, _globals) = install_globally(&collector, "secrets").await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();
    let app = Router::new()
        .route("/login", get(login))
        .route("/files/{name}", get(|| async { "file" }))
        .with_state(App { client, port })
        .layer(ServerLayer::new());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let response = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{port}/login?token=SecretQueryToken1&\
             X-Amz-Signature=SecretAmzSignature2&sig=SecretSig3&\
             X-Amz-Credential=SecretAmzCredential4&page=2"
        ))
        .header("authorization", "Bearer SecretBearer5")
        .header("cookie", "session=SecretCookie6")
        .header("proxy-authorization", "Basic SecretProxyAuth7")
        .header("x-api-key", "SecretApiKey8")
        .header("baggage", "user.token=SecretBaggage9")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "logged in");
    server.abort();
    telemetry.shutdown().await.expect("shutdown");

    // server /login, client GET, server /files/{name}
    let spans = collector
        .wait_for_spans_async(3, Duration::from_secs(20))
        .await;
    let client_span = spans
        .iter()
        .find(|s| s.kind == 3)
        .unwrap_or_else(|| panic!("no client span in {spans:#?}"));
    let url = client_span.attr_str("url.full").expect("url.full recorded");
    assert!(url.contains("127.0.0.1") && url.contains("part=1"), "{url}");
    assert!(
        spans.iter().any(|s| s.kind == 2 && s.name == "GET /login"),
        "{spans:#?}"
    );

    let received = collector.received_text();
    let leaked: Vec<&str> = SECRETS
        .iter()
        .copied()
        .filter(|s| received.contains(s))
        .collect();
    assert!(
        leaked.is_empty(),
        "secrets reached the collector: {leaked:?}\n{received}"
    );
}

/// Credentials in NATS message headers and in the server URL never reach
/// the collector through otel-kit-messaging's producer and consumer spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_in_nats_headers_or_url_reaches_the_collector() {
    use futures_util::StreamExt as _;
    let nats_url =
        std::env::var("OTEL_TEST_NATS_URL").expect("OTEL_TEST_NATS_URL (set by scripts/test)");
    let collector = Collector::start();
    let telemetry = Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_SERVICE_NAME", "secrets-nats"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                collector.grpc_endpoint().as_str(),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_SAMPLER", "always_on"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]))
        .install_global(false)
        .strict(true)
        .install()
        .expect("setup");
    let instrumentation = otel_kit_messaging::Instrumentation::builder()
        .tracer_provider(telemetry.tracer_provider())
        .meter_provider(telemetry.meter_provider())
        .build();
    // The local server has no auth: it ignores the URL's userinfo.
    let with_userinfo = nats_url.replacen("nats://", "nats://bob:SecretNatsPass21@", 1);
    let client = async_nats::connect(with_userinfo.as_str())
        .await
        .expect("connect to NATS");
    let traced = otel_kit_messaging::nats::TracedClient::new(client, instrumentation);
    let subject = format!("secrets.{}", std::process::id());
    let mut sub = traced.subscribe(subject.clone()).await.expect("subscribe");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("authorization", "Bearer SecretNatsBearer22");
    headers.insert("cookie", "session=SecretNatsCookie23");
    headers.insert("x-api-key", "SecretNatsApiKey24");
    headers.insert("baggage", "user.token=SecretNatsBaggage25");
    traced
        .publish_with_headers(subject.clone(), headers, bytes::Bytes::from_static(b"hi"))
        .await
        .expect("publish");
    traced.client().flush().await.expect("flush");
    let delivered = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("message in time")
        .expect("a message");
    assert_eq!(&delivered.payload[..], b"hi");
    drop(delivered);
    telemetry.shutdown().await.expect("shutdown");
    let spans = collector
        .wait_for_spans_async(2, Duration::from_secs(20))
        .await;
    assert!(
        spans.iter().any(|s| s.kind == 4),
        "a producer span: {spans:#?}"
    );
    assert!(
        spans.iter().any(|s| s.kind == 5),
        "a consumer span: {spans:#?}"
    );
    let received = collector.received_text();
    for secret in [
        "SecretNatsPass21",
        "SecretNatsBearer22",
        "SecretNatsCookie23",
        "SecretNatsApiKey24",
        "SecretNatsBaggage25",
    ] {
        assert!(
            !received.contains(secret),
            "{secret} reached the collector:\n{received}"
        );
    }
}

/// otel-kit-http's tower `ClientLayer` (default options) over hyper-util's
/// client: a request with userinfo, signed-URL query keys and credential
/// headers to a server (under `ServerLayer`) answering with `Set-Cookie`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_through_the_hyper_util_client_layer_reaches_the_collector() {
    use http_body_util::{BodyExt as _, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use otel_kit_http::client::ClientLayer;
    use tower::{Layer as _, ServiceExt as _};

    const HYPER_SECRETS: &[&str] = &[
        "SecretHyperPass31",
        "SecretHyperSig32",
        "SecretHyperCred33",
        "SecretHyperToken34",
        "SecretHyperBearer35",
        "SecretHyperCookie36",
        "SecretHyperProxy37",
        "SecretHyperApiKey38",
        "SecretHyperBaggage39",
        "SecretHyperSetCookie40",
        "SecretHyperSession41",
    ];

    let collector = Collector::start();
    let (telemetry, _globals) = install_globally(&collector, "secrets-hyper").await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = Router::new()
        .route(
            "/download/{name}",
            get(|request_headers: HeaderMap| async move {
                // The credentials arrived (the layers only observe).
                assert_eq!(
                    request_headers["authorization"],
                    "Bearer SecretHyperBearer35"
                );
                assert_eq!(request_headers["cookie"], "session=SecretHyperCookie36");
                let mut headers = HeaderMap::new();
                headers.append(
                    "set-cookie",
                    "session=SecretHyperSetCookie40; Secure".parse().unwrap(),
                );
                headers.append(
                    "set-cookie",
                    "refresh=SecretHyperSession41; HttpOnly".parse().unwrap(),
                );
                (headers, "file")
            }),
        )
        .layer(ServerLayer::new());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = ClientLayer::new()
        .layer(Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>());
    let request = http::Request::get(format!(
        "http://carol:SecretHyperPass31@127.0.0.1:{port}/download/report.pdf?\
         X-Amz-Signature=SecretHyperSig32&X-Amz-Credential=SecretHyperCred33&\
         token=SecretHyperToken34&part=7"
    ))
    .header("authorization", "Bearer SecretHyperBearer35")
    .header("cookie", "session=SecretHyperCookie36")
    .header("proxy-authorization", "Basic SecretHyperProxy37")
    .header("x-api-key", "SecretHyperApiKey38")
    .header("baggage", "user.token=SecretHyperBaggage39")
    .body(Empty::new())
    .expect("request");
    let response = client.oneshot(request).await.expect("hyper-util request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get_all("set-cookie").iter().count(), 2);
    let body = response.into_body().collect().await.expect("body");
    assert_eq!(&body.to_bytes()[..], b"file");
    server.abort();
    telemetry.shutdown().await.expect("shutdown");

    // client GET, server /download/{name}
    let spans = collector
        .wait_for_spans_async(2, Duration::from_secs(20))
        .await;
    let client_span = spans
        .iter()
        .find(|s| s.kind == 3)
        .unwrap_or_else(|| panic!("no client span in {spans:#?}"));
    let url = client_span.attr_str("url.full").expect("url.full recorded");
    assert!(url.contains("127.0.0.1") && url.contains("part=7"), "{url}");
    assert!(spans.iter().any(|s| s.kind == 2), "{spans:#?}");
    assert_none_received(&collector, HYPER_SECRETS);
}

/// gRPC metadata carrying credentials through otel-kit-grpc's client and server
/// layers (default options; the client's target, with userinfo, is set so
/// spans carry `server.address`), with `set-cookie` in the response metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_in_grpc_metadata_reaches_the_collector() {
    use otel_examples::shop::proto::order_service_client::OrderServiceClient;
    use otel_examples::shop::proto::order_service_server::{OrderService, OrderServiceServer};
    use otel_examples::shop::proto::{PlaceOrderReply, PlaceOrderRequest};
    use otel_kit_grpc::{GrpcClientLayer, GrpcServerLayer};
    use tonic::metadata::{BinaryMetadataValue, MetadataValue};

    const GRPC_SECRETS: &[&str] = &[
        "SecretGrpcTargetPass50",
        "SecretGrpcBearer51",
        "SecretGrpcCookie52",
        "SecretGrpcApiKey53",
        "SecretGrpcProxy54",
        "SecretGrpcBaggage55",
        "SecretGrpcBinary56",
        "SecretGrpcSetCookie57",
        "SecretGrpcTrailerToken58",
    ];

    struct Orders;

    #[tonic::async_trait]
    impl OrderService for Orders {
        async fn place_order(
            &self,
            request: tonic::Request<PlaceOrderRequest>,
        ) -> Result<tonic::Response<PlaceOrderReply>, tonic::Status> {
            // The credentials arrived (the layers only observe).
            let md = request.metadata();
            assert_eq!(
                md.get("authorization").unwrap(),
                "Bearer SecretGrpcBearer51"
            );
            assert!(md.get_bin("x-credential-bin").is_some());
            let mut response = tonic::Response::new(PlaceOrderReply {
                order_id: "o-1".into(),
                status: "accepted".into(),
            });
            response.metadata_mut().insert(
                "set-cookie",
                MetadataValue::from_static("session=SecretGrpcSetCookie57; HttpOnly"),
            );
            response.metadata_mut().insert(
                "x-next-token",
                MetadataValue::from_static("SecretGrpcTrailerToken58"),
            );
            Ok(response)
        }
    }

    let collector = Collector::start();
    let (telemetry, _globals) = install_globally(&collector, "secrets-grpc").await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let incoming = tokio_stream_incoming(listener);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcServerLayer::new())
            .add_service(OrderServiceServer::new(Orders))
            .serve_with_incoming(incoming),
    );

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let layer = GrpcClientLayer::builder()
        .target(&format!("http://dave:SecretGrpcTargetPass50@{addr}"))
        .build();
    let mut client =
        OrderServiceClient::new(tower::ServiceBuilder::new().layer(layer).service(channel));
    let mut request = tonic::Request::new(PlaceOrderRequest {
        customer: "c-1".into(),
        item: "book".into(),
        quantity: 1,
        amount_cents: 100,
        card: "ok".into(),
    });
    let md = request.metadata_mut();
    md.insert(
        "authorization",
        MetadataValue::from_static("Bearer SecretGrpcBearer51"),
    );
    md.insert(
        "cookie",
        MetadataValue::from_static("session=SecretGrpcCookie52"),
    );
    md.insert(
        "x-api-key",
        MetadataValue::from_static("SecretGrpcApiKey53"),
    );
    md.insert(
        "proxy-authorization",
        MetadataValue::from_static("Basic SecretGrpcProxy54"),
    );
    md.insert(
        "baggage",
        MetadataValue::from_static("user.token=SecretGrpcBaggage55"),
    );
    md.insert_bin(
        "x-credential-bin",
        BinaryMetadataValue::from_bytes(b"SecretGrpcBinary56"),
    );
    let reply = client.place_order(request).await.expect("call");
    assert_eq!(
        reply.metadata().get("set-cookie").unwrap(),
        "session=SecretGrpcSetCookie57; HttpOnly"
    );
    assert_eq!(reply.into_inner().order_id, "o-1");
    drop(client);
    server.abort();
    telemetry.shutdown().await.expect("shutdown");

    let spans = collector
        .wait_for_spans_async(2, Duration::from_secs(20))
        .await;
    let client_span = spans
        .iter()
        .find(|s| s.kind == 3)
        .unwrap_or_else(|| panic!("no client span in {spans:#?}"));
    assert_eq!(client_span.attr_str("server.address"), Some("127.0.0.1"));
    let server_span = spans
        .iter()
        .find(|s| s.kind == 2)
        .unwrap_or_else(|| panic!("no server span in {spans:#?}"));
    assert_eq!(server_span.trace_id, client_span.trace_id, "one trace");
    assert_none_received(&collector, GRPC_SECRETS);
}

/// A `TcpListener` as the `incoming` stream tonic's server takes.
fn tokio_stream_incoming(
    listener: tokio::net::TcpListener,
) -> impl futures_util::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures_util::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}

/// Credentials in RabbitMQ message headers (long strings, a byte array, a
/// nested table) never reach the collector through otel-kit-messaging's
/// publish and process spans (default instrumentation options).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_in_amqp_headers_reaches_the_collector() {
    use futures_util::StreamExt as _;
    use otel_kit_messaging::rabbitmq::TracedChannel;
    use otel_kit_messaging::rabbitmq::lapin::options::{
        BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
    };
    use otel_kit_messaging::rabbitmq::lapin::types::{AMQPValue, FieldTable, LongString};
    use otel_kit_messaging::rabbitmq::lapin::{BasicProperties, Connection, ConnectionProperties};

    const AMQP_SECRETS: &[&str] = &[
        "SecretAmqpBearer61",
        "SecretAmqpCookie62",
        "SecretAmqpApiKey63",
        "SecretAmqpBaggage64",
        "SecretAmqpBytes65",
        "SecretAmqpNested66",
        "SecretAmqpProxy67",
        // The broker credentials of the connection URL.
        "guest:guest",
    ];

    let url =
        std::env::var("OTEL_TEST_AMQP_URL").expect("OTEL_TEST_AMQP_URL (set by scripts/test)");
    let collector = Collector::start();
    let (telemetry, _globals) = install_globally(&collector, "secrets-amqp").await;
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ at {url}: {e}"));
    let channel = connection.create_channel().await.expect("channel");
    let queue = format!("secrets.{}", std::process::id());
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare");
    let traced = TracedChannel::new(
        channel,
        otel_kit_messaging::Instrumentation::builder().build(),
    );
    let mut consumer = traced
        .basic_consume(
            queue.as_str().into(),
            "secrets-consumer".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");

    let long = |s: &str| AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()));
    let mut headers = FieldTable::default();
    headers.insert("authorization".into(), long("Bearer SecretAmqpBearer61"));
    headers.insert("cookie".into(), long("session=SecretAmqpCookie62"));
    headers.insert("x-api-key".into(), long("SecretAmqpApiKey63"));
    headers.insert("baggage".into(), long("user.token=SecretAmqpBaggage64"));
    headers.insert(
        "x-signature".into(),
        AMQPValue::ByteArray(b"SecretAmqpBytes65".to_vec().into()),
    );
    let mut nested = FieldTable::default();
    nested.insert("password".into(), long("SecretAmqpNested66"));
    headers.insert("x-auth".into(), AMQPValue::FieldTable(nested));
    headers.insert(
        "proxy-authorization".into(),
        long("Basic SecretAmqpProxy67"),
    );
    traced
        .basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            b"hi",
            BasicProperties::default().with_headers(headers),
        )
        .await
        .expect("publish");
    let delivered = tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .expect("delivery in time")
        .expect("consumer open")
        .expect("delivery");
    assert_eq!(delivered.data, b"hi");
    // The credentials travelled with the message (the layers only observe).
    let delivered_headers = delivered
        .properties
        .headers()
        .clone()
        .expect("headers delivered");
    assert_eq!(
        delivered_headers.inner().get("authorization"),
        Some(&long("Bearer SecretAmqpBearer61"))
    );
    assert!(delivered_headers.inner().contains_key("x-auth"));
    delivered.end();
    drop(consumer);
    let _ = connection.close(200, "done".into()).await;
    telemetry.shutdown().await.expect("shutdown");

    let spans = collector
        .wait_for_spans_async(2, Duration::from_secs(20))
        .await;
    assert!(
        spans.iter().any(|s| s.kind == 4),
        "a producer span: {spans:#?}"
    );
    assert!(
        spans.iter().any(|s| s.kind == 5),
        "a consumer span: {spans:#?}"
    );
    assert!(
        collector.received_text().contains(&queue),
        "destination recorded"
    );
    assert_none_received(&collector, AMQP_SECRETS);
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn otlp_headers_and_endpoint_credentials_never_appear_in_diagnostics_or_errors() {
    const OTLP_SECRETS: &[&str] = &[
        "SecretOtlpKey",
        "SecretOtlpBearer",
        "SecretEndpointPass",
        "SecretBadMember",
    ];
    for protocol in ["grpc", "http/protobuf"] {
        let endpoint = format!("http://user:SecretEndpointPass@127.0.0.1:{}", closed_port());
        let mut telemetry = Telemetry::builder()
            .environment(Environment::from_pairs([
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "x-api-key=SecretOtlpKey,authorization=Bearer%20SecretOtlpBearer,\
                     broken:SecretBadMember",
                ),
                // Invalid on purpose: a diagnostic naming the variable.
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "ftp://u:SecretEndpointPass@x",
                ),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
                ("OTEL_METRICS_EXPORTER", "none"),
                ("OTEL_LOGS_EXPORTER", "none"),
                ("OTEL_LOG_LEVEL", "none"),
            ]))
            .install_global(false)
            .install()
            .expect("setup (not strict: the bad values are diagnostics)");
        let report = telemetry.report().clone();
        assert!(!report.diagnostics().is_empty());
        let tracer = telemetry.tracer("t");
        tracer.start("lost").end();
        let flushed = telemetry.force_flush();
        let stats = telemetry.export_stats();
        assert!(
            stats.first_error.is_some(),
            "{protocol}: the export failed: {stats:?}"
        );
        let shutdown = telemetry.shutdown_blocking();
        let texts = [
            format!("{report}"),
            format!("{report:?}"),
            format!("{:?}", report.config()),
            format!("{}", report.config()),
            format!("{}", report.diagnostics()),
            format!("{telemetry:?}"),
            format!("{stats:?}"),
            format!("{flushed:?}"),
            format!("{shutdown:?}"),
            shutdown.err().map(|e| e.to_string()).unwrap_or_default(),
        ];
        for text in &texts {
            for secret in OTLP_SECRETS {
                assert!(
                    !text.contains(secret),
                    "{protocol}: {secret} leaked in:\n{text}"
                );
            }
        }
    }
}
