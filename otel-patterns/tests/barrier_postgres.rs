//! The transactional barrier (`TxBarrier`) against a real PostgreSQL: the
//! barrier row and the business change commit or roll back together, and
//! concurrent duplicate requests run the business change once.
#![cfg(feature = "postgres")]

use otel_kit_core::opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};
use otel_kit_core::testing::Capture;
use otel_kit_patterns::saga::TxBarrier;
use otel_kit_patterns::saga::barrier::{BarrierError, BarrierResult, Op};
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

fn url() -> String {
    std::env::var("OTEL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn connect() -> Client {
    let (client, conn) = tokio_postgres::connect(&url(), NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A fresh schema with the barrier table and a business table `stock`.
async fn setup() -> (Client, TxBarrier) {
    let schema = format!("otel_barrier_{}", uuid::Uuid::new_v4().simple());
    let client = connect().await;
    let barrier = TxBarrier::new(&schema).unwrap();
    barrier.create_table(&client).await.unwrap();
    client
        .batch_execute(&format!(
            "CREATE TABLE \"{schema}\".effects (seq bigserial PRIMARY KEY, gid text, what text)"
        ))
        .await
        .unwrap();
    (client, barrier)
}

async fn count(client: &Client, barrier: &TxBarrier, table: &str, gid: &str) -> i64 {
    client
        .query_one(
            &format!(
                "SELECT count(*) FROM \"{}\".{table} WHERE gid = $1",
                barrier.schema()
            ),
            &[&gid],
        )
        .await
        .unwrap()
        .get(0)
}

fn effect_sql(barrier: &TxBarrier) -> String {
    format!(
        "INSERT INTO \"{}\".effects (gid, what) VALUES ($1, $2)",
        barrier.schema()
    )
}

async fn drop_schema(client: &Client, barrier: &TxBarrier) {
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            barrier.schema()
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn business_change_and_barrier_commit_together() {
    let (mut client, barrier) = setup().await;
    let sql = effect_sql(&barrier);
    let c = Capture::new();
    let cx = otel_kit_core::opentelemetry::Context::current_with_span(
        c.tracer("participant").start("handler"),
    );
    async {
        for expected in [BarrierResult::Ran, BarrierResult::Duplicate] {
            let tx = client.transaction().await.unwrap();
            let r = barrier
                .call(tx, "g1", "reserve", Op::Action, async |tx| {
                    tx.execute(&sql, &[&"g1", &"do"]).await
                })
                .await
                .unwrap();
            assert_eq!(r, expected);
        }
        assert_eq!(count(&client, &barrier, "effects", "g1").await, 1);
        assert_eq!(count(&client, &barrier, "barrier", "g1").await, 1);

        // Compensation: runs once, in its transaction.
        for expected in [BarrierResult::Ran, BarrierResult::Duplicate] {
            let tx = client.transaction().await.unwrap();
            let r = barrier
                .call(tx, "g1", "reserve", Op::Compensation, async |tx| {
                    tx.execute(&sql, &[&"g1", &"undo"]).await
                })
                .await
                .unwrap();
            assert_eq!(r, expected);
        }
        assert_eq!(count(&client, &barrier, "effects", "g1").await, 2);

        // Null compensation (the action never arrived) commits the row that
        // then blocks the late action.
        let tx = client.transaction().await.unwrap();
        let r = barrier
            .call(tx, "g2", "reserve", Op::Compensation, async |tx| {
                tx.execute(&sql, &[&"g2", &"undo"]).await
            })
            .await
            .unwrap();
        assert_eq!(r, BarrierResult::NullCompensation);
        let tx = client.transaction().await.unwrap();
        let r = barrier
            .call(tx, "g2", "reserve", Op::Action, async |tx| {
                tx.execute(&sql, &[&"g2", &"do"]).await
            })
            .await
            .unwrap();
        assert_eq!(r, BarrierResult::Hanging);
        assert_eq!(count(&client, &barrier, "effects", "g2").await, 0);
    }
    .with_context(cx.clone())
    .await;
    cx.span().end();
    let h = c.span("handler");
    for e in [
        "saga.barrier.duplicate",
        "saga.barrier.null_compensation",
        "saga.barrier.hanging",
    ] {
        h.assert_event(e);
    }
    let dup = h
        .events()
        .iter()
        .find(|e| e.name == "saga.barrier.duplicate")
        .unwrap();
    let attr = |k: &str| {
        dup.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(attr("saga.id").as_deref(), Some("g1"));
    assert_eq!(attr("saga.barrier.branch").as_deref(), Some("reserve"));
    assert_eq!(attr("saga.barrier.op").as_deref(), Some("action"));
    drop_schema(&client, &barrier).await;
}

#[tokio::test]
async fn rollback_of_the_business_transaction_leaves_no_barrier_row() {
    let (mut client, barrier) = setup().await;
    let sql = effect_sql(&barrier);
    // The business change fails after writing: both are rolled back.
    let tx = client.transaction().await.unwrap();
    let r = barrier
        .call(tx, "g", "pay", Op::Action, async |tx| {
            tx.execute(&sql, &[&"g", &"do"]).await?;
            tx.execute("SELECT 1/0", &[]).await
        })
        .await;
    assert!(matches!(r, Err(BarrierError::Operation(_))));
    assert_eq!(count(&client, &barrier, "barrier", "g").await, 0);
    assert_eq!(count(&client, &barrier, "effects", "g").await, 0);

    // The caller's own rollback after `enter` (e.g. it crashed or chose
    // to abort) likewise leaves nothing.
    let tx = client.transaction().await.unwrap();
    assert_eq!(
        barrier.enter(&tx, "g", "pay", Op::Action).await.unwrap(),
        BarrierResult::Ran
    );
    tx.execute(&sql, &[&"g", &"do"]).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(count(&client, &barrier, "barrier", "g").await, 0);

    // So the retry runs.
    let tx = client.transaction().await.unwrap();
    let r = barrier
        .call(tx, "g", "pay", Op::Action, async |tx| {
            tx.execute(&sql, &[&"g", &"do"]).await
        })
        .await
        .unwrap();
    assert_eq!(r, BarrierResult::Ran);
    assert_eq!(count(&client, &barrier, "effects", "g").await, 1);
    drop_schema(&client, &barrier).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_run_the_business_change_once() {
    let (client, barrier) = setup().await;
    let sql = effect_sql(&barrier);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let barrier = barrier.clone();
        let sql = sql.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = connect().await;
            let tx = client.transaction().await.unwrap();
            // The first half fail after their write: whoever holds the row
            // may roll back, and a waiting duplicate must then run.
            let fail = i % 2 == 0;
            barrier
                .call(tx, "g", "reserve", Op::Action, async |tx| {
                    tx.execute(&sql, &[&"g", &"do"]).await?;
                    // Keep the transaction open so the others wait on the row.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if fail {
                        tx.execute("SELECT 1/0", &[]).await?;
                    }
                    Ok::<_, tokio_postgres::Error>(())
                })
                .await
        }));
    }
    let mut ran = 0;
    let mut dup = 0;
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(BarrierResult::Ran) => ran += 1,
            Ok(BarrierResult::Duplicate) => dup += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(BarrierError::Operation(_)) => failed += 1,
            Err(e) => panic!("store error {e}"),
        }
    }
    assert_eq!(ran, 1, "ran {ran}, duplicate {dup}, failed {failed}");
    assert_eq!(ran + dup + failed, 6);
    assert_eq!(count(&client, &barrier, "effects", "g").await, 1);
    assert_eq!(count(&client, &barrier, "barrier", "g").await, 1);
    drop_schema(&client, &barrier).await;
}
