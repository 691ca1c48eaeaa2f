use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::testing::{Capture, assert_linked, assert_parent, assert_root};
use otel_kit_patterns::log::{
    LogEntry, LogRecord, MemoryLog, SagaLog, TraceParent, to_traceparent,
};
use otel_kit_patterns::saga::barrier::{Barrier, BarrierResult, MemoryBarrierStore};
use otel_kit_patterns::saga::{InDoubt, Saga, SagaOutcome, Step, StepError, StepRetry};
use proptest::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Journal = Arc<Mutex<Vec<String>>>;

/// A step that journals its action and compensation; the action fails when
/// `fail` is set, the compensation fails its first `comp_failures` attempts.
fn step(name: &str, j: &Journal, fail: bool, comp_failures: u32) -> Step<String> {
    let (ja, jc) = (j.clone(), j.clone());
    let (na, nc) = (name.to_owned(), name.to_owned());
    Step::new(name, move |_cx| {
        let j = ja.clone();
        let n = na.clone();
        async move {
            j.lock().unwrap().push(format!("do {n}"));
            if fail {
                Err(StepError::new("declined", format!("{n} failed")))
            } else {
                Ok(())
            }
        }
    })
    .compensate_with(move |cx| {
        let j = jc.clone();
        let n = nc.clone();
        async move {
            if cx.attempt <= comp_failures {
                return Err(StepError::new("unavailable", "try again"));
            }
            j.lock().unwrap().push(format!("undo {n}"));
            Ok(())
        }
    })
    .compensation_retry(StepRetry {
        max_attempts: 3,
        backoff: otel_kit_patterns::retry::Backoff {
            initial: Duration::from_millis(1),
            ..Default::default()
        },
        timeout: None,
    })
}

fn order_saga(c: &Capture, j: &Journal, fail_payment: bool) -> Saga<String> {
    Saga::builder("order")
        .step(step("create_order", j, false, 0))
        .step(step("reserve_inventory", j, false, 0))
        .step(step("charge_payment", j, fail_payment, 0))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build()
}

#[tokio::test]
async fn successful_saga_is_a_tree_of_step_spans() {
    let c = Capture::new();
    let j = Journal::default();
    let saga = order_saga(&c, &j, false);
    let report = saga.run("order-1".to_owned()).await.unwrap();
    assert_eq!(report.outcome, SagaOutcome::Completed);
    assert_eq!(
        *j.lock().unwrap(),
        [
            "do create_order",
            "do reserve_inventory",
            "do charge_payment"
        ]
    );
    let root = c.span("saga order");
    assert_root(&root);
    root.assert_attr("saga.name", "order")
        .assert_attr("saga.id", report.id.as_str())
        .assert_attr("saga.outcome", "completed")
        .assert_not_error();
    for (i, n) in ["create_order", "reserve_inventory", "charge_payment"]
        .iter()
        .enumerate()
    {
        let s = c.span(&format!("saga.step {n}"));
        assert_parent(&s, &root);
        s.assert_attr("saga.step.index", i as i64)
            .assert_attr("saga.step.attempts", 1i64);
    }
    let m = c.collect_metrics();
    assert_eq!(
        m.sum_u64("saga.executions")
            .value_with(&[KeyValue::new("saga.outcome", "completed")]),
        1
    );
    assert_eq!(m.histogram("saga.duration").point_with(&[]).count, 1);
    let rec = saga.log().get(&report.id).await.unwrap().unwrap();
    assert_eq!(rec.0.status, "completed");
    assert!(rec.1.iter().all(|e| e.state == "done"));
}

#[tokio::test]
async fn failed_step_compensates_in_reverse_with_links() {
    let c = Capture::new();
    let j = Journal::default();
    let saga = order_saga(&c, &j, true);
    let report = saga.run("order-2".to_owned()).await.unwrap();
    assert_eq!(
        report.outcome,
        SagaOutcome::Compensated {
            failed_step: "charge_payment".into(),
            error_type: "declined".into()
        }
    );
    assert_eq!(
        *j.lock().unwrap(),
        [
            "do create_order",
            "do reserve_inventory",
            "do charge_payment",
            "undo reserve_inventory",
            "undo create_order"
        ]
    );
    let root = c.span("saga order");
    root.assert_attr("saga.outcome", "compensated")
        .assert_error();
    let failed = c.span("saga.step charge_payment");
    failed.assert_error().assert_attr("error.type", "declined");
    for n in ["reserve_inventory", "create_order"] {
        let comp = c.span(&format!("saga.compensate {n}"));
        assert_parent(&comp, &root);
        assert_linked(&comp, &c.span(&format!("saga.step {n}")));
        assert_linked(&comp, &failed);
        comp.assert_attr("saga.compensation.trigger.step", "charge_payment")
            .assert_attr("saga.compensation.trigger.error_type", "declined");
    }
    assert!(
        c.find(|s| s.name() == "saga.compensate charge_payment")
            .is_none()
    );
    let m = c.collect_metrics();
    assert_eq!(
        m.sum_u64("saga.compensations")
            .value_with(&[KeyValue::new("saga.step.name", "create_order")]),
        1
    );
}

#[tokio::test]
async fn failing_compensation_leaves_the_saga_stuck_and_reported() {
    let c = Capture::new();
    let j = Journal::default();
    let saga = Saga::builder("order")
        .step(step("create_order", &j, false, 0))
        .step(step("reserve_inventory", &j, false, 10))
        .step(step("charge_payment", &j, true, 0))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let report = saga.run("o".to_owned()).await.unwrap();
    assert_eq!(
        report.outcome,
        SagaOutcome::Stuck {
            step: "reserve_inventory".into(),
            error_type: "unavailable".into()
        }
    );
    // create_order is not compensated past a stuck step.
    assert!(!j.lock().unwrap().iter().any(|s| s.starts_with("undo")));
    c.span("saga.compensate reserve_inventory")
        .assert_error()
        .assert_attr("saga.step.attempts", 3i64);
    c.span("saga order").assert_attr("saga.outcome", "stuck");
    let stuck = saga.stuck().await.unwrap();
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].id, report.id);
    assert_eq!(
        c.collect_metrics()
            .sum_u64("saga.executions")
            .value_with(&[KeyValue::new("saga.outcome", "stuck")]),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn step_retries_and_timeout_make_the_step_in_doubt() {
    let c = Capture::new();
    let j = Journal::default();
    let jj = j.clone();
    let saga = Saga::builder("t")
        .step(step("a", &j, false, 0))
        .step(
            Step::new("slow", move |cx| {
                let j = jj.clone();
                async move {
                    j.lock().unwrap().push(format!("do slow #{}", cx.attempt));
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(())
                }
            })
            .attempts(2)
            .timeout(Duration::from_secs(1))
            .compensate_with({
                let j = j.clone();
                move |_| {
                    let j = j.clone();
                    async move {
                        j.lock().unwrap().push("undo slow".into());
                        Ok(())
                    }
                }
            }),
        )
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let r = saga.run(String::new()).await.unwrap();
    assert!(
        matches!(r.outcome, SagaOutcome::Compensated { ref error_type, .. } if error_type == "timeout")
    );
    // A timed-out action may have taken effect: it is compensated too.
    assert_eq!(
        *j.lock().unwrap(),
        ["do a", "do slow #1", "do slow #2", "undo slow", "undo a"]
    );
    let s = c.span("saga.step slow");
    s.assert_attr("saga.step.attempts", 2i64)
        .assert_event("saga.step.retry");
}

#[tokio::test]
async fn recover_finishes_or_compensates_logged_sagas() {
    let c = Capture::new();
    let j = Journal::default();
    let log = Arc::new(MemoryLog::new());
    let saga = Saga::builder("order")
        .step(step("create_order", &j, false, 0))
        .step(step("reserve_inventory", &j, false, 0))
        .step(step("charge_payment", &j, false, 0))
        .log(log.clone())
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    // What a crashed process left: one saga between steps, one mid-step.
    let original = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let entries = |states: [&str; 3]| -> Vec<LogEntry> {
        ["create_order", "reserve_inventory", "charge_payment"]
            .iter()
            .zip(states)
            .enumerate()
            .map(|(i, (n, s))| LogEntry {
                index: i as u32,
                name: (*n).into(),
                state: s.to_owned().into(),
                span: TraceParent::parse(original),
                error: None,
            })
            .collect()
    };
    let rec = |id: &str| LogRecord {
        id: id.into(),
        kind: "saga".into(),
        name: "order".into(),
        payload: "\"x\"".into(),
        status: "running".into(),
        span: TraceParent::parse(original),
    };
    log.create(&rec("a-between"), &entries(["done", "pending", "pending"]))
        .await
        .unwrap();
    log.create(&rec("b-midstep"), &entries(["done", "started", "pending"]))
        .await
        .unwrap();
    let reports = saga.recover().await.unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].outcome, SagaOutcome::Completed);
    assert!(reports[0].recovered);
    assert!(
        matches!(&reports[1].outcome, SagaOutcome::Compensated { failed_step, error_type }
        if failed_step == "reserve_inventory" && error_type == "process_restart")
    );
    assert_eq!(
        *j.lock().unwrap(),
        [
            "do reserve_inventory",
            "do charge_payment",
            "undo reserve_inventory",
            "undo create_order"
        ]
    );
    let roots = c.spans_named("saga order");
    assert_eq!(roots.len(), 2);
    for r in &roots {
        r.assert_attr("saga.recovered", true);
        assert_eq!(r.links().len(), 1);
        assert_eq!(
            to_traceparent(&r.links()[0].span_context)
                .unwrap()
                .encode()
                .as_str(),
            original
        );
    }
    assert!(saga.recover().await.unwrap().is_empty(), "nothing left");

    // The in-doubt policy `Retry` runs the step again instead.
    let j2 = Journal::default();
    let log2 = Arc::new(MemoryLog::new());
    log2.create(&rec("c"), &entries(["done", "started", "pending"]))
        .await
        .unwrap();
    let saga2 = Saga::builder("order")
        .step(step("create_order", &j2, false, 0))
        .step(step("reserve_inventory", &j2, false, 0))
        .step(step("charge_payment", &j2, false, 0))
        .log(log2)
        .in_doubt(InDoubt::Retry)
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    assert_eq!(
        saga2.recover().await.unwrap()[0].outcome,
        SagaOutcome::Completed
    );
    assert_eq!(
        *j2.lock().unwrap(),
        ["do reserve_inventory", "do charge_payment"]
    );
}

#[tokio::test]
async fn unsampled_saga_runs_without_step_spans() {
    use otel_kit_core::opentelemetry_sdk::trace::Sampler;
    let c = Capture::builder().sampler(Sampler::AlwaysOff).build();
    let j = Journal::default();
    let saga = order_saga(&c, &j, true);
    let r = saga.run(String::new()).await.unwrap();
    assert_eq!(r.outcome.as_str(), "compensated");
    assert!(c.spans().is_empty());
    assert_eq!(j.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn barrier_detects_duplicates_null_compensation_and_hanging() {
    use otel_kit_core::opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};
    let c = Capture::new();
    let tracer = c.tracer("participant");
    let barrier = Barrier::new(MemoryBarrierStore::default());
    let cx = otel_kit_core::opentelemetry::Context::current_with_span(tracer.start("handler"));
    async {
        let ok = || async { Ok::<_, ()>(()) };
        assert_eq!(
            barrier.action("g1", "b", ok()).await.unwrap(),
            BarrierResult::Ran
        );
        assert_eq!(
            barrier.action("g1", "b", ok()).await.unwrap(),
            BarrierResult::Duplicate
        );
        assert_eq!(
            barrier.compensation("g1", "b", ok()).await.unwrap(),
            BarrierResult::Ran
        );
        assert_eq!(
            barrier.compensation("g1", "b", ok()).await.unwrap(),
            BarrierResult::Duplicate
        );
        assert_eq!(
            barrier.compensation("g2", "b", ok()).await.unwrap(),
            BarrierResult::NullCompensation
        );
        assert_eq!(
            barrier.action("g2", "b", ok()).await.unwrap(),
            BarrierResult::Hanging
        );
        // A failed action can be retried.
        assert!(
            barrier
                .action("g3", "b", async { Err::<(), _>(()) })
                .await
                .is_err()
        );
        assert_eq!(
            barrier.action("g3", "b", ok()).await.unwrap(),
            BarrierResult::Ran
        );
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
    assert_eq!(
        h.events()
            .iter()
            .filter(|e| e.name == "saga.barrier.duplicate")
            .count(),
        2
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever step fails, and however often compensations fail
    /// transiently (within their retries), the completed steps are
    /// compensated exactly once each, newest first, and nothing else is.
    #[test]
    fn compensation_order_and_exactly_once(
        n in 1usize..7,
        fail_at in proptest::option::of(0usize..7),
        comp_failures in proptest::collection::vec(0u32..3, 7),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let c = Capture::new();
        let j = Journal::default();
        let mut b = Saga::builder("p").tracer_provider(&c.tracer_provider()).meter_provider(&c.meter_provider());
        for (i, failures) in comp_failures.iter().take(n).enumerate() {
            b = b.step(step(&format!("s{i}"), &j, fail_at == Some(i), *failures));
        }
        let saga = b.build();
        let report = rt.block_on(saga.run(String::new())).unwrap();
        let journal = j.lock().unwrap().clone();
        match fail_at.filter(|&f| f < n) {
            None => {
                prop_assert_eq!(report.outcome, SagaOutcome::Completed);
                let expect: Vec<String> = (0..n).map(|i| format!("do s{i}")).collect();
                prop_assert_eq!(journal, expect);
            }
            Some(f) => {
                prop_assert_eq!(report.outcome.as_str(), "compensated");
                let mut expect: Vec<String> = (0..=f).map(|i| format!("do s{i}")).collect();
                expect.extend((0..f).rev().map(|i| format!("undo s{i}")));
                prop_assert_eq!(journal, expect);
                prop_assert_eq!(c.spans_named("saga p").len(), 1);
                for i in 0..f {
                    let name = format!("saga.compensate s{i}");
                    let spans = c.spans_named(&name);
                    prop_assert_eq!(spans.len(), 1);
                }
            }
        }
    }
}

#[tokio::test]
async fn stuck_saga_resumes_after_the_cause_is_fixed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let c = Capture::new();
    let j = Journal::default();
    let fixed = Arc::new(AtomicBool::new(false));
    let (jj, f) = (j.clone(), fixed.clone());
    let saga = Saga::builder("order")
        .step(step("create_order", &j, false, 0))
        .step(
            Step::new("reserve_inventory", |_| async { Ok(()) }).compensate_with(move |_| {
                let (j, f) = (jj.clone(), f.clone());
                async move {
                    if !f.load(Ordering::SeqCst) {
                        return Err(StepError::new("unavailable", "down"));
                    }
                    j.lock().unwrap().push("undo reserve_inventory".into());
                    Ok(())
                }
            }),
        )
        .step(step("charge_payment", &j, true, 0))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .build();
    let r = saga.run("o".to_owned()).await.unwrap();
    assert_eq!(r.outcome.as_str(), "stuck");
    assert!(
        saga.recover().await.unwrap().is_empty(),
        "recover leaves stuck sagas alone"
    );
    fixed.store(true, Ordering::SeqCst);
    let r2 = saga.resume_stuck(&r.id).await.unwrap();
    assert_eq!(r2.outcome.as_str(), "compensated");
    assert_eq!(
        *j.lock().unwrap(),
        [
            "do create_order",
            "do charge_payment",
            "undo reserve_inventory",
            "undo create_order"
        ]
    );
    assert!(saga.stuck().await.unwrap().is_empty());
    assert!(matches!(
        saga.resume_stuck("nope").await,
        Err(otel_kit_patterns::saga::SagaError::NotFound(_))
    ));
}

#[tokio::test]
async fn run_in_makes_the_saga_a_child_of_the_given_context() {
    use otel_kit_core::opentelemetry::trace::{TraceContextExt, Tracer};
    let c = Capture::new();
    let j = Journal::default();
    let saga = order_saga(&c, &j, false);
    let cx = otel_kit_core::opentelemetry::Context::current_with_span(
        c.tracer("t").start("POST /orders"),
    );
    saga.run_in(&cx, "o".to_owned()).await.unwrap();
    cx.span().end();
    assert_parent(&c.span("saga order"), &c.span("POST /orders"));
}

/// A logged instance `id` of the two-step saga "order" (steps `a`, `b`)
/// with `status` and the two steps' states, as a crashed process left it.
fn logged_order(id: &str, status: &str, states: [&'static str; 2]) -> (LogRecord, Vec<LogEntry>) {
    let rec = LogRecord {
        id: id.to_owned(),
        kind: "saga".into(),
        name: "order".into(),
        payload: "\"x\"".into(),
        status: status.to_owned().into(),
        span: None,
    };
    let entries = ["a", "b"]
        .into_iter()
        .zip(states)
        .enumerate()
        .map(|(index, (name, state))| LogEntry {
            index: index as u32,
            name: name.into(),
            state: state.into(),
            span: None,
            error: None,
        })
        .collect();
    (rec, entries)
}

/// Two `recover()` calls at once over one log: each instance is claimed by
/// one of them, so every compensation runs exactly once.
#[tokio::test]
async fn concurrent_recoveries_compensate_each_instance_once() {
    let j: Journal = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::new(MemoryLog::new());
    let slow_step = |name: &'static str| {
        let j = j.clone();
        Step::new(name, |_cx| async { Ok(()) }).compensate_with(
            move |cx: otel_kit_patterns::saga::StepContext<String>| {
                let j = j.clone();
                async move {
                    // Yield so the other recovery runs in between.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    j.lock()
                        .unwrap()
                        .push(format!("undo {name} {}", cx.saga_id));
                    Ok(())
                }
            },
        )
    };
    let saga = Saga::<String>::builder("order")
        .step(slow_step("a"))
        .step(slow_step("b"))
        .log(log.clone())
        .build();
    for i in 0..8 {
        let (rec, entries) = logged_order(&format!("s{i}"), "running", ["done", "started"]);
        log.create(&rec, &entries).await.unwrap();
    }
    let (r1, r2) = tokio::join!(saga.recover(), saga.recover());
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(r1.len() + r2.len(), 8, "{r1:?} {r2:?}");
    let mut undone = j.lock().unwrap().clone();
    undone.sort();
    let mut expected: Vec<String> = (0..8)
        .flat_map(|i| [format!("undo a s{i}"), format!("undo b s{i}")])
        .collect();
    expected.sort();
    assert_eq!(undone, expected);
    // Claims are given back: nothing left open to recover.
    assert!(saga.recover().await.unwrap().is_empty());
}

/// A recovery that runs longer than the recovery lease keeps its claim (it
/// is renewed while the recovery runs): a second `recover()` started after
/// the lease would have expired finds the instance claimed and leaves it,
/// so its slow compensation runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_longer_than_the_lease_keeps_its_claim() {
    let j: Journal = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::new(MemoryLog::new());
    let undo = {
        let j = j.clone();
        move |cx: otel_kit_patterns::saga::StepContext<String>| {
            let j = j.clone();
            async move {
                // More than three leases long.
                tokio::time::sleep(Duration::from_millis(1000)).await;
                j.lock().unwrap().push(format!("undo a {}", cx.saga_id));
                Ok(())
            }
        }
    };
    let saga = Saga::<String>::builder("order")
        .step(Step::new("a", |_cx| async { Ok(()) }).compensate_with(undo))
        .step(Step::new("b", |_cx| async { Ok(()) }))
        .log(log.clone())
        .recovery_lease(Duration::from_millis(300))
        .build();
    let (rec, entries) = logged_order("s0", "compensating", ["done", "failed"]);
    log.create(&rec, &entries).await.unwrap();
    let first = tokio::spawn({
        let saga = saga.clone();
        async move { saga.recover().await }
    });
    // Two leases in: without renewal the claim would have lapsed by now.
    tokio::time::sleep(Duration::from_millis(650)).await;
    let second = saga.recover().await.unwrap();
    assert!(
        second.is_empty(),
        "second recovery took the instance over: {second:?}"
    );
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(*j.lock().unwrap(), vec!["undo a s0".to_owned()]);
}

/// The saga API runs on any executor: recovery driven by a plain
/// thread-parking executor (no Tokio runtime), with a compensation that
/// is pending once, finishes without the claim renewal's timer.
#[test]
fn recovery_outside_a_tokio_runtime_needs_no_timer() {
    use std::future::Future;
    use std::task::{Context, Poll, Wake, Waker};
    fn block_on<F: Future>(f: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }
    /// Pending once (waking itself), then ready.
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    let j: Journal = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::new(MemoryLog::new());
    let undo = {
        let j = j.clone();
        move |cx: otel_kit_patterns::saga::StepContext<String>| {
            let j = j.clone();
            async move {
                YieldOnce(false).await;
                j.lock().unwrap().push(format!("undo a {}", cx.saga_id));
                Ok(())
            }
        }
    };
    let saga = Saga::<String>::builder("order")
        .step(Step::new("a", |_cx| async { Ok(()) }).compensate_with(undo))
        .step(Step::new("b", |_cx| async { Ok(()) }))
        .log(log.clone())
        .build();
    let (rec, entries) = logged_order("s0", "compensating", ["done", "failed"]);
    block_on(log.create(&rec, &entries)).unwrap();
    let reports = block_on(saga.recover()).unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(*j.lock().unwrap(), vec!["undo a s0".to_owned()]);
}

/// A Tokio runtime built without the time driver: the claim renewal keeps
/// its period on a timer thread of its own (Tokio's timer would panic
/// there), and does renew: a compensation longer than three leases still
/// holds the claim when it ends.
#[test]
fn recovery_on_a_runtime_without_timers_renews_its_claim() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let log = Arc::new(MemoryLog::new());
        let lease = Duration::from_millis(300);
        let undo = {
            let log = log.clone();
            move |cx: otel_kit_patterns::saga::StepContext<String>| {
                let log = log.clone();
                async move {
                    // More than three leases, waited without Tokio's timer.
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(1000));
                        let _ = tx.send(());
                    });
                    rx.await.unwrap();
                    if log
                        .claim(&cx.saga_id, "another", &["compensating"], lease)
                        .await
                        .unwrap()
                    {
                        return Err(StepError::new("claim_lapsed", "claim not renewed"));
                    }
                    Ok(())
                }
            }
        };
        let saga = Saga::<String>::builder("order")
            .step(
                Step::new("a", |_cx| async { Ok(()) })
                    .compensate_with(undo)
                    // One attempt: a retry's backoff would need Tokio's timer.
                    .compensation_retry(StepRetry::default()),
            )
            .step(Step::new("b", |_cx| async { Ok(()) }))
            .log(log.clone())
            .recovery_lease(lease)
            .build();
        let (rec, entries) = logged_order("s0", "compensating", ["done", "failed"]);
        log.create(&rec, &entries).await.unwrap();
        let reports = saga.recover().await.unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].outcome.as_str(), "compensated", "{reports:?}");
    });
}
