//! The order saga (create order → reserve inventory → charge payment) run
//! twice: once succeeding, once with the payment declined so the completed
//! steps are compensated in reverse order. With no exporter configured each
//! trace prints as a tree.
//!
//! With `DATABASE_URL` set, the saga log is durable in PostgreSQL (schema
//! `saga_example`) and written through otel-kit-db's traced client: each
//! step shows its log writes (`INSERT "saga_example".entries`) as CLIENT
//! span children, the saga its `UPDATE "saga_example".records`. Without it
//! the log is in memory.
//!
//! ```text
//! cargo run -p otel-examples --bin saga
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p otel-examples --bin saga
//! ```

use otel_kit_db::{Instrumentation, postgres};
use otel_kit_patterns::log::{MemoryLog, PostgresLog, SagaLog};
use otel_kit_patterns::saga::{Saga, Step, StepContext, StepError};
use std::sync::Arc;
use std::time::Duration;

/// The PostgreSQL log over the traced client when `DATABASE_URL` is set,
/// else the in-memory one.
async fn saga_log() -> Result<Arc<dyn SagaLog>, Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        return Ok(Arc::new(MemoryLog::new()));
    };
    let config: tokio_postgres::Config = url.parse()?;
    // The global providers the telemetry above installed.
    let client =
        postgres::connect(&config, tokio_postgres::NoTls, &Instrumentation::default()).await?;
    Ok(Arc::new(
        PostgresLog::with_client(Arc::new(client), "saga_example").await?,
    ))
}

async fn work(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = otel_kit_core::Telemetry::builder()
        .service_name("saga-example")
        .console_when_unconfigured(true)
        .install()?;
    let log = saga_log().await?;

    // The input is the amount to charge; over 100 the payment is declined.
    let saga = Saga::<u32>::builder("order")
        .step(
            Step::new("create_order", |cx: StepContext<u32>| async move {
                println!("  create order for {}", cx.input);
                work(5).await;
                Ok(())
            })
            .compensate_with(|_| async {
                println!("  cancel order");
                work(2).await;
                Ok(())
            }),
        )
        .step(
            Step::new("reserve_inventory", |_| async {
                println!("  reserve inventory");
                work(8).await;
                Ok(())
            })
            .compensate_with(|_| async {
                println!("  release inventory");
                work(3).await;
                Ok(())
            }),
        )
        .step(
            Step::new("charge_payment", |cx: StepContext<u32>| async move {
                work(4).await;
                if *cx.input > 100 {
                    println!("  payment declined");
                    Err(StepError::new("card_declined", "amount over limit"))
                } else {
                    println!("  payment charged");
                    Ok(())
                }
            })
            .timeout(Duration::from_secs(2))
            .attempts(2),
        )
        .log(log)
        .build();

    println!("saga 1: amount 42");
    let ok = saga.run(42).await?;
    println!("-> {:?}\n", ok.outcome);
    println!("saga 2: amount 420");
    let failed = saga.run(420).await?;
    println!("-> {:?}\n", failed.outcome);

    telemetry.shutdown().await?;
    Ok(())
}
