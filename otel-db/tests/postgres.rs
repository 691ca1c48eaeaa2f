//! The traced tokio-postgres client against the real PostgreSQL server
//! (`OTEL_TEST_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432/test).
#![cfg(feature = "tokio-postgres")]

use std::sync::atomic::{AtomicU32, Ordering};

use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::context::FutureExt as _;
use otel_kit_core::opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use otel_kit_core::testing::{Capture, assert_parent};
use otel_kit_db::postgres::{self, TracedClient};
use otel_kit_db::{Instrumentation, QueryText};

fn url() -> String {
    std::env::var("OTEL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn instrumentation(capture: &Capture) -> otel_kit_db::InstrumentationBuilder {
    Instrumentation::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
}

async fn client(capture: &Capture) -> TracedClient {
    let config: tokio_postgres::Config = url().parse().unwrap();
    postgres::connect(
        &config,
        tokio_postgres::NoTls,
        &instrumentation(capture).build(),
    )
    .await
    .expect("PostgreSQL on 127.0.0.1:5432 (scripts/test starts it)")
}

/// A table name no other test uses.
fn table(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "otel_db_{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[tokio::test]
async fn statements_are_client_spans_named_by_their_summary() {
    let capture = Capture::new();
    let client = client(&capture).await;
    let users = table("users");
    client
        .batch_execute(&format!(
            "CREATE TABLE {users} (id int PRIMARY KEY, name text)"
        ))
        .await
        .unwrap();
    let tracer = capture.tracer("test");
    let root = tracer.start("handle request");
    let cx = otel_kit_core::opentelemetry::Context::current_with_span(root);
    async {
        client
            .execute(
                &format!("INSERT INTO {users} (id, name) VALUES ($1, $2)"),
                &[&1i32, &"ann"],
            )
            .await
            .unwrap();
        let rows = client
            .query(
                &format!("SELECT name FROM {users} WHERE id = 1 AND name <> 'secret'"),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
    }
    .with_context(cx.clone())
    .await;
    cx.span().end();

    let root = capture.span("handle request");
    let insert = capture.span(&format!("INSERT {users}"));
    insert
        .assert_kind(SpanKind::Client)
        .assert_attr("db.system.name", "postgresql")
        .assert_attr("db.namespace", "test")
        .assert_attr("server.address", "127.0.0.1")
        .assert_attr("server.port", 5432i64)
        .assert_attr("db.query.summary", format!("INSERT {users}"))
        // Parameterized text is recorded as written.
        .assert_attr(
            "db.query.text",
            format!("INSERT INTO {users} (id, name) VALUES ($1, $2)"),
        )
        .assert_no_attr("db.operation.name")
        .assert_no_attr("error.type")
        .assert_not_error();
    assert_parent(&insert, &root);
    let select = capture.span(&format!("SELECT {users}"));
    // Text without parameters is recorded with its literals replaced.
    select.assert_attr(
        "db.query.text",
        format!("SELECT name FROM {users} WHERE id = ? AND name <> ?"),
    );
    assert_parent(&select, &root);
    capture.span(&format!("CREATE TABLE {users}")).assert_attr(
        "db.query.text",
        format!("CREATE TABLE {users} (id int PRIMARY KEY, name text)"),
    );

    let metrics = capture.collect_metrics();
    let duration = metrics.histogram("db.client.operation.duration");
    assert_eq!(metrics.metric("db.client.operation.duration").unit(), "s");
    duration.assert_count(
        &[
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("db.namespace", "test"),
            KeyValue::new("server.address", "127.0.0.1"),
            KeyValue::new("server.port", 5432i64),
            KeyValue::new("db.query.summary", format!("SELECT {users}")),
        ],
        1,
    );
    client
        .batch_execute(&format!("DROP TABLE {users}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn errors_carry_the_sqlstate() {
    let capture = Capture::new();
    let client = client(&capture).await;
    let t = table("unique");
    client
        .batch_execute(&format!("CREATE TABLE {t} (id int PRIMARY KEY)"))
        .await
        .unwrap();

    // Syntax error.
    let err = client.query("SELEC 1", &[]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::SYNTAX_ERROR)
    );
    let span = capture.span("postgresql");
    span.assert_error()
        .assert_attr("error.type", "42601")
        .assert_attr("db.response.status_code", "42601")
        .assert_event("exception");
    assert!(span.error_description().unwrap().contains("syntax error"));

    // Unique violation.
    let insert = format!("INSERT INTO {t} (id) VALUES ($1)");
    client.execute(&insert, &[&1i32]).await.unwrap();
    client.execute(&insert, &[&1i32]).await.unwrap_err();
    let spans = capture.spans_named(&format!("INSERT {t}"));
    assert_eq!(spans.len(), 2);
    spans[0]
        .assert_not_error()
        .assert_no_attr("db.response.status_code");
    spans[1]
        .assert_error()
        .assert_attr("error.type", "23505")
        .assert_attr("db.response.status_code", "23505");

    // Timeout (the server's statement_timeout).
    let tx_client = &client;
    tx_client
        .batch_execute("SET statement_timeout = 50")
        .await
        .unwrap();
    tx_client
        .query("SELECT pg_sleep(2)", &[])
        .await
        .unwrap_err();
    capture
        .span("SELECT")
        .assert_error()
        .assert_attr("error.type", "57014")
        .assert_attr("db.response.status_code", "57014");
    tx_client
        .batch_execute("RESET statement_timeout")
        .await
        .unwrap();

    // query_one without a row: tokio-postgres' own class.
    client
        .query_one(&format!("SELECT id FROM {t} WHERE id = $1"), &[&99i32])
        .await
        .unwrap_err();
    capture
        .span(&format!("SELECT {t}"))
        .assert_error()
        .assert_attr("error.type", "RowCount")
        .assert_no_attr("db.response.status_code");

    let metrics = capture.collect_metrics();
    metrics
        .histogram("db.client.operation.duration")
        .assert_count(
            &[
                KeyValue::new("db.query.summary", format!("INSERT {t}")),
                KeyValue::new("error.type", "23505"),
                KeyValue::new("db.response.status_code", "23505"),
            ],
            1,
        );
    client
        .batch_execute(&format!("DROP TABLE {t}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn connection_refused_fails_the_connect_span() {
    let capture = Capture::new();
    // Port 1 on loopback: nothing listens there.
    let config: tokio_postgres::Config = "postgres://postgres:hunter2@127.0.0.1:1/test"
        .parse()
        .unwrap();
    let err = postgres::connect(
        &config,
        tokio_postgres::NoTls,
        &instrumentation(&capture).build(),
    )
    .await
    .unwrap_err();
    assert!(err.as_db_error().is_none());
    let span = capture.span("connect");
    span.assert_kind(SpanKind::Client)
        .assert_error()
        .assert_attr("error.type", "ConnectionRefused")
        .assert_attr("db.operation.name", "connect")
        .assert_attr("server.port", 1i64)
        .assert_no_attr("db.response.status_code");
    // The password is nowhere.
    for kv in span.attrs() {
        assert!(!kv.value.as_str().contains("hunter2"), "{kv:?}");
    }
}

#[tokio::test]
async fn unknown_database_is_a_sqlstate_and_no_password_is_recorded() {
    let capture = Capture::new();
    let config: tokio_postgres::Config =
        "postgres://postgres:hunter2@127.0.0.1:5432/otel_db_no_such_database"
            .parse()
            .unwrap();
    postgres::connect(
        &config,
        tokio_postgres::NoTls,
        &instrumentation(&capture).build(),
    )
    .await
    .unwrap_err();
    let span = capture.span("connect");
    span.assert_attr("error.type", "3D000")
        .assert_attr("db.response.status_code", "3D000")
        .assert_attr("db.namespace", "otel_db_no_such_database");
    for s in capture.spans() {
        for kv in s.attrs() {
            assert!(!kv.value.as_str().contains("hunter2"), "{kv:?}");
        }
    }
}

#[tokio::test]
async fn transactions_and_prepared_statements() {
    let capture = Capture::new();
    let mut client = client(&capture).await;
    let t = table("tx");
    client
        .batch_execute(&format!("CREATE TABLE {t} (id int PRIMARY KEY)"))
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute(&format!("INSERT INTO {t} VALUES ($1)"), &[&1i32])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute(&format!("INSERT INTO {t} VALUES ($1)"), &[&2i32])
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    assert_eq!(capture.spans_named("BEGIN").len(), 2);
    capture
        .span("COMMIT")
        .assert_attr("db.query.summary", "COMMIT");
    capture.span("ROLLBACK").assert_not_error();
    assert_eq!(capture.spans_named(&format!("INSERT {t}")).len(), 2);

    let by_id = client
        .prepare(&format!("SELECT id FROM {t} WHERE id = $1"))
        .await
        .unwrap();
    capture
        .span("PREPARE")
        .assert_attr("db.operation.name", "PREPARE")
        .assert_attr("db.query.text", format!("SELECT id FROM {t} WHERE id = $1"));
    let row = client.query_one(&by_id, &[&1i32]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    assert!(client.query_opt(&by_id, &[&2i32]).await.unwrap().is_none());
    assert_eq!(capture.spans_named(&format!("SELECT {t}")).len(), 2);

    // A syntax error at prepare time shows on the PREPARE span.
    client.prepare("SELEKT 1").await.unwrap_err();
    let failed = capture
        .find(|s| s.name() == "PREPARE" && s.is_error())
        .unwrap();
    failed.assert_attr("error.type", "42601");

    // Pipelined: two calls polled together, two spans.
    let (a, b) = futures_util::join!(
        client.query(&by_id, &[&1i32]),
        client.query("SELECT 2", &[])
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(capture.spans_named(&format!("SELECT {t}")).len(), 3);
    client
        .batch_execute(&format!("DROP TABLE {t}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_dropped_call_ends_as_cancelled() {
    let capture = Capture::new();
    let client = client(&capture).await;
    let slow = client.query("SELECT pg_sleep(5)", &[]);
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(50), slow).await;
    assert!(timed_out.is_err());
    capture
        .span("SELECT")
        .assert_error()
        .assert_attr("error.type", "cancelled");
}

#[tokio::test]
async fn sql_commenter_puts_the_traceparent_in_the_statement() {
    let capture = Capture::new();
    let config: tokio_postgres::Config = url().parse().unwrap();
    let inst = instrumentation(&capture).sql_commenter(true).build();
    let client = postgres::connect(&config, tokio_postgres::NoTls, &inst)
        .await
        .unwrap();
    let row = client
        .query_one("SELECT current_query()", &[])
        .await
        .unwrap();
    let seen: String = row.get(0);
    let span = capture.span("SELECT");
    let sc = span.into_inner().span_context;
    assert_eq!(
        seen,
        format!(
            "SELECT current_query() /*traceparent='00-{}-{}-01'*/",
            sc.trace_id(),
            sc.span_id()
        )
    );
    // The recorded text is the caller's, without the comment.
    capture
        .span("SELECT")
        .assert_attr("db.query.text", "SELECT current_query()");

    // Off by default.
    let plain = client_with(&capture, QueryText::Off).await;
    let row = plain
        .query_one("SELECT current_query()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "SELECT current_query()");
    assert!(
        capture
            .spans_named("SELECT")
            .iter()
            .any(|s| !s.has_attr("db.query.text"))
    );
}

async fn client_with(capture: &Capture, text: QueryText) -> TracedClient {
    let config: tokio_postgres::Config = url().parse().unwrap();
    let inst = instrumentation(capture).query_text(text).build();
    postgres::connect(&config, tokio_postgres::NoTls, &inst)
        .await
        .unwrap()
}

#[cfg(feature = "deadpool-postgres")]
#[tokio::test]
async fn deadpool_connections_are_traced() {
    use deadpool_postgres::{Manager, Pool};
    let capture = Capture::new();
    let config: tokio_postgres::Config = url().parse().unwrap();
    let target = postgres::target_of(&config);
    let pool = Pool::builder(Manager::new(config, tokio_postgres::NoTls))
        .max_size(2)
        .build()
        .unwrap();
    let pool = postgres::TracedPool::new(pool, target, instrumentation(&capture).build());
    let mut client = pool.get().await.unwrap();
    client.query_one("SELECT 1", &[]).await.unwrap();
    let tx = client.transaction().await.unwrap();
    tx.query("SELECT 2", &[]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(capture.spans_named("SELECT").len(), 2);
    capture
        .span("BEGIN")
        .assert_attr("db.system.name", "postgresql");
    capture.span("COMMIT").assert_attr("server.port", 5432i64);
}

#[tokio::test]
async fn copy_in_and_out_are_one_span_each() {
    use futures_util::{SinkExt as _, StreamExt as _};
    let capture = Capture::new();
    let client = client(&capture).await;
    let t = table("copy");
    client
        .batch_execute(&format!("CREATE TABLE {t} (id int, name text)"))
        .await
        .unwrap();
    let mut sink = client
        .copy_in::<bytes::Bytes>(&format!("COPY {t} (id, name) FROM STDIN"))
        .await
        .unwrap();
    sink.send(bytes::Bytes::from_static(b"1\tann\n2\tbob\n"))
        .await
        .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);
    let copy_in = capture.span(&format!("COPY {t}"));
    copy_in.assert_kind(SpanKind::Client).assert_not_error();

    let mut out = Vec::new();
    let mut stream = client
        .copy_out(&format!("COPY {t} TO STDOUT"))
        .await
        .unwrap();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    drop(stream);
    assert_eq!(out, b"1\tann\n2\tbob\n");
    assert_eq!(capture.spans_named(&format!("COPY {t}")).len(), 2);

    // Bad data fails the span with the server's SQLSTATE (22P02, invalid input).
    let mut sink = client
        .copy_in::<bytes::Bytes>(&format!("COPY {t} (id, name) FROM STDIN"))
        .await
        .unwrap();
    sink.send(bytes::Bytes::from_static(b"not-a-number\tx\n"))
        .await
        .unwrap();
    sink.finish().await.unwrap_err();
    capture
        .find(|s| s.name() == format!("COPY {t}") && s.is_error())
        .unwrap()
        .assert_attr("error.type", "22P02");
    client
        .batch_execute(&format!("DROP TABLE {t}"))
        .await
        .unwrap();
}
