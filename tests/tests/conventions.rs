//! Keeps `docs/conventions.md` true.
//!
//! 1. The project registry (`semconv/model`, YAML): every attribute, metric,
//!    event and span name it defines is listed in `docs/conventions.md`,
//!    every `ref` resolves (here or, for upstream names, in the document),
//!    and no registry attribute is also a namespace of another name.
//! 2. Representative calls through the layers (HTTP server and client, a
//!    gRPC call, a saga with a compensation, a retry, a breaker transition,
//!    a two-phase commit, NATS publish / subscribe / request / reply against
//!    the NATS server at 127.0.0.1:4222, PostgreSQL queries and Redis
//!    commands against the servers at 5432 and 6379), recorded with the in-memory
//!    capture: every span name (as a pattern), attribute key, metric (name
//!    and unit) and event name captured is listed in the document.
//!
//! A name is "listed" when it is an inline code span (`` `name` ``) of the
//! document. Span names are turned into patterns by [`span_name_pattern`].

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::{TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_core::testing::{Capture, CapturedSpan, MetricKind, MetricView};
use otel_kit_grpc::{GrpcClientLayer, GrpcServerLayer};
use otel_kit_http::client::ClientLayer;
use otel_kit_http::server::ServerLayer;
use otel_kit_messaging::Instrumentation;
use otel_kit_messaging::nats::{TracedClient, async_nats};
use otel_kit_patterns::BoxError;
use otel_kit_patterns::breaker::CircuitBreaker;
use otel_kit_patterns::retry::{RetryDecision, RetryPolicy};
use otel_kit_patterns::saga::{Saga, Step, StepError};
use otel_kit_patterns::twopc::{Coordinator, Participant, TxOutcome};
use serde_norway::Value as Yaml;
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

/// The instrumentation scope of this test's own spans (not checked).
const TEST_SCOPE: &str = "conventions-test";

/// Bounded wait for a NATS delivery.
const DELIVERY_WAIT: Duration = Duration::from_secs(10);

/// Attributes whose value may make up a whole span-name token, most specific
/// first: the token becomes `{key}`.
const NAME_ATTRIBUTES: &[&str] = &[
    "http.request.method",
    "http.route",
    "url.template",
    "rpc.method",
    "messaging.operation.name",
    "messaging.destination.template",
    "messaging.destination.name",
    "saga.name",
    "saga.step.name",
    "tx.name",
    "tx.participant.name",
];

/// Attributes whose value may be a whole span name (database spans:
/// `SELECT users`, `BATCH GET`, `postgresql`).
const WHOLE_NAME_ATTRIBUTES: &[&str] = &["db.query.summary", "db.operation.name", "db.system.name"];

/// Attributes whose value may end a dotted span-name token (`tx.prepare` is
/// `tx.{tx.phase}`).
const NAME_SUFFIX_ATTRIBUTES: &[&str] = &["tx.phase"];

/// Template attributes: a captured key with one of these prefixes is listed
/// as `prefix<key>`.
const TEMPLATE_PREFIXES: &[&str] = &[
    "http.request.header.",
    "http.response.header.",
    "rpc.request.metadata.",
    "rpc.response.metadata.",
    "messaging.header.",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The document's text.
fn conventions_md() -> String {
    let path = root().join("docs/conventions.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every inline code span of `doc`.
fn listed(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .flat_map(|line| line.split('`').skip(1).step_by(2))
        .map(str::to_owned)
        .collect()
}

/// The unit the document gives a metric: the code span after the metric's
/// name and instrument on its table row (`| `name` | instrument | `unit` |`).
fn listed_unit<'a>(doc: &'a str, metric: &str) -> Option<&'a str> {
    let cell = format!("| `{metric}` |");
    let line = doc.lines().find(|l| l.starts_with(&cell))?;
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    cells
        .get(3)
        .map(|c| c.trim_matches('`'))
        .filter(|c| !c.is_empty())
}

// ------------------------------------------------------------------ the model

/// What the registry defines.
#[derive(Debug, Default)]
struct Model {
    /// Attribute ids, with whether each is a template.
    attributes: BTreeMap<String, bool>,
    /// Every `ref`, with the file it is in.
    refs: BTreeSet<(String, String)>,
    /// `metric_name` → unit.
    metrics: BTreeMap<String, String>,
    /// Event names.
    events: BTreeSet<String>,
    /// Span names (the `span_name` annotation).
    spans: BTreeSet<String>,
}

fn model_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            model_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

fn str_of<'a>(value: &'a Yaml, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Yaml::as_str)
}

fn load_model() -> Model {
    let dir = root().join("semconv/model");
    let mut files = Vec::new();
    model_files(&dir, &mut files);
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("manifest.yaml")),
        "semconv/model/manifest.yaml"
    );
    let mut model = Model::default();
    for file in files.iter().filter(|f| !f.ends_with("manifest.yaml")) {
        let text = std::fs::read_to_string(file).unwrap();
        let doc: Yaml = serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not YAML: {e}", file.display()));
        let name = file.strip_prefix(&dir).unwrap().display().to_string();
        let groups = doc
            .get("groups")
            .and_then(Yaml::as_sequence)
            .unwrap_or_else(|| panic!("{name}: no `groups:`"));
        for group in groups {
            let id = str_of(group, "id").unwrap_or_else(|| panic!("{name}: a group without id"));
            let kind = str_of(group, "type").unwrap_or_else(|| panic!("{name}: {id} has no type"));
            assert!(
                str_of(group, "brief").is_some(),
                "{name}: {id} has no brief"
            );
            for attr in group
                .get("attributes")
                .and_then(Yaml::as_sequence)
                .into_iter()
                .flatten()
            {
                if let Some(r) = str_of(attr, "ref") {
                    model.refs.insert((r.to_owned(), name.clone()));
                    continue;
                }
                let attr_id = str_of(attr, "id")
                    .unwrap_or_else(|| panic!("{name}: {id}: an attribute without id or ref"));
                assert_eq!(
                    str_of(attr, "stability"),
                    Some("development"),
                    "{name}: {attr_id}: stability"
                );
                assert!(
                    str_of(attr, "brief").is_some(),
                    "{name}: {attr_id}: no brief"
                );
                let template = str_of(attr, "type").is_some_and(|t| t.starts_with("template["));
                let previous = model.attributes.insert(attr_id.to_owned(), template);
                assert!(previous.is_none(), "{name}: {attr_id} defined twice");
            }
            match kind {
                "metric" => {
                    let metric = str_of(group, "metric_name")
                        .unwrap_or_else(|| panic!("{name}: {id}: no metric_name"));
                    assert_eq!(id, format!("metric.{metric}"), "{name}: metric group id");
                    assert!(
                        str_of(group, "instrument").is_some(),
                        "{name}: {id}: no instrument"
                    );
                    let unit =
                        str_of(group, "unit").unwrap_or_else(|| panic!("{name}: {id}: no unit"));
                    model.metrics.insert(metric.to_owned(), unit.to_owned());
                }
                "event" => {
                    let event =
                        str_of(group, "name").unwrap_or_else(|| panic!("{name}: {id}: no name"));
                    assert_eq!(id, format!("event.{event}"), "{name}: event group id");
                    model.events.insert(event.to_owned());
                }
                "span" => {
                    assert!(
                        str_of(group, "span_kind").is_some(),
                        "{name}: {id}: no span_kind"
                    );
                    let span_name = group
                        .get("annotations")
                        .and_then(|a| str_of(a, "span_name"))
                        .unwrap_or_else(|| panic!("{name}: {id}: no span_name annotation"));
                    model.spans.insert(span_name.to_owned());
                }
                "attribute_group" => {
                    assert!(
                        id.starts_with("registry."),
                        "{name}: {id}: registry group id"
                    )
                }
                other => panic!("{name}: {id}: unexpected type {other}"),
            }
        }
    }
    model
}

/// Names in `names` that are also the namespace of another name.
fn namespace_clashes<'a>(names: impl IntoIterator<Item = &'a str> + Clone) -> Vec<String> {
    let mut clashes = Vec::new();
    for a in names.clone() {
        let prefix = format!("{a}.");
        for b in names.clone() {
            if b.starts_with(&prefix) {
                clashes.push(format!("`{a}` is an attribute and the namespace of `{b}`"));
            }
        }
    }
    clashes
}

/// The registry is listed in the document, self-consistent, and follows the
/// attribute / namespace rule.
#[test]
fn model_is_listed_and_well_formed() {
    let doc = conventions_md();
    let listed = listed(&doc);
    let model = load_model();
    assert!(model.attributes.len() > 40, "{:?}", model.attributes);

    let mut missing = Vec::new();
    for (id, template) in &model.attributes {
        let shown = if *template {
            format!("{id}.<key>")
        } else {
            id.clone()
        };
        if !listed.contains(&shown) {
            missing.push(format!("attribute `{shown}`"));
        }
    }
    for event in &model.events {
        if !listed.contains(event) {
            missing.push(format!("event `{event}`"));
        }
    }
    for span in &model.spans {
        if !listed.contains(span) {
            missing.push(format!("span `{span}`"));
        }
    }
    for (metric, unit) in &model.metrics {
        match listed_unit(&doc, metric) {
            None => missing.push(format!("metric `{metric}` (a table row)")),
            Some(u) if u != unit => {
                missing.push(format!("metric `{metric}`: unit `{unit}`, document `{u}`"))
            }
            Some(_) => {}
        }
    }
    for (r, file) in &model.refs {
        if !model.attributes.contains_key(r) && !listed.contains(r) {
            missing.push(format!("{file}: ref `{r}` resolves nowhere"));
        }
    }
    assert!(
        missing.is_empty(),
        "semconv/model vs docs/conventions.md:\n{}",
        missing.join("\n")
    );

    let clashes = namespace_clashes(model.attributes.keys().map(String::as_str));
    assert!(clashes.is_empty(), "{}", clashes.join("\n"));
}

// ------------------------------------------------------------------ captured names

/// `name` as its documented pattern: a token equal to the value of one of
/// [`NAME_ATTRIBUTES`] on the span becomes `{key}`, a dotted token ending in
/// the value of one of [`NAME_SUFFIX_ATTRIBUTES`] gets `{key}` as that
/// ending, and `host:port` of `server.*` becomes
/// `{server.address}:{server.port}`.
fn span_name_pattern(span: &CapturedSpan) -> String {
    let value = |key: &str| span.attr(key).map(|v| v.as_str().into_owned());
    let server = match (value("server.address"), value("server.port")) {
        (Some(a), Some(p)) => Some(format!("{a}:{p}")),
        _ => None,
    };
    if let Some(key) = WHOLE_NAME_ATTRIBUTES
        .iter()
        .find(|k| value(k).as_deref() == Some(span.name()))
    {
        return format!("{{{key}}}");
    }
    span.name()
        .split(' ')
        .map(|token| {
            if let Some(key) = NAME_ATTRIBUTES
                .iter()
                .find(|k| value(k).as_deref() == Some(token))
            {
                return format!("{{{key}}}");
            }
            for key in NAME_SUFFIX_ATTRIBUTES {
                if let Some(v) = value(key)
                    && let Some(head) = token.strip_suffix(v.as_str())
                    && head.ends_with('.')
                {
                    return format!("{head}{{{key}}}");
                }
            }
            if server.as_deref() == Some(token) {
                return "{server.address}:{server.port}".to_owned();
            }
            token.to_owned()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `key` as the document lists it (templates as `prefix.<key>`).
fn listed_key(key: &str) -> String {
    match TEMPLATE_PREFIXES.iter().find(|p| key.starts_with(*p)) {
        Some(prefix) => format!("{prefix}<key>"),
        None => key.to_owned(),
    }
}

/// Every name the capture holds, by kind.
#[derive(Debug, Default)]
struct Captured {
    /// pattern → an example span name.
    spans: BTreeMap<String, String>,
    /// attribute key (as listed) → where it was seen.
    attributes: BTreeMap<String, String>,
    /// metric name → unit.
    metrics: BTreeMap<String, String>,
    /// event name → span it was on.
    events: BTreeMap<String, String>,
}

impl Captured {
    fn attribute(&mut self, key: &str, wher: impl FnOnce() -> String) {
        self.attributes.entry(listed_key(key)).or_insert_with(wher);
    }
}

fn metric_attribute_keys(metric: &MetricView) -> Vec<String> {
    let keys = |attrs: &[KeyValue]| -> Vec<String> {
        attrs.iter().map(|kv| kv.key.as_str().to_owned()).collect()
    };
    let all: Vec<Vec<KeyValue>> = match (metric.kind(), metric.value_type()) {
        (MetricKind::Histogram, _) => metric
            .histogram()
            .matching(&[])
            .map(|p| p.attributes.clone())
            .collect(),
        (MetricKind::Gauge, "i64") => metric
            .gauge_i64()
            .matching(&[])
            .map(|p| p.attributes.clone())
            .collect(),
        (MetricKind::Gauge, "u64") => metric
            .gauge_u64()
            .matching(&[])
            .map(|p| p.attributes.clone())
            .collect(),
        (MetricKind::Gauge, _) => metric
            .gauge_f64()
            .matching(&[])
            .map(|p| p.attributes.clone())
            .collect(),
        (_, "i64") => metric
            .sum_i64()
            .matching(&[])
            .map(|p| p.attributes.clone())
            .collect(),
        (_, "u64") => metric
            .sum_u64()
            .matching(&[])
            .map(|p| p.attributes.clone())
            .collect(),
        _ => metric
            .sum_f64()
            .matching(&[])
            .map(|p| p.attributes.clone())
            .collect(),
    };
    all.iter().flat_map(|a| keys(a)).collect()
}

fn collect(capture: &Capture) -> Captured {
    let mut out = Captured::default();
    for span in capture.spans() {
        // This test's own spans are not checked, but the events the
        // layers add to them (a breaker transition) are.
        let data = span.clone().into_inner();
        if data.instrumentation_scope.name() != TEST_SCOPE {
            out.spans
                .entry(span_name_pattern(&span))
                .or_insert_with(|| span.name().to_owned());
            for kv in span.attrs() {
                out.attribute(kv.key.as_str(), || format!("span `{}`", span.name()));
            }
        }
        for event in span.events() {
            out.events
                .entry(event.name.to_string())
                .or_insert_with(|| span.name().to_owned());
            for kv in &event.attributes {
                out.attribute(kv.key.as_str(), || format!("event `{}`", event.name));
            }
        }
        for link in span.links() {
            for kv in &link.attributes {
                out.attribute(kv.key.as_str(), || {
                    format!("a link of span `{}`", span.name())
                });
            }
        }
    }
    let metrics = capture.collect_metrics();
    for metric in metrics.metrics() {
        if metric.scope() == TEST_SCOPE {
            continue;
        }
        out.metrics
            .insert(metric.name().to_owned(), metric.unit().to_owned());
        for key in metric_attribute_keys(metric) {
            out.attribute(&key, || format!("metric `{}`", metric.name()));
        }
    }
    out
}

// ------------------------------------------------------------------ the calls

/// An HTTP request through the hyper-util client layer to an axum server
/// under the server layer.
async fn http_call(capture: &Capture) {
    let server = ServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .build();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = ClientLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .build()
        .layer(Client::builder(TokioExecutor::new()).build_http());
    let request = http::Request::get(format!("http://{addr}/users/7"))
        .header("user-agent", "conventions-test")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = client.oneshot(request).await.expect("GET /users/7");
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    capture.wait_for_spans(2).await;
}

/// A WebSocket (server and traced client: upgrade, a message each way, a
/// close) and a server-sent-events stream cut by a stream policy.
async fn ws_and_stream_calls(capture: &Capture) {
    use axum::extract::ws::Message;
    use otel_kit_http::client::UrlTemplate;
    use otel_kit_http::server::StreamPolicy;
    use otel_kit_http::ws::{TracedWebSocketUpgrade, WsInstrumentation};
    use tokio_tungstenite::tungstenite::Message as TMessage;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let ws = WsInstrumentation::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .build();
    let echo = get(|upgrade: TracedWebSocketUpgrade| async move {
        upgrade.on_upgrade(|mut socket| async move {
            while let Some(Ok(msg)) = socket.recv().await {
                if let Ok(text) = msg.into_message().into_text() {
                    let _ = socket.send(Message::Text(text)).await;
                }
            }
        })
    });
    let sse = get(|| async {
        let events = futures_util::stream::iter(0..5).map(|i| {
            Ok::<_, Infallible>(axum::response::sse::Event::default().data(i.to_string()))
        });
        axum::response::sse::Sse::new(events)
    });
    let app = Router::new()
        .route("/ws", echo)
        .route("/sse", sse)
        .layer(axum::Extension(ws.clone()))
        .layer(
            ServerLayer::builder()
                .tracer_provider(&capture.tracer_provider())
                .meter_provider(&capture.meter_provider())
                .propagator(TraceContextPropagator::new())
                .stream_policy(StreamPolicy::new().max_frames(2))
                .build(),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.extensions_mut().insert(UrlTemplate("/ws".into()));
    let (mut socket, _) = ws
        .connect_async(request)
        .await
        .expect("WebSocket handshake");
    socket.send(TMessage::text("hi")).await.unwrap();
    let reply = socket.recv().await.unwrap().unwrap();
    assert_eq!(reply.to_text().unwrap(), "hi");
    drop(reply);
    socket.send(TMessage::Close(None)).await.unwrap();
    while socket.recv().await.is_some() {}

    let mut response = reqwest::get(format!("http://{addr}/sse")).await.unwrap();
    while response.chunk().await.unwrap().is_some() {}
    capture.wait_for_span("stream /sse").await;
    let wait = std::time::Instant::now();
    while capture.spans_named("close /ws").len() < 2 && wait.elapsed() < DELIVERY_WAIT {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A gRPC call through the client and server layers around an in-process
/// handler (as otel-kit-grpc's crate example).
async fn grpc_call(capture: &Capture) {
    let server = GrpcServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .build();
    let client = GrpcClientLayer::builder()
        .target("http://orders.internal:50051")
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .build();
    let handler = service_fn(|_req: http::Request<tonic::body::Body>| async {
        let status = tonic::Status::not_found("no such order");
        Ok::<_, Infallible>(status.into_http::<tonic::body::Body>())
    });
    let stack = ServiceBuilder::new()
        .layer(client)
        .layer(server)
        .service(handler);
    let request = http::Request::post("/shop.Orders/GetOrder")
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = stack.oneshot(request).await.expect("gRPC call");
    assert_eq!(response.headers()["grpc-status"], "5");
}

/// A streamed gRPC response under `max_span_duration` (zero: cut at the
/// first message) with message events on: the call span is truncated and a
/// `stream {rpc.method}` span records the rest.
async fn grpc_stream_call(capture: &Capture) {
    use http_body::Frame;
    use http_body_util::StreamBody;

    let server = GrpcServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .max_span_duration(Duration::ZERO)
        .message_events(4)
        .build();
    let handler = service_fn(|_req: http::Request<tonic::body::Body>| async {
        let mut message = vec![0u8, 0, 0, 0, 2];
        message.extend_from_slice(b"hi");
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let frames = futures_util::stream::iter([
            Ok::<_, Infallible>(Frame::data(Bytes::from(message))),
            Ok(Frame::trailers(trailers)),
        ]);
        let response = http::Response::builder()
            .header("content-type", "application/grpc")
            .body(tonic::body::Body::new(StreamBody::new(frames)))
            .unwrap();
        Ok::<_, Infallible>(response)
    });
    let request = http::Request::post("/shop.Orders/WatchOrders")
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = server
        .layer(handler)
        .oneshot(request)
        .await
        .expect("gRPC stream");
    response.into_body().collect().await.unwrap();
}

struct Db(&'static str);

impl Participant for Db {
    fn name(&self) -> &str {
        self.0
    }
    fn prepare<'a>(&'a self, _tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async { Ok(()) })
    }
    fn commit<'a>(&'a self, _tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async { Ok(()) })
    }
    fn rollback<'a>(&'a self, _tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A saga that compensates, a retry that needs two attempts, a breaker
/// forced open (a transition and a rejected call), a two-phase commit.
async fn patterns(capture: &Capture) {
    let (tracer_provider, meter_provider) = (capture.tracer_provider(), capture.meter_provider());

    let saga = Saga::<u32>::builder("order")
        .step(
            Step::new("reserve_inventory", |_| async { Ok(()) })
                .compensate_with(|_| async { Ok(()) }),
        )
        .step(Step::new("charge_payment", |_| async {
            Err(StepError::new("declined", "over limit"))
        }))
        .tracer_provider(&tracer_provider)
        .meter_provider(&meter_provider)
        .build();
    assert_eq!(saga.run(500).await.unwrap().outcome.as_str(), "compensated");

    let tries = AtomicU32::new(0);
    let retry = RetryPolicy::builder("get-price")
        .initial_backoff(Duration::from_millis(1))
        .tracer_provider(&tracer_provider)
        .meter_provider(&meter_provider)
        .build();
    let price = retry
        .run(
            |_attempt| {
                let n = tries.fetch_add(1, Ordering::SeqCst);
                async move { if n == 0 { Err("busy") } else { Ok(42u32) } }
            },
            |r| {
                if r.is_err() {
                    RetryDecision::Retry
                } else {
                    RetryDecision::Stop
                }
            },
        )
        .await
        .unwrap();
    assert_eq!(price, 42);

    let breaker = CircuitBreaker::builder("pricing")
        .tracer_provider(&tracer_provider)
        .meter_provider(&meter_provider)
        .build();
    let tracer = capture.tracer(TEST_SCOPE);
    let cx = Context::current_with_span(tracer.start("breaker transition"));
    async {
        breaker.force_open();
        assert!(
            breaker
                .call(async { Ok::<u32, Infallible>(1) })
                .await
                .is_err()
        );
    }
    .with_context(cx.clone())
    .await;
    cx.span().end();

    let coordinator = Coordinator::builder("transfer")
        .participant(Arc::new(Db("accounts")))
        .participant(Arc::new(Db("ledger")))
        .tracer_provider(&tracer_provider)
        .meter_provider(&meter_provider)
        .build();
    assert_eq!(
        coordinator.run().await.unwrap().outcome,
        TxOutcome::Committed
    );
}

/// NATS publish / subscribe and request / reply against 127.0.0.1:4222.
async fn nats_calls(capture: &Capture) {
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("NATS at 127.0.0.1:4222");
    let instrumentation = Instrumentation::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .build();
    let traced = TracedClient::new(client, instrumentation);
    let subject = format!("conventions.{}.orders", std::process::id());

    let mut sub = traced.subscribe(subject.clone()).await.expect("subscribe");
    traced
        .publish(subject.clone(), Bytes::from_static(b"order"))
        .await
        .expect("publish");
    let delivered = tokio::time::timeout(DELIVERY_WAIT, sub.next())
        .await
        .expect("delivery in time")
        .expect("a message");
    drop(delivered);

    let service = format!("conventions.{}.price", std::process::id());
    let mut requests = traced.subscribe(service.clone()).await.expect("subscribe");
    let responder = traced.clone();
    tokio::spawn(async move {
        if let Some(request) = requests.next().await {
            responder
                .respond(&request, Bytes::from_static(b"42"))
                .await
                .expect("respond");
        }
    });
    let reply = tokio::time::timeout(
        DELIVERY_WAIT,
        traced.request(service, Bytes::from_static(b"price?")),
    )
    .await
    .expect("reply in time")
    .expect("reply");
    assert_eq!(&reply.payload[..], b"42");
    traced.client().flush().await.unwrap();
}

/// A PostgreSQL query, a failing one, a prepare and a transaction through
/// otel-kit-db's tokio-postgres client; a Redis command, pipeline and
/// failing command through its redis connection.
async fn db_calls(capture: &Capture) {
    let instrumentation = otel_kit_db::Instrumentation::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .build();
    let url = std::env::var("OTEL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let config: tokio_postgres::Config = url.parse().unwrap();
    let mut client =
        otel_kit_db::postgres::connect(&config, tokio_postgres::NoTls, &instrumentation)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
    let statement = client.prepare("SELECT $1::int").await.unwrap();
    client.query_one(&statement, &[&1i32]).await.unwrap();
    client.query("SELEC 1", &[]).await.unwrap_err();
    let tx = client.transaction().await.unwrap();
    tx.query("SELECT 1", &[]).await.unwrap();
    tx.rollback().await.unwrap();

    let url = std::env::var("OTEL_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let redis_client = redis::Client::open(url).unwrap();
    let mut conn =
        otel_kit_db::redis::TracedConnection::multiplexed(&redis_client, &instrumentation)
            .await
            .expect("Redis on 127.0.0.1:6379");
    let key = format!("otel-conventions:{}", std::process::id());
    let _: () = redis::pipe()
        .set(&key, "x")
        .ignore()
        .get(&key)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    let _ = redis::cmd("LPUSH")
        .arg(&key)
        .arg(1)
        .query_async::<i64>(&mut conn)
        .await
        .unwrap_err();
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Every name captured from the calls is listed in the document.
#[tokio::test]
async fn captured_names_are_listed() {
    let capture = Capture::new();
    http_call(&capture).await;
    ws_and_stream_calls(&capture).await;
    grpc_call(&capture).await;
    grpc_stream_call(&capture).await;
    patterns(&capture).await;
    nats_calls(&capture).await;
    db_calls(&capture).await;
    // The NATS process spans of the deliveries end on drop; give the
    // responder's span time to end.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let captured = collect(&capture);
    let doc = conventions_md();
    let listed = listed(&doc);

    // The calls covered what they should: a name from each area.
    for pattern in [
        "{http.request.method} {http.route}",
        "{http.request.method}",
        "receive {http.route}",
        "send {url.template}",
        "close {http.route}",
        "stream {http.route}",
        "{rpc.method}",
        "stream {rpc.method}",
        "saga {saga.name}",
        "saga.compensate {saga.step.name}",
        "retry.attempt",
        "circuit_breaker.rejected",
        "tx.{tx.phase} {tx.participant.name}",
        "{messaging.operation.name} {messaging.destination.name}",
        "{messaging.operation.name} {server.address}:{server.port}",
        "{db.query.summary}",
        "{db.operation.name}",
        "{db.system.name}",
    ] {
        assert!(
            captured.spans.contains_key(pattern),
            "no span `{pattern}` captured: {:#?}",
            captured.spans
        );
    }
    for event in [
        "retry.backoff",
        "circuit_breaker.state_change",
        "rpc.message",
    ] {
        assert!(captured.events.contains_key(event), "no event `{event}`");
    }

    let mut missing = Vec::new();
    for (pattern, example) in &captured.spans {
        if !listed.contains(pattern) {
            missing.push(format!("span name `{pattern}` (captured `{example}`)"));
        }
    }
    for (key, wher) in &captured.attributes {
        if !listed.contains(key) {
            missing.push(format!("attribute `{key}` (on {wher})"));
        }
    }
    for (event, span) in &captured.events {
        if !listed.contains(event) {
            missing.push(format!("event `{event}` (on span `{span}`)"));
        }
    }
    for (metric, unit) in &captured.metrics {
        match listed_unit(&doc, metric) {
            None => missing.push(format!("metric `{metric}`")),
            Some(u) if u != unit => {
                missing.push(format!("metric `{metric}`: unit `{unit}`, document `{u}`"))
            }
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty(),
        "captured but not listed in docs/conventions.md:\n{}",
        missing.join("\n")
    );

    let clashes = namespace_clashes(
        captured
            .attributes
            .keys()
            .filter(|k| !k.ends_with("<key>"))
            .map(String::as_str),
    );
    assert!(clashes.is_empty(), "{}", clashes.join("\n"));
}

// ------------------------------------------------------------------ setup metrics

/// Attribute keys of every data point of `data`.
fn point_keys<T>(
    data: &otel_kit_core::opentelemetry_sdk::metrics::data::MetricData<T>,
) -> Vec<String> {
    use otel_kit_core::opentelemetry_sdk::metrics::data::MetricData;
    let keys = |attrs: &mut dyn Iterator<Item = &KeyValue>| {
        attrs
            .map(|kv| kv.key.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    match data {
        MetricData::Gauge(g) => g
            .data_points()
            .flat_map(|p| keys(&mut p.attributes()))
            .collect(),
        MetricData::Sum(s) => s
            .data_points()
            .flat_map(|p| keys(&mut p.attributes()))
            .collect(),
        MetricData::Histogram(h) => h
            .data_points()
            .flat_map(|p| keys(&mut p.attributes()))
            .collect(),
        MetricData::ExponentialHistogram(e) => e
            .data_points()
            .flat_map(|p| keys(&mut p.attributes()))
            .collect(),
    }
}

/// The setup's own metrics (SDK metrics of a span, log and metric pipeline
/// whose collector is down, process and Tokio runtime metrics) are listed
/// with their units and attributes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_metrics_are_listed() {
    use otel_kit_core::opentelemetry_sdk::metrics::InMemoryMetricExporter;
    use otel_kit_core::opentelemetry_sdk::metrics::data::AggregatedMetrics;
    use otel_kit_core::runtime_metrics::RuntimeMetric;

    // Nothing listens there: exports fail, and are counted.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let exporter = InMemoryMetricExporter::default();
    let telemetry = otel_kit_core::Telemetry::builder()
        .environment(otel_kit_core::config::Environment::from_pairs([
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_LOGS_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "100"),
            ("OTEL_LOG_LEVEL", "none"),
        ]))
        .runtime_metrics(&[RuntimeMetric::Process, RuntimeMetric::Tokio])
        .with_metric_exporter(exporter.clone())
        .install_global(false)
        .install()
        .expect("setup");
    let tracer = telemetry.tracer(TEST_SCOPE);
    tracer.in_span("work", |_| {});
    let _ = telemetry.tracer_provider().force_flush();
    // Twice: the second collection counts the first's data points.
    telemetry.meter_provider().force_flush().unwrap();
    telemetry.meter_provider().force_flush().unwrap();
    let finished = exporter.get_finished_metrics().unwrap();
    let last = finished.last().expect("a collection");

    let doc = conventions_md();
    let listed = listed(&doc);
    let mut seen = BTreeSet::new();
    let mut missing = Vec::new();
    for scope in last.scope_metrics() {
        for metric in scope.metrics() {
            seen.insert(metric.name().to_owned());
            match listed_unit(&doc, metric.name()) {
                None => missing.push(format!("metric `{}`", metric.name())),
                Some(u) if u != metric.unit() => missing.push(format!(
                    "metric `{}`: unit `{}`, document `{u}`",
                    metric.name(),
                    metric.unit()
                )),
                Some(_) => {}
            }
            let keys = match metric.data() {
                AggregatedMetrics::F64(d) => point_keys(d),
                AggregatedMetrics::U64(d) => point_keys(d),
                AggregatedMetrics::I64(d) => point_keys(d),
            };
            for key in keys {
                if !listed.contains(&key) {
                    missing.push(format!("attribute `{key}` (metric `{}`)", metric.name()));
                }
            }
        }
    }
    for name in [
        "otel.sdk.span.started",
        "otel.sdk.processor.span.processed",
        "otel.sdk.exporter.span.exported",
        "otel.sdk.exporter.operation.duration",
        "otel.sdk.exporter.log.inflight",
        "otel.sdk.processor.log.processed",
        "otel.sdk.exporter.metric_data_point.exported",
        "tokio.worker.count",
        "tokio.worker.busy_time",
    ] {
        assert!(seen.contains(name), "no `{name}` collected: {seen:?}");
    }
    #[cfg(target_os = "linux")]
    assert!(seen.contains("process.cpu.time"), "{seen:?}");
    assert!(
        missing.is_empty(),
        "collected but not listed in docs/conventions.md:\n{}",
        missing.join("\n")
    );
    drop(telemetry);
}
