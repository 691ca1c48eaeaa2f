//! The saga's PostgreSQL log written through otel-kit-db's traced client:
//! every log write is a CLIENT span (`db.system.name` `postgresql`), a
//! child of the step, compensation or saga span it records. Against the
//! PostgreSQL on 127.0.0.1:5432 (`OTEL_TEST_POSTGRES_URL` overrides it).

use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::testing::{Capture, CapturedSpan, assert_parent};
use otel_kit_db::{Instrumentation, postgres};
use otel_kit_patterns::log::{PostgresLog, SagaLog};
use otel_kit_patterns::saga::{Saga, SagaOutcome, Step, StepError};
use std::sync::Arc;

fn url() -> String {
    std::env::var("OTEL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The database spans whose parent is `parent`, checked to be CLIENT
/// PostgreSQL spans, as `(span name, its first word: the operation)`.
fn db_children(capture: &Capture, parent: &CapturedSpan) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for span in capture.find_all(|s| s.has_attr("db.system.name")) {
        if span.parent_span_id() != parent.span_id() {
            continue;
        }
        assert_parent(&span, parent);
        span.assert_kind(SpanKind::Client)
            .assert_attr("db.system.name", "postgresql")
            .assert_not_error();
        let op = span.name().split(' ').next().unwrap_or_default().to_owned();
        out.push((span.name().to_owned(), op));
    }
    out
}

#[tokio::test]
async fn saga_steps_show_their_log_writes_as_client_span_children() {
    let capture = Capture::new();
    let instrumentation = Instrumentation::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .build();
    let config: tokio_postgres::Config = url().parse().unwrap();
    let client = postgres::connect(&config, tokio_postgres::NoTls, &instrumentation)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (scripts/test starts it)");
    let schema = format!("otel_saga_traced_{}", uuid::Uuid::new_v4().simple());
    // No glue: the traced client is the log's client.
    let log = Arc::new(
        PostgresLog::with_client(Arc::new(client), &schema)
            .await
            .unwrap(),
    );
    capture.clear(); // the tables' DDL

    let saga = Saga::<u32>::builder("order")
        .step(Step::new("reserve", |_| async { Ok(()) }).compensate_with(|_| async { Ok(()) }))
        .step(Step::new("charge", |_| async {
            Err(StepError::new("card_declined", "amount over limit"))
        }))
        .log(log.clone())
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .build();
    let report = saga.run(420).await.unwrap();
    assert!(
        matches!(report.outcome, SagaOutcome::Compensated { .. }),
        "{:?}",
        report.outcome
    );

    let entries = |(name, op): &(String, String)| {
        op == "INSERT" && name.starts_with("INSERT ") && name.ends_with(".entries")
    };
    // Each step: its entry written `started`, then `done` / `failed`.
    for step in ["saga.step reserve", "saga.step charge"] {
        let writes = db_children(&capture, &capture.span(step));
        assert_eq!(writes.len(), 2, "{step}: {writes:?}\n{}", capture.tree());
        assert!(writes.iter().all(entries), "{step}: {writes:?}");
    }
    // The compensation: `compensating`, then `compensated`.
    let writes = db_children(&capture, &capture.span("saga.compensate reserve"));
    assert_eq!(writes.len(), 2, "{writes:?}\n{}", capture.tree());
    assert!(writes.iter().all(entries), "{writes:?}");
    // The saga: the instance created (one INSERT), then its status
    // `compensating` and `compensated` (UPDATE records).
    let writes = db_children(&capture, &capture.span("saga order"));
    let ops: Vec<&str> = writes.iter().map(|(_, op)| op.as_str()).collect();
    assert_eq!(
        ops,
        ["INSERT", "UPDATE", "UPDATE"],
        "{writes:?}\n{}",
        capture.tree()
    );
    assert!(
        writes[1..]
            .iter()
            .all(|(name, _)| name.starts_with("UPDATE ") && name.ends_with(".records")),
        "{writes:?}"
    );
    // No log write escaped its saga: every database span is in the tree.
    let strays = capture.find_all(|s| s.has_attr("db.system.name") && s.is_root());
    assert!(strays.is_empty(), "{}", capture.tree());

    // The log still reads back what it wrote.
    let (record, entries) = log.get(&report.id).await.unwrap().unwrap();
    assert_eq!(record.status, "compensated");
    assert_eq!(entries.len(), 2);
    log.drop_schema().await.unwrap();
}
