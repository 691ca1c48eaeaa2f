//! The traced Redis connection against the real Redis server
//! (`OTEL_TEST_REDIS_URL`, default redis://127.0.0.1:6379).
#![cfg(feature = "redis")]

use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::testing::Capture;
use otel_kit_db::Instrumentation;
use otel_kit_db::redis::TracedConnection;
use redis::AsyncCommands;

fn url() -> String {
    std::env::var("OTEL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn instrumentation(capture: &Capture) -> Instrumentation {
    Instrumentation::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .build()
}

fn key(name: &str) -> String {
    format!("otel-db:{}:{name}", std::process::id())
}

#[tokio::test]
async fn commands_are_client_spans_named_by_the_command() {
    let capture = Capture::new();
    let client = redis::Client::open(url()).unwrap();
    let mut conn = TracedConnection::multiplexed(&client, &instrumentation(&capture))
        .await
        .expect("Redis on 127.0.0.1:6379 (scripts/test starts it)");
    let k = key("cmd");
    let _: () = conn.set_ex(&k, "secret-value", 60).await.unwrap();
    let got: String = conn.get(&k).await.unwrap();
    assert_eq!(got, "secret-value");

    capture.span("connect").assert_not_error();
    let get = capture.span("GET");
    get.assert_kind(SpanKind::Client)
        .assert_attr("db.system.name", "redis")
        .assert_attr("db.namespace", "0")
        .assert_attr("db.operation.name", "GET")
        .assert_attr("server.address", "127.0.0.1")
        .assert_attr("server.port", 6379i64)
        .assert_attr("db.query.text", "GET ?")
        .assert_no_attr("db.query.summary")
        .assert_not_error();
    capture
        .span("SETEX")
        .assert_attr("db.query.text", "SETEX ? ? ?");
    for span in capture.spans() {
        for kv in span.attrs() {
            assert!(!kv.value.as_str().contains("secret-value"), "{kv:?}");
        }
    }
    let metrics = capture.collect_metrics();
    metrics
        .histogram("db.client.operation.duration")
        .assert_count(
            &[
                KeyValue::new("db.system.name", "redis"),
                KeyValue::new("db.operation.name", "GET"),
                KeyValue::new("db.namespace", "0"),
            ],
            1,
        );
    let _: () = conn.del(&k).await.unwrap();
}

#[tokio::test]
async fn pipelines_are_one_span_with_the_batch_size() {
    let capture = Capture::new();
    let client = redis::Client::open(url()).unwrap();
    let mut conn = TracedConnection::manager(&client, &instrumentation(&capture))
        .await
        .unwrap();
    let (a, b) = (key("p1"), key("p2"));
    let _: () = redis::pipe()
        .set(&a, 1)
        .ignore()
        .set(&b, 2)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    let (x, y): (i64, i64) = redis::pipe()
        .atomic()
        .get(&a)
        .get(&b)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!((x, y), (1, 2));
    let _: () = redis::pipe()
        .get(&a)
        .ignore()
        .del(&[&a, &b])
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();

    capture
        .span("BATCH SET")
        .assert_attr("db.operation.batch.size", 2i64)
        .assert_attr("db.query.text", "SET ? ?");
    capture
        .span("BATCH GET")
        .assert_attr("db.operation.batch.size", 2i64)
        .assert_attr("db.operation.name", "BATCH GET");
    capture
        .span("BATCH")
        .assert_attr("db.operation.batch.size", 2i64)
        .assert_attr("db.query.text", "GET ?; DEL ? ?");
}

#[tokio::test]
async fn wrongtype_is_the_status_code() {
    let capture = Capture::new();
    let client = redis::Client::open(url()).unwrap();
    let mut conn = TracedConnection::multiplexed(&client, &instrumentation(&capture))
        .await
        .unwrap();
    let k = key("wrongtype");
    let _: () = conn.set(&k, "a string").await.unwrap();
    let err = conn.lpush::<_, _, i64>(&k, 1).await.unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"));
    capture
        .span("LPUSH")
        .assert_error()
        .assert_attr("error.type", "WRONGTYPE")
        .assert_attr("db.response.status_code", "WRONGTYPE")
        .assert_event("exception");
    // An unknown command: the server's ERR.
    let _ = redis::cmd("NOSUCHCOMMAND")
        .query_async::<()>(&mut conn)
        .await
        .unwrap_err();
    capture
        .span("NOSUCHCOMMAND")
        .assert_attr("error.type", "ERR")
        .assert_attr("db.response.status_code", "ERR");
    let metrics = capture.collect_metrics();
    metrics
        .histogram("db.client.operation.duration")
        .assert_count(
            &[
                KeyValue::new("db.operation.name", "LPUSH"),
                KeyValue::new("error.type", "WRONGTYPE"),
                KeyValue::new("db.response.status_code", "WRONGTYPE"),
            ],
            1,
        );
    let _: () = conn.del(&k).await.unwrap();
}

#[tokio::test]
async fn connection_refused_fails_the_connect_span() {
    let capture = Capture::new();
    let client = redis::Client::open("redis://:hunter2@127.0.0.1:1/3").unwrap();
    TracedConnection::multiplexed(&client, &instrumentation(&capture))
        .await
        .unwrap_err();
    let span = capture.span("connect");
    span.assert_error()
        .assert_attr("error.type", "ConnectionRefused")
        .assert_attr("db.namespace", "3")
        .assert_no_attr("db.response.status_code");
    for kv in span.attrs() {
        assert!(!kv.value.as_str().contains("hunter2"), "{kv:?}");
    }
}

#[tokio::test]
async fn a_failed_command_in_a_pipeline_fails_its_span() {
    let capture = Capture::new();
    let client = redis::Client::open(url()).unwrap();
    let mut conn = TracedConnection::multiplexed(&client, &instrumentation(&capture))
        .await
        .unwrap();
    let k = key("pipe-wrongtype");
    let _: () = conn.set(&k, "a string").await.unwrap();
    let result: redis::RedisResult<(i64, String)> = redis::pipe()
        .lpush(&k, 1)
        .get(&k)
        .query_async(&mut conn)
        .await;
    assert!(result.is_err());
    capture
        .span("BATCH")
        .assert_error()
        .assert_attr("error.type", "WRONGTYPE")
        .assert_attr("db.operation.batch.size", 2i64);
    let _: () = conn.del(&k).await.unwrap();
}

#[tokio::test]
async fn a_response_timeout_fails_the_span_as_timeout() {
    let capture = Capture::new();
    let client = redis::Client::open(url()).unwrap();
    // A multiplexed connection with a short response timeout, wrapped: the
    // server holds `BLPOP` on an empty list for longer than the client waits.
    let mut raw = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis on 127.0.0.1:6379 (scripts/test starts it)");
    raw.set_response_timeout(std::time::Duration::from_millis(100));
    let mut conn = TracedConnection::new(
        raw,
        otel_kit_db::redis::target_of(client.get_connection_info()),
        instrumentation(&capture),
    );
    let k = key("timeout-empty-list");
    let err = redis::cmd("BLPOP")
        .arg(&k)
        .arg(2)
        .query_async::<Option<(String, String)>>(&mut conn)
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    capture
        .span("BLPOP")
        .assert_kind(SpanKind::Client)
        .assert_error()
        .assert_attr("error.type", "timeout")
        .assert_no_attr("db.response.status_code")
        .assert_attr("db.operation.name", "BLPOP")
        .assert_event("exception");
    let metrics = capture.collect_metrics();
    metrics
        .histogram("db.client.operation.duration")
        .assert_count(
            &[
                KeyValue::new("db.operation.name", "BLPOP"),
                KeyValue::new("error.type", "timeout"),
            ],
            1,
        );
}
