use otel_kit_core::instrument::ResendCount;
use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::testing::{Capture, assert_parent};
use otel_kit_patterns::clock::ManualClock;
use otel_kit_patterns::retry::{
    Backoff, Jitter, RetryBudget, RetryDecision, RetryLayer, RetryPolicy,
};
use proptest::prelude::*;
use rand::SeedableRng;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn each_attempt_is_a_span_with_its_number_and_delay() {
    let c = Capture::new();
    let policy = RetryPolicy::builder("get-price")
        .max_attempts(4)
        .jitter(Jitter::None)
        .initial_backoff(Duration::from_millis(100))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let start = tokio::time::Instant::now();
    let r: Result<u32, std::io::Error> = policy
        .run_on_error(|attempt| async move {
            if attempt < 3 {
                Err(std::io::Error::other("flaky"))
            } else {
                Ok(attempt)
            }
        })
        .await;
    assert_eq!(r.unwrap(), 3);
    // No jitter: 100 ms then 200 ms (paused clock, no real sleeping).
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    let call = c.span("retry");
    call.assert_attr("retry.attempts", 3i64)
        .assert_attr("retry.outcome", "success")
        .assert_attr("retry.operation", "get-price")
        .assert_not_error();
    let attempts = c.spans_named("retry.attempt");
    assert_eq!(attempts.len(), 3);
    for (i, a) in attempts.iter().enumerate() {
        assert_parent(a, &call);
        a.assert_attr("retry.attempt", (i + 1) as i64);
    }
    attempts[0]
        .assert_error()
        .assert_attr("error.type", "std::io::error::Error");
    attempts[1].assert_attr("retry.delay", 0.1);
    attempts[2]
        .assert_attr("retry.delay", 0.2)
        .assert_not_error();
    let backoffs: Vec<_> = call
        .events()
        .iter()
        .filter(|e| e.name == "retry.backoff")
        .collect();
    assert_eq!(backoffs.len(), 2);
    let m = c.collect_metrics();
    let h = m.histogram("retry.attempts");
    let p = h.point_with(&[KeyValue::new("retry.outcome", "success")]);
    assert_eq!((p.count, p.sum), (1, 3.0));
}

#[tokio::test(start_paused = true)]
async fn result_predicate_server_delay_and_caps() {
    let c = Capture::new();
    let policy = RetryPolicy::builder("op")
        .max_attempts(3)
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let start = tokio::time::Instant::now();
    let r: Result<u16, ()> = policy
        .run(
            |_| async { Ok(503) },
            |r| match r {
                Ok(503) => RetryDecision::RetryAfter(Duration::from_secs(2)),
                _ => RetryDecision::Stop,
            },
        )
        .await;
    // The last result is returned as is once attempts run out.
    assert_eq!(r, Ok(503));
    assert_eq!(start.elapsed(), Duration::from_secs(4));
    c.span("retry")
        .assert_attr("retry.outcome", "attempts_exhausted")
        .assert_error();
    let a = c.spans_named("retry.attempt");
    a[1].assert_attr("retry.server_delay", true)
        .assert_attr("retry.delay", 2.0)
        .assert_attr("error.type", "retryable_result");

    // Non-retryable errors stop at once; the elapsed cap stops early.
    let c = Capture::new();
    let policy = RetryPolicy::builder("op")
        .max_attempts(10)
        .jitter(Jitter::None)
        .initial_backoff(Duration::from_secs(1))
        .max_elapsed(Duration::from_secs(4))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let n = AtomicU32::new(0);
    let _: Result<(), &str> = policy
        .run(
            |_| {
                n.fetch_add(1, Ordering::SeqCst);
                async { Err("fatal") }
            },
            |_| RetryDecision::Stop,
        )
        .await;
    assert_eq!(n.swap(0, Ordering::SeqCst), 1);
    let _: Result<(), &str> = policy
        .run_on_error(|_| {
            n.fetch_add(1, Ordering::SeqCst);
            async { Err("down") }
        })
        .await;
    // delays 1 + 2 = 3 s, the next (4 s) would pass the 4 s cap.
    assert_eq!(n.load(Ordering::SeqCst), 3);
    let spans = c.spans_named("retry");
    spans[0].assert_attr("retry.outcome", "non_retryable");
    spans[1].assert_attr("retry.outcome", "elapsed_exceeded");
}

#[tokio::test(start_paused = true)]
async fn budget_stops_a_retry_storm() {
    let c = Capture::new();
    let clock = ManualClock::new();
    let budget = Arc::new(RetryBudget::with_clock(0.1, 1000, 0, clock));
    let policy = RetryPolicy::builder("storm")
        .max_attempts(5)
        .initial_backoff(Duration::from_millis(1))
        .budget(budget.clone())
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let attempts = AtomicU32::new(0);
    for _ in 0..200 {
        let _: Result<(), ()> = policy
            .run_on_error(|_| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err(()) }
            })
            .await;
    }
    // Without a budget: 1000 attempts. With 10 %: at most 200 + 20.
    let total = attempts.load(Ordering::SeqCst);
    assert!(total <= 220, "{total} attempts");
    assert!(total >= 200 + 19, "{total} attempts");
    let exhausted = c
        .collect_metrics()
        .sum_u64("retry.budget.exhausted")
        .total();
    assert!(exhausted >= 180, "{exhausted}");
    assert!(
        c.spans_named("retry")
            .iter()
            .any(|s| s.event("retry.budget_exhausted").is_some())
    );
}

#[test]
fn budget_floor_allows_retries_per_second() {
    let clock = ManualClock::new();
    let b = RetryBudget::with_clock(0.0, 10, 2, clock.clone());
    assert!(b.withdraw());
    assert!(b.withdraw());
    assert!(!b.withdraw());
    clock.advance(Duration::from_secs(1));
    assert!(b.withdraw());
    b.deposit();
    assert_eq!(b.balance(), 0.0);
    let b = RetryBudget::new(0.5, 1, 0);
    for _ in 0..10 {
        b.deposit();
    }
    assert_eq!(b.balance(), 1.0, "capped");
    assert!(b.withdraw());
    assert!(!b.withdraw());
}

proptest! {
    #[test]
    fn delays_follow_the_jitter(seed in any::<u64>(), retry in 1u32..20, prev_ms in 0u64..20_000,
                                initial_ms in 1u64..1000, max_ms in 1u64..30_000, mult in 1.0f64..4.0) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut b = Backoff { initial: Duration::from_millis(initial_ms), max: Duration::from_millis(max_ms), multiplier: mult, jitter: Jitter::None };
        let base = b.base(retry);
        prop_assert!(base <= b.max);
        let expect = (initial_ms as f64 * mult.powi(retry as i32 - 1)).min(max_ms as f64);
        prop_assert!((base.as_secs_f64() * 1000.0 - expect).abs() < 1e-3);
        prop_assert_eq!(b.delay(retry, Duration::ZERO, &mut rng), base);
        b.jitter = Jitter::Full;
        let d = b.delay(retry, Duration::ZERO, &mut rng);
        prop_assert!(d <= base);
        b.jitter = Jitter::Decorrelated;
        let prev = Duration::from_millis(prev_ms);
        let d = b.delay(retry, prev, &mut rng);
        let lo = b.initial.min(b.max);
        let hi = (prev.max(b.initial) * 3).min(b.max).max(lo);
        prop_assert!(d >= lo && d <= hi, "{:?} not in [{:?}, {:?}]", d, lo, hi);
    }
}

#[test]
fn full_jitter_spreads_over_the_whole_range() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let b = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
        multiplier: 2.0,
        jitter: Jitter::Full,
    };
    let samples: Vec<f64> = (0..2000)
        .map(|_| b.delay(3, Duration::ZERO, &mut rng).as_secs_f64())
        .collect();
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    assert!((mean - 2.0).abs() < 0.15, "mean {mean} of U(0, 4)");
    assert!(samples.iter().any(|&s| s < 0.4) && samples.iter().any(|&s| s > 3.6));
}

#[tokio::test(start_paused = true)]
async fn tower_layer_sets_resend_count_and_honours_retry_after() {
    use tower::{Layer, Service};
    #[derive(Clone)]
    struct Flaky {
        seen: Arc<Mutex<Vec<(u32, String)>>>,
    }
    impl Service<http::Request<String>> for Flaky {
        type Response = http::Response<()>;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: http::Request<String>) -> Self::Future {
            let mut seen = self.seen.lock().unwrap();
            seen.push((ResendCount::of(&req), req.body().clone()));
            let mut r = http::Response::new(());
            if seen.len() < 3 {
                *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, "3".parse().unwrap());
            }
            std::future::ready(Ok(r))
        }
    }
    let c = Capture::new();
    let policy = RetryPolicy::builder("GET /stock")
        .max_attempts(5)
        .max_backoff(Duration::from_secs(10))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut svc = RetryLayer::new(policy).layer(Flaky { seen: seen.clone() });
    let start = tokio::time::Instant::now();
    let resp = svc
        .call(http::Request::new("body".to_owned()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(start.elapsed(), Duration::from_secs(6));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(0, "body".into()), (1, "body".into()), (2, "body".into())]
    );
    c.span("retry").assert_attr("retry.attempts", 3i64);
}
