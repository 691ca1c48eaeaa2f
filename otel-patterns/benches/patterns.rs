//! Hot-path costs: closed breaker check + record, retry on a first-try
//! success, saga step span overhead (sampled / unsampled).
//!
//! `cargo bench -p otel-patterns --bench patterns`

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use otel_core::opentelemetry_sdk::metrics::SdkMeterProvider;
use otel_core::opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use otel_patterns::Telemetry;
use otel_patterns::breaker::{CircuitBreaker, Outcome};
use otel_patterns::retry::{RetryDecision, RetryPolicy};
use otel_patterns::saga::{LogEntry, LogError, LogRecord, LoggedInstance, Saga, SagaLog, Step};
use std::hint::black_box;
use std::sync::Arc;

fn telemetry(sampled: bool) -> Telemetry {
    // Spans are recorded (when sampled) but go to no exporter.
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

/// A log that stores nothing, to measure the saga machinery alone.
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

fn bench(c: &mut Criterion) {
    let breaker = CircuitBreaker::builder("bench")
        .telemetry(telemetry(true))
        .build();
    c.bench_function("breaker/closed_check_and_record", |b| {
        b.iter(|| {
            let p = black_box(&breaker).try_acquire().unwrap();
            p.record(black_box(Outcome::Success));
        })
    });

    for (name, sampled) in [("sampled", true), ("unsampled", false)] {
        let policy = RetryPolicy::builder("bench")
            .telemetry(telemetry(sampled))
            .build();
        c.bench_function(&format!("retry/first_try_success/{name}"), |b| {
            b.iter(|| {
                policy
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
                    .unwrap()
            })
        });
    }

    // Per-step overhead = (10 steps - 0 steps) / 10.
    for (name, sampled) in [("sampled", true), ("unsampled", false)] {
        for steps in [0usize, 10] {
            let s = saga(steps, sampled);
            c.bench_function(&format!("saga/{steps}_steps/{name}"), |b| {
                b.iter(|| s.run_with_id("id", ()).now_or_never().unwrap().unwrap())
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
