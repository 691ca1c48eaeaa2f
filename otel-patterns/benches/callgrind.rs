//! Fixed-iteration drivers of the `patterns` bench scenarios, for repeatable
//! instruction counts under `valgrind --tool=callgrind` (criterion's
//! time-based loop is not repeatable). Does nothing unless a scenario is
//! named, so `cargo bench` runs through it at once:
//!
//! ```text
//! cargo bench -p otel-patterns --bench callgrind --no-run
//! valgrind --tool=callgrind target/release/deps/callgrind-<hash> saga10-unsampled 20000
//! ```
//!
//! Scenarios: `saga0-sampled`, `saga10-sampled`, `saga0-unsampled`,
//! `saga10-unsampled`, `retry-sampled`, `retry-unsampled`, `none`
//! (setup only). Per-step cost = (saga10 − saga0) / (10 × iterations).

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use otel_core::opentelemetry_sdk::metrics::SdkMeterProvider;
use otel_core::opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use otel_patterns::Telemetry;
use otel_patterns::retry::{RetryDecision, RetryPolicy};
use otel_patterns::saga::{LogEntry, LogError, LogRecord, LoggedInstance, Saga, SagaLog, Step};
use std::hint::black_box;
use std::sync::Arc;

fn telemetry(sampled: bool) -> Telemetry {
    let tp = SdkTracerProvider::builder()
        .with_sampler(if sampled {
            Sampler::AlwaysOn
        } else {
            Sampler::AlwaysOff
        })
        .build();
    let mp = SdkMeterProvider::builder().build();
    Telemetry::new(&tp, &mp)
}

/// Same as the `patterns` bench's log.
struct NullLog;

impl SagaLog for NullLog {
    fn create<'a>(
        &'a self,
        _: &'a LogRecord,
        _: &'a [LogEntry],
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async { Ok(()) })
    }
    fn set_status<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async { Ok(()) })
    }
    fn set_entry<'a>(&'a self, _: &'a str, _: &'a LogEntry) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async { Ok(()) })
    }
    // No I/O: writes complete at once (as `MemoryLog`'s do).
    fn set_status_now(&self, _: &str, _: &str) -> Option<Result<(), LogError>> {
        Some(Ok(()))
    }
    fn set_entry_now(&self, _: &str, _: &LogEntry) -> Option<Result<(), LogError>> {
        Some(Ok(()))
    }
    fn find<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<LoggedInstance>, LogError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<LoggedInstance>, LogError>> {
        Box::pin(async { Ok(None) })
    }
}

fn saga(steps: usize, sampled: bool) -> Saga<()> {
    let mut b = Saga::builder("bench")
        .log(Arc::new(NullLog))
        .telemetry(telemetry(sampled));
    for i in 0..steps {
        b = b.step(
            Step::new(format!("s{i}"), |_| async { Ok::<_, std::io::Error>(()) })
                .compensate_with(|_| async { Ok::<_, std::io::Error>(()) }),
        );
    }
    b.build()
}

fn run_saga(steps: usize, sampled: bool, n: u64) {
    let s = saga(steps, sampled);
    for _ in 0..n {
        black_box(s.run_with_id("id", ()).now_or_never().unwrap().unwrap());
    }
}

fn run_retry(sampled: bool, n: u64) {
    let policy = RetryPolicy::builder("bench")
        .telemetry(telemetry(sampled))
        .build();
    for _ in 0..n {
        let r = policy
            .run(
                |a| async move { Ok::<u32, ()>(black_box(a)) },
                |r| {
                    if r.is_err() {
                        RetryDecision::Retry
                    } else {
                        RetryDecision::Stop
                    }
                },
            )
            .now_or_never()
            .unwrap();
        black_box(r).ok();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(scenario) = args.iter().find(|a| !a.starts_with('-')) else {
        return;
    };
    let n: u64 = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    match scenario.as_str() {
        "saga0-sampled" => run_saga(0, true, n),
        "saga10-sampled" => run_saga(10, true, n),
        "saga0-unsampled" => run_saga(0, false, n),
        "saga10-unsampled" => run_saga(10, false, n),
        "retry-sampled" => run_retry(true, n),
        "retry-unsampled" => run_retry(false, n),
        "none" => {}
        // Anything else (e.g. a criterion filter given to `cargo bench`): nothing.
        _ => {}
    }
}
