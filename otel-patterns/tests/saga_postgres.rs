//! The crash test: a saga process killed with SIGKILL in the middle of a
//! step, then `recover()` in a fresh process finishes the compensation from
//! the PostgreSQL log with nothing lost or run twice.
#![cfg(feature = "postgres")]

use otel_kit_core::testing::Capture;
use otel_kit_patterns::log::{LogEntry, LogRecord, PostgresLog, SagaLog, from_traceparent};
use otel_kit_patterns::saga::barrier::{Barrier, BarrierResult};
use otel_kit_patterns::saga::{Saga, SagaOutcome, Step, StepError};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const CHILD_ENV: &str = "OTEL_PATTERNS_CRASH_CHILD_SCHEMA";

fn url() -> String {
    std::env::var("OTEL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn schema() -> String {
    format!("otel_patterns_{}", uuid::Uuid::new_v4().simple())
}

/// The order saga; every action and compensation appends to `effects`.
fn saga(log: Arc<PostgresLog>, c: &Capture, hang_in_reserve: bool) -> Saga<String> {
    let effect = |log: Arc<PostgresLog>, what: &'static str, hang: bool| {
        move |cx: otel_kit_patterns::saga::StepContext<String>| {
            let log = log.clone();
            async move {
                let sql = format!(
                    "INSERT INTO \"{}\".effects (saga_id, what) VALUES ($1, $2)",
                    log.schema()
                );
                log.client()
                    .execute(&sql, &[&cx.saga_id.as_ref(), &what])
                    .await
                    .map_err(|e| StepError::new("db", e.to_string()))?;
                if hang {
                    // Simulates a long step: the parent kills us here.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok(())
            }
        }
    };
    Saga::builder("order")
        .step(
            Step::new(
                "create_order",
                effect(log.clone(), "do create_order", false),
            )
            .compensate_with(effect(log.clone(), "undo create_order", false)),
        )
        .step(
            Step::new(
                "reserve_inventory",
                effect(log.clone(), "do reserve_inventory", hang_in_reserve),
            )
            .compensate_with(effect(log.clone(), "undo reserve_inventory", false)),
        )
        .step(
            Step::new(
                "charge_payment",
                effect(log.clone(), "do charge_payment", false),
            )
            .compensate_with(effect(log.clone(), "undo charge_payment", false)),
        )
        .log(log)
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build()
}

/// Child mode: runs one saga that hangs in `reserve_inventory`. A no-op
/// when the variable is not set (normal test runs).
#[tokio::test]
async fn crash_child() {
    let Ok(schema) = std::env::var(CHILD_ENV) else {
        return;
    };
    let log = Arc::new(PostgresLog::connect(&url(), &schema).await.unwrap());
    let c = Capture::new();
    let saga = saga(log, &c, true);
    let _ = saga.run_with_id("crash-1", "order-42".to_owned()).await;
    unreachable!("the parent kills this process during reserve_inventory");
}

async fn effects(log: &PostgresLog) -> Vec<String> {
    log.client()
        .query(
            &format!("SELECT what FROM \"{}\".effects ORDER BY seq", log.schema()),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn sigkill_mid_step_then_recover_compensates_exactly_once() {
    let schema = schema();
    let log = Arc::new(PostgresLog::connect(&url(), &schema).await.unwrap());
    log.client()
        .batch_execute(&format!(
            "CREATE TABLE \"{schema}\".effects (seq bigserial PRIMARY KEY, saga_id text, what text)"
        ))
        .await
        .unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &schema)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the child is inside reserve_inventory.
    let mut waited = 0;
    while !effects(&log)
        .await
        .iter()
        .any(|e| e == "do reserve_inventory")
    {
        assert!(waited < 300, "child never reached the step");
        assert!(child.try_wait().unwrap().is_none(), "child exited early");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());

    let (rec, entries) = log.get("crash-1").await.unwrap().unwrap();
    assert_eq!(rec.status, "running");
    assert_eq!(entries[0].state, "done");
    assert_eq!(entries[1].state, "started");
    assert_eq!(entries[2].state, "pending");
    let original_root = from_traceparent(rec.span.unwrap());
    let original_step = from_traceparent(entries[1].span.unwrap());

    // "Restart": a fresh definition over the same log.
    let c = Capture::new();
    let restarted = saga(log.clone(), &c, false);
    let reports = restarted.recover().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].recovered);
    assert_eq!(
        reports[0].outcome,
        SagaOutcome::Compensated {
            failed_step: "reserve_inventory".into(),
            error_type: "process_restart".into()
        }
    );
    assert_eq!(
        effects(&log).await,
        [
            "do create_order",
            "do reserve_inventory",
            "undo reserve_inventory",
            "undo create_order"
        ]
    );
    let (rec, entries) = log.get("crash-1").await.unwrap().unwrap();
    assert_eq!(rec.status, "compensated");
    assert_eq!(entries[0].state, "compensated");
    assert_eq!(entries[1].state, "compensated");
    assert_eq!(entries[2].state, "pending");

    // The recovered trace links to the original one.
    let root = c.span("saga order");
    root.assert_attr("saga.recovered", true)
        .assert_attr("saga.id", "crash-1");
    assert!(
        root.links()
            .iter()
            .any(|l| l.span_context.span_id() == original_root.span_id())
    );
    let comp = c.span("saga.compensate reserve_inventory");
    assert!(
        comp.links()
            .iter()
            .any(|l| l.span_context.span_id() == original_step.span_id()
                && l.span_context.trace_id() == original_step.trace_id())
    );

    // A second restart finds nothing to do and runs nothing again.
    assert!(restarted.recover().await.unwrap().is_empty());
    assert_eq!(effects(&log).await.len(), 4);
    log.drop_schema().await.unwrap();
}

#[tokio::test]
async fn postgres_log_and_barrier_round_trip() {
    let schema = schema();
    let log = Arc::new(PostgresLog::connect(&url(), &schema).await.unwrap());
    let c = Capture::new();
    // A normal failing run over PostgreSQL.
    log.client()
        .batch_execute(&format!(
            "CREATE TABLE \"{schema}\".effects (seq bigserial PRIMARY KEY, saga_id text, what text)"
        ))
        .await
        .unwrap();
    let s = saga(log.clone(), &c, false);
    let r = s.run("o".to_owned()).await.unwrap();
    assert_eq!(r.outcome, SagaOutcome::Completed);
    assert_eq!(log.get(&r.id).await.unwrap().unwrap().0.status, "completed");
    assert!(PostgresLog::connect(&url(), "bad-name;").await.is_err());

    let barrier = Barrier::new(PostgresLog::clone(&log));
    let ok = || async { Ok::<_, ()>(()) };
    assert_eq!(
        barrier.action("g", "b", ok()).await.unwrap(),
        BarrierResult::Ran
    );
    assert_eq!(
        barrier.action("g", "b", ok()).await.unwrap(),
        BarrierResult::Duplicate
    );
    assert_eq!(
        barrier.compensation("h", "b", ok()).await.unwrap(),
        BarrierResult::NullCompensation
    );
    assert_eq!(
        barrier.action("h", "b", ok()).await.unwrap(),
        BarrierResult::Hanging
    );
    assert!(
        barrier
            .compensation("g", "b", async { Err::<(), _>(()) })
            .await
            .is_err()
    );
    assert_eq!(
        barrier.compensation("g", "b", ok()).await.unwrap(),
        BarrierResult::Ran
    );
    log.drop_schema().await.unwrap();
}

/// Two processes' worth of `recover()` (two connections, two saga
/// definitions over one log schema) at once: every instance is compensated
/// by exactly one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_recoveries_compensate_each_instance_once() {
    let schema = schema();
    let log_a = Arc::new(PostgresLog::connect(&url(), &schema).await.unwrap());
    let log_b = Arc::new(PostgresLog::connect(&url(), &schema).await.unwrap());
    log_a
        .client()
        .batch_execute(&format!(
            "CREATE TABLE \"{schema}\".effects (seq bigserial PRIMARY KEY, saga_id text, what text)"
        ))
        .await
        .unwrap();
    const N: usize = 6;
    for i in 0..N {
        let rec = LogRecord {
            id: format!("s{i}"),
            kind: "saga".into(),
            name: "order".into(),
            payload: "\"o\"".into(),
            status: "running".into(),
            span: None,
        };
        let entry = |index: u32, name: &str, state: &'static str| LogEntry {
            index,
            name: name.into(),
            state: state.into(),
            span: None,
            error: None,
        };
        log_a
            .create(
                &rec,
                &[
                    entry(0, "create_order", "done"),
                    entry(1, "reserve_inventory", "started"),
                    entry(2, "charge_payment", "pending"),
                ],
            )
            .await
            .unwrap();
    }
    let c = Capture::new();
    let (sa, sb) = (
        saga(log_a.clone(), &c, false),
        saga(log_b.clone(), &c, false),
    );
    let (ra, rb) = tokio::join!(
        tokio::spawn(async move { sa.recover().await }),
        tokio::spawn(async move { sb.recover().await })
    );
    let (ra, rb) = (ra.unwrap().unwrap(), rb.unwrap().unwrap());
    assert_eq!(ra.len() + rb.len(), N, "{ra:?} {rb:?}");
    let rows = log_a
        .client()
        .query(
            &format!(
                "SELECT saga_id, what, count(*) FROM \"{schema}\".effects GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2 * N, "two compensations per instance");
    for r in &rows {
        assert_eq!(
            r.get::<_, i64>(2),
            1,
            "{} {} ran more than once",
            r.get::<_, String>(0),
            r.get::<_, String>(1)
        );
    }
    for i in 0..N {
        let (rec, _) = log_a.get(&format!("s{i}")).await.unwrap().unwrap();
        assert_eq!(rec.status, "compensated");
    }
    log_a.drop_schema().await.unwrap();
}

mod twopc_pg {
    use super::*;
    use futures_util::future::BoxFuture;
    use otel_kit_patterns::BoxError;
    use otel_kit_patterns::twopc::{Coordinator, Participant, TxOutcome};
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Flaky {
        commit_failures: AtomicU32,
        commits: AtomicU32,
    }
    impl Participant for Flaky {
        fn name(&self) -> &str {
            "ledger"
        }
        fn prepare<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
        fn commit<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
            Box::pin(async move {
                if self
                    .commit_failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    return Err(StepError::new("unavailable", "down").into());
                }
                self.commits.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        }
        fn rollback<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn decision_is_durable_and_a_restarted_coordinator_commits() {
        let schema = schema();
        let p = Arc::new(Flaky {
            commit_failures: AtomicU32::new(1),
            commits: AtomicU32::new(0),
        });
        let c = Capture::new();
        let log = Arc::new(PostgresLog::connect(&url(), &schema).await.unwrap());
        let first = Coordinator::builder("transfer")
            .participant(p.clone())
            .phase_two_attempts(1)
            .log(log.clone())
            .tracer_provider(&c.tracer_provider())
            .meter_provider(&c.meter_provider())
            .build();
        let r = first.run_with_id("tx-pg").await.unwrap();
        assert_eq!(r.outcome, TxOutcome::InDoubt);
        let (rec, entries) = log.get("tx-pg").await.unwrap().unwrap();
        assert_eq!(
            (&*rec.status, &*entries[0].state),
            ("committing", "prepared")
        );
        drop(first);
        // A new process: new connection, same tables.
        let log2 = Arc::new(PostgresLog::connect(&url(), &schema).await.unwrap());
        let second = Coordinator::builder("transfer")
            .participant(p.clone())
            .log(log2.clone())
            .tracer_provider(&c.tracer_provider())
            .meter_provider(&c.meter_provider())
            .build();
        let r = second.recover().await.unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].outcome, TxOutcome::Committed);
        assert_eq!(p.commits.load(Ordering::SeqCst), 1);
        assert_eq!(
            log2.get("tx-pg").await.unwrap().unwrap().0.status,
            "committed"
        );
        assert!(second.recover().await.unwrap().is_empty());
        log2.drop_schema().await.unwrap();
    }
}
