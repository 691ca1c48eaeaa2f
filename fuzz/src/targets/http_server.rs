//! The otel-kit-http server layer driven directly as a tower service with a
//! request built from fuzz input (method, path and any header set): no
//! panic, the request always reaches the inner service with its headers
//! unchanged, and the inner service's response comes back.

use std::cell::RefCell;
use std::convert::Infallible;
use std::sync::LazyLock;

use super::header_map;
use http::{Request, Response, StatusCode};
use otel_kit_core::testing::Capture;
use otel_kit_http::server::ServerLayer;
use tower::{Layer, Service, ServiceExt};

static CAPTURE: LazyLock<Capture> = LazyLock::new(Capture::new);
static LAYER: LazyLock<ServerLayer> = LazyLock::new(|| {
    ServerLayer::builder()
        .tracer_provider(&CAPTURE.tracer_provider())
        .meter_provider(&CAPTURE.meter_provider())
        .capture_request_headers(["x-request-id", "user-agent"])
        .trace_response(true)
        .build()
});

thread_local! {
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread().build().expect("runtime"),
    );
}

/// The `http_server` fuzz target's body (`fuzz_targets/http_server.rs`, replayed over
/// `seeds/http_server/` by the workspace test `tests/tests/fuzz_seeds.rs`).
pub fn http_server(data: &[u8]) {
    // First line: `METHOD PATH`; the rest: headers.
    let (first, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    let mut words = first.splitn(2, |&b| b == b' ');
    let method =
        http::Method::from_bytes(words.next().unwrap_or_default()).unwrap_or(http::Method::GET);
    let uri = http::Uri::try_from(words.next().unwrap_or(b"/"))
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    let headers = header_map(rest);
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(String::new())
        .expect("request");
    *request.headers_mut() = headers.clone();

    let expected = headers.clone();
    let mut service = LAYER.layer(tower::service_fn(move |req: Request<String>| {
        let expected = expected.clone();
        async move {
            // Everything the client sent arrives (the layer may only add).
            for (name, value) in &expected {
                assert!(
                    req.headers().get_all(name).iter().any(|v| v == value),
                    "{name:?} lost"
                );
            }
            Ok::<_, Infallible>(
                Response::builder()
                    .status(StatusCode::IM_A_TEAPOT)
                    .body(String::from("inner"))
                    .expect("response"),
            )
        }
    }));
    let response = RUNTIME.with(|rt| {
        rt.borrow()
            .block_on(async { service.ready().await.expect("ready").call(request).await })
    });
    let response = response.expect("infallible");
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    drop(response);
    CAPTURE.clear();
}
