//! otel-kit-patterns next to the peers users would pick instead, in one run:
//! breaker check + record against `failsafe`, retry on a first-try success
//! against tower's `Retry`.
//!
//! `cargo bench -p otel-benchmarks --bench patterns_peers`

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use otel_kit_patterns::breaker::{CircuitBreaker, Outcome};
use otel_kit_patterns::retry::{RetryDecision, RetryPolicy};
use std::hint::black_box;
use std::task::{Context, Poll};
use tower::Service;

fn tracer_provider(sampled: bool) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(if sampled {
            Sampler::AlwaysOn
        } else {
            Sampler::AlwaysOff
        })
        .build()
}

#[derive(Clone)]
struct Ok200;

impl Service<u32> for Ok200 {
    type Response = u32;
    type Error = ();
    type Future = std::future::Ready<Result<u32, ()>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: u32) -> Self::Future {
        std::future::ready(Ok(req))
    }
}

#[derive(Clone)]
struct Attempts(u32);

impl tower::retry::Policy<u32, u32, ()> for Attempts {
    type Future = std::future::Ready<()>;
    fn retry(&mut self, _: &mut u32, result: &mut Result<u32, ()>) -> Option<Self::Future> {
        match result {
            Ok(_) => None,
            Err(_) if self.0 > 1 => {
                self.0 -= 1;
                Some(std::future::ready(()))
            }
            Err(_) => None,
        }
    }
    fn clone_request(&mut self, req: &u32) -> Option<u32> {
        Some(*req)
    }
}

fn breakers(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker_closed_check_and_record");
    let ours = CircuitBreaker::builder("bench")
        .tracer_provider(&tracer_provider(true))
        .meter_provider(&SdkMeterProvider::builder().build())
        .build();
    g.bench_function("otel-kit-patterns", |b| {
        b.iter(|| {
            let p = black_box(&ours).try_acquire().unwrap();
            p.record(black_box(Outcome::Success));
        })
    });
    let theirs = failsafe::Config::new().build();
    g.bench_function("failsafe", |b| {
        use failsafe::CircuitBreaker as _;
        b.iter(|| {
            black_box(&theirs)
                .call(|| Ok::<u32, ()>(black_box(1)))
                .unwrap()
        })
    });
    g.finish();
}

fn retries(c: &mut Criterion) {
    let mut g = c.benchmark_group("retry_first_try_success");
    for (name, sampled) in [
        ("otel-patterns/sampled", true),
        ("otel-patterns/unsampled", false),
    ] {
        let policy = RetryPolicy::builder("bench")
            .tracer_provider(&tracer_provider(sampled))
            .meter_provider(&SdkMeterProvider::builder().build())
            .build();
        g.bench_function(name, |b| {
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
    let mut svc = tower::retry::Retry::new(Attempts(3), Ok200);
    g.bench_function("tower-retry", |b| {
        b.iter(|| svc.call(black_box(1)).now_or_never().unwrap())
    });
    g.finish();
}

criterion_group!(benches, breakers, retries);
criterion_main!(benches);
