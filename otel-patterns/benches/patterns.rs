//! Hot-path costs: closed breaker check + record, retry on a first-try
//! success, saga step span overhead (sampled / unsampled).
//!
//! `cargo bench -p otel-patterns --bench patterns`

mod fixture;

use criterion::{Criterion, criterion_group, criterion_main};
use fixture::{retry_first_try, retry_policy, saga, telemetry};
use futures_util::FutureExt as _;
use otel_patterns::breaker::{CircuitBreaker, Outcome};
use std::hint::black_box;

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
        let policy = retry_policy(sampled);
        c.bench_function(&format!("retry/first_try_success/{name}"), |b| {
            b.iter(|| retry_first_try(&policy))
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
