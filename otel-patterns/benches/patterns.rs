//! Hot-path costs: closed breaker check + record, retry on a first-try
//! success, saga step overhead (sampled / unsampled / untraced).
//!
//! `cargo bench -p otel-kit-patterns --bench patterns`

mod fixture;

use criterion::{Criterion, criterion_group, criterion_main};
use fixture::{
    Mode, breaker, breaker_check_and_record, recorded, retry_first_try, retry_policy, saga,
};
use futures_util::FutureExt as _;
use otel_kit_patterns::breaker::CircuitBreaker;
use otel_kit_patterns::clock::MonotonicClock;

const MODES: [(&str, Mode); 3] = [
    ("sampled", Mode::Sampled),
    ("unsampled", Mode::Unsampled),
    ("untraced", Mode::Noop),
];

fn bench(c: &mut Criterion) {
    let b = breaker(Mode::Sampled);
    c.bench_function("breaker/closed_check_and_record", |bch| {
        bch.iter(|| breaker_check_and_record(&b))
    });
    // The same with the precise clock the default replaced: what the two
    // clock reads cost on this machine, in the same run.
    let b = recorded!(CircuitBreaker::builder("bench"), Mode::Sampled)
        .clock(MonotonicClock::new())
        .build();
    c.bench_function("breaker/closed_check_and_record/precise_clock", |bch| {
        bch.iter(|| breaker_check_and_record(&b))
    });

    for (name, mode) in MODES {
        let policy = retry_policy(mode);
        c.bench_function(&format!("retry/first_try_success/{name}"), |b| {
            b.iter(|| retry_first_try(&policy))
        });
    }

    // The floor under a sampled step span: the SDK alone.
    let mut sdk_span = fixture::sdk_step_span();
    c.bench_function("sdk/step_span_start_end/sampled", |b| b.iter(&mut sdk_span));

    // Engine cost per step = (untraced 10 steps − untraced 0 steps) / 10;
    // span overhead per step = ((traced − untraced) 10 steps − (traced −
    // untraced) 0 steps) / 10.
    for (name, mode) in MODES {
        for steps in [0usize, 10] {
            let s = saga(steps, mode);
            c.bench_function(&format!("saga/{steps}_steps/{name}"), |b| {
                b.iter(|| s.run_with_id("id", ()).now_or_never().unwrap().unwrap())
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
