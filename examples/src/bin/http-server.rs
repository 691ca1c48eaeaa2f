//! An axum service traced with `otel-kit-http`: every request is a SERVER span
//! named from its route, `/chain/{id}` calls another service with the traced
//! reqwest client so the trace continues across the hop. `/users/{id}` calls
//! `load_user`, marked with `tracing`'s `#[instrument]` as most services
//! already mark their functions: through otel-kit-core's `tracing` bridge it is an
//! INTERNAL span inside the request's SERVER span, and its `tracing::info!`
//! is a log record carrying the trace and span ids.
//!
//! ```text
//! cargo run -p otel-examples --bin http-server
//! curl localhost:3000/users/7
//! curl localhost:3000/chain/7      # server -> client -> server, one trace
//! curl localhost:3000/stream       # the span lasts as long as the body
//! curl localhost:3000/panic        # 500, the span records the panic
//! curl -N localhost:3000/sse       # 10 events; the span ends at 500 ms (stream policy)
//! websocat ws://localhost:3000/ws  # echoes upper-cased, one span per message
//! ```
//!
//! `/ws` is a WebSocket (`otel_kit_http::ws`): the upgrade is the SERVER
//! span `GET /ws`, ended at `101`; each received text message is a
//! `receive /ws` span in which the handler calls `${DOWNSTREAM_URL}/users/{n}`
//! (n = the message's number) with the traced client, so the call is its
//! child, then echoes the text upper-cased (a `send /ws` span, its child
//! too); the close is
//! a `close /ws` span. `/sse` streams 10 server-sent events 100 ms apart;
//! the layer's stream policy ends the request span at 500 ms (marked
//! `stream.truncated`) and a `stream /sse` span records the rest.
//!
//! `LISTEN_ADDR` (default `127.0.0.1:3000`), `DOWNSTREAM_URL` (default: this
//! server) and every `OTEL_*` variable are honoured. Without an exporter it
//! prints each trace as a tree.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::Message;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use otel_kit_core::instrument::not;
use otel_kit_core::tracing_bridge::TracingOptions;
use otel_kit_http::client::TracingMiddleware;
use otel_kit_http::filter::health_check;
use otel_kit_http::server::{ServerLayer, StreamPolicy};
use otel_kit_http::ws::TracedWebSocketUpgrade;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

#[derive(Clone)]
struct AppState {
    client: ClientWithMiddleware,
    downstream: String,
}

async fn user(Path(id): Path<u32>) -> impl IntoResponse {
    let name = load_user(id).await;
    (
        [("content-type", "application/json")],
        format!("{{\"id\":{id},\"name\":\"{name}\"}}"),
    )
}

/// A stand-in for a database lookup. `#[instrument]` makes it a span, child
/// of the SERVER span of the request that called it; the event becomes an
/// OpenTelemetry log record in that span.
#[tracing::instrument]
async fn load_user(id: u32) -> String {
    let name = format!("user-{id}");
    tracing::info!(user.name = %name, "user loaded");
    name
}

async fn stream() -> Body {
    let chunks = futures::stream::unfold(0u32, |i| async move {
        if i == 5 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
        Some((
            Ok::<_, std::io::Error>(Bytes::from(format!("chunk {i}\n"))),
            i + 1,
        ))
    });
    Body::from_stream(chunks)
}

/// 10 server-sent events, 100 ms apart.
async fn sse() -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let events = futures::stream::unfold(0u32, |i| async move {
        if i == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok(Event::default().data(format!("event {i}"))), i + 1))
    });
    Sse::new(events)
}

/// Echoes each text message upper-cased, after one traced call downstream
/// made inside the message's span.
async fn ws(ws: TracedWebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.on_upgrade(move |mut socket| async move {
        let mut n = 0u32;
        while let Some(Ok(msg)) = socket.recv().await {
            let Message::Text(_) = &*msg else {
                continue;
            };
            n += 1;
            // Both run inside the message's `receive /ws` span: the
            // downstream call and the `send /ws` span are its children.
            let reply = msg
                .in_span(async {
                    let url = format!("{}/users/{n}", state.downstream.trim_end_matches('/'));
                    if let Err(e) = state.client.get(url).send().await {
                        eprintln!("downstream call failed: {e}");
                    }
                    msg.to_text().map(str::to_uppercase).unwrap_or_default()
                })
                .await;
            if msg
                .in_span(socket.send(Message::text(reply)))
                .await
                .is_err()
            {
                break;
            }
        }
    })
}

async fn chain(State(state): State<AppState>, Path(id): Path<u32>) -> impl IntoResponse {
    let url = format!("{}/users/{id}", state.downstream.trim_end_matches('/'));
    match state.client.get(url).send().await {
        Ok(resp) => {
            let status =
                StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, resp.text().await.unwrap_or_default())
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("downstream failed: {e}")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = otel_kit_core::Telemetry::builder()
        .service_name("http-server")
        .console_when_unconfigured(true)
        // `tracing` spans and events join the traces (feature `tracing`).
        .with_tracing(TracingOptions::default())
        .install()?;

    let addr: SocketAddr = std::env::var("LISTEN_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;
    let downstream = std::env::var("DOWNSTREAM_URL").unwrap_or_else(|_| format!("http://{addr}"));
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();

    let app = Router::new()
        .route("/users/{id}", get(user))
        .route("/health", get(|| async { "ok" }))
        .route(
            "/error",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "failed") }),
        )
        .route(
            "/panic",
            get(|| async {
                if std::env::var_os("NEVER_SET_THIS").is_none() {
                    panic!("the handler panicked");
                }
                "unreachable"
            }),
        )
        .route("/stream", get(stream))
        .route("/chain/{id}", get(chain))
        .route("/sse", get(sse))
        .route("/ws", get(ws))
        .with_state(AppState { client, downstream })
        // Router::layer: routing has run, so spans are named from the route.
        .layer(
            ServerLayer::builder()
                .filter(not(health_check()))
                // A stream's span ends within 500 ms; a summary span
                // records the rest (the default: as long as the body).
                .stream_policy(StreamPolicy::new().max_duration(Duration::from_millis(500)))
                .build(),
        );

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    // SIGTERM (Kubernetes, systemd, docker stop) or Ctrl-C: stop taking
    // requests, finish the ones in flight, then flush the telemetry.
    .with_graceful_shutdown(otel_kit_core::shutdown_signal())
    .await?;
    telemetry.shutdown().await?;
    Ok(())
}
