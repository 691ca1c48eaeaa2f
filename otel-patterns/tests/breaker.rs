use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};
use otel_kit_core::testing::{Capture, assert_parent};
use otel_kit_patterns::breaker::{BreakerError, CircuitBreaker, Outcome, State};
use otel_kit_patterns::clock::ManualClock;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn calls(c: &Capture, outcome: &str) -> u64 {
    c.collect_metrics()
        .sum_u64("circuit_breaker.calls")
        .value_with(&[KeyValue::new("circuit_breaker.outcome", outcome.to_owned())])
}

fn ok(b: &CircuitBreaker) {
    b.try_acquire().unwrap().record(Outcome::Success);
}
fn fail(b: &CircuitBreaker) {
    b.try_acquire().unwrap().record(Outcome::Failure);
}

#[test]
fn failure_rate_opens_after_minimum_calls_with_event_span_and_metrics() {
    let c = Capture::new();
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("inventory")
        .count_window(10)
        .minimum_calls(4)
        .failure_rate(50.0)
        .clock(clock.clone())
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    // 3 failures: below minimum calls, stays closed.
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Closed);
    // The 4th call, under a span, trips it: the event lands on that span.
    let tracer = c.tracer("test");
    let span = tracer.start("caller");
    let cx = Context::current_with_span(span);
    {
        let _g = cx.clone().attach();
        fail(&b);
    }
    cx.span().end();
    assert_eq!(b.state(), State::Open);
    let caller = c.span("caller");
    caller.assert_event("circuit_breaker.state_change");
    assert_eq!(
        caller
            .event_attr(
                "circuit_breaker.state_change",
                "circuit_breaker.transition.to"
            )
            .map(|v| v.to_string()),
        Some("open".to_owned())
    );
    // Rejected: a short error span, not the downstream's failure.
    let parent = tracer.start("caller2");
    let cx2 = Context::current_with_span(parent);
    let err = {
        let _g = cx2.clone().attach();
        b.try_acquire().unwrap_err()
    };
    cx2.span().end();
    assert_eq!(err.state, State::Open);
    let rejected = c.span("circuit_breaker.rejected");
    rejected
        .assert_error()
        .assert_attr("error.type", "circuit_open")
        .assert_attr("circuit_breaker.name", "inventory");
    assert_parent(&rejected, &c.span("caller2"));
    assert_eq!(calls(&c, "failure"), 4);
    assert_eq!(calls(&c, "rejected"), 1);
    let m = c.collect_metrics();
    let g = m.gauge_i64("circuit_breaker.state");
    assert_eq!(
        g.value_with(&[KeyValue::new("circuit_breaker.state", "open")]),
        1
    );
    assert_eq!(
        g.value_with(&[KeyValue::new("circuit_breaker.state", "closed")]),
        0
    );
    assert_eq!(
        m.sum_u64("circuit_breaker.transitions")
            .value_with(&[KeyValue::new("circuit_breaker.transition.to", "open")]),
        1
    );
}

#[test]
fn below_threshold_stays_closed_and_window_slides() {
    let c = Capture::new();
    let b = CircuitBreaker::builder("b")
        .count_window(4)
        .minimum_calls(4)
        .failure_rate(75.0)
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    fail(&b);
    fail(&b);
    ok(&b);
    ok(&b); // 50 %
    assert_eq!(b.state(), State::Closed);
    fail(&b); // window: F O O F -> wait: slides out the first F: [F,O,O,F]? = 50%
    assert_eq!(b.state(), State::Closed);
    fail(&b); // [O,O,F,F] 50 %
    fail(&b); // [O,F,F,F] 75 % -> open
    assert_eq!(b.state(), State::Open);
}

#[test]
fn slow_call_rate_opens() {
    let c = Capture::new();
    let b = CircuitBreaker::builder("slow")
        .count_window(5)
        .minimum_calls(5)
        .failure_rate(100.0)
        .slow_call_rate(60.0)
        .slow_call_duration(Duration::from_millis(500))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    for i in 0..5 {
        let d = if i < 3 {
            Duration::from_secs(1)
        } else {
            Duration::ZERO
        };
        b.try_acquire()
            .unwrap()
            .record_with_duration(Outcome::Success, d);
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(calls(&c, "slow"), 3);
    assert_eq!(calls(&c, "success"), 2);
}

#[test]
fn open_waits_then_half_open_decides() {
    let c = Capture::new();
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("h")
        .count_window(2)
        .minimum_calls(2)
        .failure_rate(50.0)
        .wait_in_open(Duration::from_secs(30))
        .permitted_in_half_open(2)
        .clock(clock.clone())
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(29));
    assert!(b.try_acquire().is_err());
    clock.advance(Duration::from_secs(1));
    // Wait over: two trial calls, a third is rejected.
    let p1 = b.try_acquire().unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    let p2 = b.try_acquire().unwrap();
    assert_eq!(b.try_acquire().unwrap_err().state, State::HalfOpen);
    p1.record(Outcome::Failure);
    p2.record(Outcome::Failure);
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(30));
    // An unrecorded trial permit gives its slot back.
    drop(b.try_acquire().unwrap());
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    p1.record(Outcome::Success);
    p2.record(Outcome::Failure); // 50 % >= 50 % -> open again
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(30));
    ok(&b);
    ok(&b);
    assert_eq!(b.state(), State::Closed);
    // Closed again with an empty window.
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    let m = c.collect_metrics();
    let t = m.sum_u64("circuit_breaker.transitions");
    assert_eq!(
        t.value_with(&[KeyValue::new("circuit_breaker.transition.from", "open")]),
        3
    );
    assert_eq!(
        t.value_with(&[KeyValue::new("circuit_breaker.transition.to", "closed")]),
        1
    );
}

#[test]
fn time_window_forgets_old_failures() {
    let c = Capture::new();
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("t")
        .time_window(10)
        .minimum_calls(4)
        .failure_rate(50.0)
        .clock(clock.clone())
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    fail(&b);
    fail(&b);
    clock.advance(Duration::from_secs(11));
    ok(&b);
    ok(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed, "old failures left the window");
    fail(&b); // 2 of 4 in the window
    assert_eq!(b.state(), State::Open);
}

#[test]
fn forced_open_and_disabled() {
    let c = Capture::new();
    let b = CircuitBreaker::builder("f")
        .count_window(2)
        .minimum_calls(1)
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    b.force_open();
    assert_eq!(b.try_acquire().unwrap_err().state, State::ForcedOpen);
    b.disable();
    for _ in 0..10 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Disabled);
    b.reset();
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test]
async fn call_api_and_tower_layer_distinguish_rejection() {
    use otel_kit_patterns::breaker::CircuitBreakerLayer;
    use tower::{Layer, Service};
    let c = Capture::new();
    let b = CircuitBreaker::builder("svc")
        .count_window(2)
        .minimum_calls(2)
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let r: Result<(), BreakerError<&str>> = b.call(async { Err("down") }).await;
    assert!(matches!(r, Err(BreakerError::Inner("down"))));

    #[derive(Clone)]
    struct Svc;
    impl Service<http::Request<()>> for Svc {
        type Response = http::Response<()>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let mut r = http::Response::new(());
            *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            std::future::ready(Ok(r))
        }
    }
    let mut svc = CircuitBreakerLayer::http(b.clone()).layer(Svc);
    let resp = svc.call(http::Request::new(())).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(b.state(), State::Open);
    let tracer = c.tracer("t");
    let cx = Context::current_with_span(tracer.start("client call"));
    let err = svc
        .call(http::Request::new(()))
        .with_context(cx.clone())
        .await
        .unwrap_err();
    cx.span().end();
    assert!(matches!(err, BreakerError::Open(_)));
    assert_parent(&c.span("circuit_breaker.rejected"), &c.span("client call"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_use_counts_every_call_once() {
    let c = Capture::new();
    let b = CircuitBreaker::builder("conc")
        .count_window(50)
        .minimum_calls(50)
        .failure_rate(90.0)
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let permitted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let b = b.clone();
        let permitted = permitted.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..2_000u64 {
                if let Ok(p) = b.try_acquire() {
                    permitted.fetch_add(1, Ordering::Relaxed);
                    // 20 % failures: below the threshold.
                    let o = if (i + t) % 5 == 0 {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    };
                    p.record(o);
                }
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(permitted.load(Ordering::Relaxed), 16_000);
    assert_eq!(calls(&c, "success") + calls(&c, "failure"), 16_000);
    assert_eq!(calls(&c, "failure"), 3_200);

    // Now everything fails: it opens exactly once and rejects the rest.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..500u32 {
                if let Ok(p) = b.try_acquire() {
                    p.record(Outcome::Failure);
                }
                if i % 32 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(b.state(), State::Open);
    let total = calls(&c, "success") + calls(&c, "failure") + calls(&c, "rejected");
    assert_eq!(total, 16_000 + 4_000);
    let m = c.collect_metrics();
    assert_eq!(
        m.sum_u64("circuit_breaker.transitions")
            .value_with(&[KeyValue::new("circuit_breaker.transition.to", "open")]),
        1
    );
}

#[test]
fn half_open_lets_exactly_the_permitted_trials_through_under_contention() {
    let c = Capture::new();
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("ho")
        .count_window(1)
        .minimum_calls(1)
        .wait_in_open(Duration::from_secs(1))
        .permitted_in_half_open(5)
        .clock(clock.clone())
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    fail(&b);
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(1));
    let granted = AtomicU64::new(0);
    let barrier = std::sync::Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                barrier.wait();
                let mut mine = Vec::new();
                for _ in 0..50 {
                    if let Ok(p) = b.try_acquire() {
                        granted.fetch_add(1, Ordering::SeqCst);
                        mine.push(p);
                    }
                }
                // Hold the permits until every thread has tried.
                barrier.wait();
                for p in mine {
                    p.record(Outcome::Success);
                }
            });
        }
    });
    assert_eq!(granted.load(Ordering::SeqCst), 5);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(calls(&c, "rejected"), 195);
}
