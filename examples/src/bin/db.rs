//! Database calls in a trace: inside one server-like root span, creates a
//! table, inserts and selects users through the traced tokio-postgres
//! client (one statement in a transaction), runs one failing query, and
//! caches a user in Redis with a pipeline. With no exporter configured the
//! trace prints as a tree; every `OTEL_*` variable is honoured.
//!
//! ```text
//! cargo run -p otel-examples --bin db
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379 \
//!     cargo run -p otel-examples --bin db
//! ```

use otel_kit_core::opentelemetry::context::FutureExt as _;
use otel_kit_core::opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Context, KeyValue, global};
use otel_kit_db::Instrumentation;
use otel_kit_db::postgres;
use otel_kit_db::redis::TracedConnection;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = otel_kit_core::Telemetry::builder()
        .service_name("db-example")
        .console_when_unconfigured(true)
        .install()?;
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());

    // One instrumentation for every client: the global providers `install` set.
    let instrumentation = Instrumentation::default();
    let config: tokio_postgres::Config = database_url.parse()?;
    let redis_client = redis::Client::open(redis_url)?;

    let tracer = global::tracer("db-example");
    let root = tracer
        .span_builder("POST /users")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.route", "/users"),
        ])
        .start(&tracer);
    let cx = Context::current_with_span(root);
    let result = handle(&config, &redis_client, &instrumentation)
        .with_context(cx.clone())
        .await;
    cx.span().end();
    telemetry.shutdown().await?;
    result
}

/// What a request handler does with the database and the cache.
async fn handle(
    config: &tokio_postgres::Config,
    redis_client: &redis::Client,
    instrumentation: &Instrumentation,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut db = postgres::connect(config, tokio_postgres::NoTls, instrumentation).await?;
    db.batch_execute(
        "CREATE TABLE IF NOT EXISTS example_users (id int PRIMARY KEY, name text NOT NULL)",
    )
    .await?;
    let tx = db.transaction().await?;
    tx.execute(
        "INSERT INTO example_users (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
        &[&1i32, &"Ada"],
    )
    .await?;
    tx.commit().await?;
    let row = db
        .query_one("SELECT id, name FROM example_users WHERE id = $1", &[&1i32])
        .await?;
    let (id, name): (i32, String) = (row.get(0), row.get(1));
    println!("user {id}: {name}");

    // A failing query: its span carries the SQLSTATE (42P01, undefined table).
    if let Err(e) = db.query("SELECT * FROM no_such_table", &[]).await {
        println!(
            "expected failure: {}",
            e.as_db_error().map_or("?", |d| d.message())
        );
    }

    // Cache the user: one pipeline span (`BATCH`, db.operation.batch.size 2).
    let mut cache = TracedConnection::multiplexed(redis_client, instrumentation).await?;
    let key = format!("user:{id}");
    let _: () = redis::pipe()
        .set(&key, &name)
        .ignore()
        .expire(&key, 60)
        .ignore()
        .query_async(&mut cache)
        .await?;
    let cached: String = redis::cmd("GET").arg(&key).query_async(&mut cache).await?;
    println!("cached: {cached}");
    Ok(())
}
