//! The traced sqlx pool against the real PostgreSQL (`OTEL_TEST_POSTGRES_URL`)
//! and MariaDB (`OTEL_TEST_MARIADB_URL`, default mysql://root@127.0.0.1:3306/test)
//! servers.
#![cfg(all(feature = "sqlx-postgres", feature = "sqlx-mysql"))]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use otel_kit_core::opentelemetry::context::FutureExt as _;
use otel_kit_core::opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::testing::{Capture, assert_parent};
use otel_kit_db::Instrumentation;
use otel_kit_db::sqlx::TracedPool;
use sqlx::Row;

fn pg_url() -> String {
    std::env::var("OTEL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn maria_url() -> String {
    std::env::var("OTEL_TEST_MARIADB_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

fn instrumentation(capture: &Capture) -> Instrumentation {
    Instrumentation::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .build()
}

fn table(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "otel_db_sqlx_{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[tokio::test]
async fn postgres_queries_transactions_and_errors() {
    let capture = Capture::new();
    let pool = sqlx::PgPool::connect(&pg_url()).await.unwrap();
    let pool = TracedPool::new(pool, &instrumentation(&capture));
    let t = table("pg");
    sqlx::query(&format!("CREATE TABLE {t} (id int PRIMARY KEY, name text)"))
        .execute(&pool)
        .await
        .unwrap();

    let root = capture.tracer("test").start("request");
    let cx = Context::current_with_span(root);
    async {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query(&format!("INSERT INTO {t} (id, name) VALUES ($1, $2)"))
            .bind(1)
            .bind("ann")
            .execute(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let rows = sqlx::query(&format!("SELECT name FROM {t} WHERE id = $1"))
            .bind(1)
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(rows[0].get::<String, _>(0), "ann");
        let one: (i32,) = sqlx::query_as(&format!("SELECT id FROM {t} WHERE name = 'ann'"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(one.0, 1);
    }
    .with_context(cx.clone())
    .await;
    cx.span().end();

    let root = capture.span("request");
    for name in ["BEGIN", "COMMIT", &format!("INSERT {t}")] {
        let span = capture.span(name);
        span.assert_kind(SpanKind::Client)
            .assert_attr("db.system.name", "postgresql")
            .assert_attr("db.namespace", "test")
            .assert_attr("server.address", "127.0.0.1")
            .assert_attr("server.port", 5432i64);
        assert_parent(&span, &root);
    }
    let selects = capture.spans_named(&format!("SELECT {t}"));
    assert_eq!(selects.len(), 2);
    selects[0].assert_attr(
        "db.query.text",
        format!("SELECT name FROM {t} WHERE id = $1"),
    );
    selects[1].assert_attr(
        "db.query.text",
        format!("SELECT id FROM {t} WHERE name = ?"),
    );

    // Unique violation, syntax error, no row.
    let insert = format!("INSERT INTO {t} (id, name) VALUES ($1, $2)");
    sqlx::query(&insert)
        .bind(1)
        .bind("bob")
        .execute(&pool)
        .await
        .unwrap_err();
    capture
        .find(|s| s.name() == format!("INSERT {t}") && s.is_error())
        .unwrap()
        .assert_attr("error.type", "23505")
        .assert_attr("db.response.status_code", "23505");
    sqlx::query("SELEC 1").execute(&pool).await.unwrap_err();
    capture
        .span("postgresql")
        .assert_error()
        .assert_attr("error.type", "42601")
        .assert_attr("db.response.status_code", "42601");
    sqlx::query(&format!("SELECT id FROM {t} WHERE id = $1"))
        .bind(42)
        .fetch_one(&pool)
        .await
        .unwrap_err();
    // fetch_one is fetch_optional underneath: the query itself succeeded.
    assert!(
        capture
            .find(|s| s.name() == format!("SELECT {t}") && s.is_error())
            .is_none()
    );

    let metrics = capture.collect_metrics();
    metrics
        .histogram("db.client.operation.duration")
        .assert_count(
            &[
                KeyValue::new("db.system.name", "postgresql"),
                KeyValue::new("db.query.summary", format!("SELECT {t}")),
            ],
            3,
        );
    sqlx::query(&format!("DROP TABLE {t}"))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn mariadb_queries_and_errors() {
    let capture = Capture::new();
    let pool = sqlx::MySqlPool::connect(&maria_url())
        .await
        .expect("MariaDB on 127.0.0.1:3306 (scripts/test starts it)");
    let pool = TracedPool::new(pool, &instrumentation(&capture))
        .detect_mariadb()
        .await
        .unwrap();
    assert_eq!(pool.system(), otel_kit_db::DbSystem::MariaDb);
    let t = table("maria");
    sqlx::query(&format!("CREATE TABLE {t} (id int PRIMARY KEY, name text)"))
        .execute(&pool)
        .await
        .unwrap();
    let insert = format!("INSERT INTO {t} (id, name) VALUES (?, ?)");
    sqlx::query(&insert)
        .bind(1)
        .bind("ann")
        .execute(&pool)
        .await
        .unwrap();
    let name: (String,) = sqlx::query_as(&format!("SELECT name FROM `{t}` WHERE id = ?"))
        .bind(1)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name.0, "ann");
    capture
        .span(&format!("SELECT `{t}`"))
        .assert_attr("db.system.name", "mariadb")
        .assert_attr("db.namespace", "test")
        .assert_attr("server.port", 3306i64)
        .assert_attr(
            "db.query.text",
            format!("SELECT name FROM `{t}` WHERE id = ?"),
        );

    // Duplicate key: MariaDB's error number.
    sqlx::query(&insert)
        .bind(1)
        .bind("bob")
        .execute(&pool)
        .await
        .unwrap_err();
    capture
        .find(|s| s.name() == format!("INSERT {t}") && s.is_error())
        .unwrap()
        .assert_attr("error.type", "1062")
        .assert_attr("db.response.status_code", "1062");
    // Syntax error.
    sqlx::query("SELEC 1").execute(&pool).await.unwrap_err();
    capture
        .span("mariadb")
        .assert_error()
        .assert_attr("error.type", "1064")
        .assert_attr("db.response.status_code", "1064");
    // A rolled back transaction.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(&insert)
        .bind(2)
        .bind("cy")
        .execute(&mut tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let count: (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {t}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count.0, 1);
    assert_eq!(capture.spans_named(&format!("INSERT {t}")).len(), 3);
    capture
        .span("ROLLBACK")
        .assert_attr("db.system.name", "mariadb");
    sqlx::query(&format!("DROP TABLE {t}"))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refused_connection_fails_the_query_span() {
    let capture = Capture::new();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://postgres:hunter2@127.0.0.1:1/test")
        .unwrap();
    let pool = TracedPool::new(pool, &instrumentation(&capture));
    sqlx::query("SELECT 1").execute(&pool).await.unwrap_err();
    let span = capture.span("SELECT");
    span.assert_error()
        .assert_attr("error.type", "PoolTimedOut")
        .assert_attr("server.port", 1i64)
        .assert_no_attr("db.response.status_code");
    for kv in span.attrs() {
        assert!(!kv.value.as_str().contains("hunter2"), "{kv:?}");
    }
}

#[tokio::test]
async fn a_stream_dropped_after_a_row_is_not_a_failure() {
    use futures_util::StreamExt as _;
    let capture = Capture::new();
    let pool = sqlx::PgPool::connect(&pg_url()).await.unwrap();
    let pool = TracedPool::new(pool, &instrumentation(&capture));
    {
        let mut rows = sqlx::query("SELECT generate_series(1, 100)").fetch(&pool);
        assert!(rows.next().await.unwrap().is_ok());
    }
    capture.span("SELECT").assert_not_error();
    // Dropped before anything came out: cancelled.
    drop(sqlx::query("SELECT 2").fetch(&pool));
    capture
        .find(|s| s.name() == "SELECT" && s.is_error())
        .unwrap()
        .assert_attr("error.type", "cancelled");
}
