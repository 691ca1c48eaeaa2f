//! No secret reaches the collector, the logs or the diagnostics with
//! default options.
//!
//! End to end over HTTP: a client sends a request carrying credentials in
//! every usual place (signed-URL query keys, `Authorization`, `Cookie`,
//! `Proxy-Authorization`, an API-key header, baggage) to an axum service
//! traced by otel-http's server layer; the handler calls another route with
//! otel-http's traced reqwest client using a URL with userinfo and signed
//! query keys plus `Authorization` and `Cookie`, and answers with
//! `Set-Cookie`. Everything is exported to rotel, and the raw JSON it
//! received is searched for every secret value.
//!
//! OTLP exporter headers (API keys) and endpoint credentials: never in the
//! setup report (`Display`/`Debug`), the configuration's `Debug`, the export
//! error, or a shutdown error.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use otel_core::Telemetry;
use otel_core::config::Environment;
use otel_core::opentelemetry::trace::{Span as _, Tracer as _};
use otel_http::client::TracingMiddleware;
use otel_http::server::ServerLayer;
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
    // The only test in this file installing globals: the layers' defaults
    // (global provider and propagator) are what is tested.
    let telemetry = Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_SERVICE_NAME", "secrets"),
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
/// the collector through otel-messaging's producer and consumer spans.
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
    let instrumentation = otel_messaging::Instrumentation::builder()
        .tracer_provider(telemetry.tracer_provider())
        .meter_provider(telemetry.meter_provider())
        .build();
    // The local server has no auth: it ignores the URL's userinfo.
    let with_userinfo = nats_url.replacen("nats://", "nats://bob:SecretNatsPass21@", 1);
    let client = async_nats::connect(with_userinfo.as_str())
        .await
        .expect("connect to NATS");
    let traced = otel_messaging::nats::TracedClient::new(client, instrumentation);
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
