//! The family's one failure rule, as every pattern applies it: `error.type`
//! (a class the error names, else the full Rust type path, else `_OTHER`),
//! status Error, and an exception (span event or log record) for errors
//! raised as such; none for failures that explain themselves.

use futures_util::future::BoxFuture;
use otel_kit_core::config::ExceptionSignal;
use otel_kit_core::opentelemetry::Value;
use otel_kit_core::opentelemetry::logs::{AnyValue, Severity};
use otel_kit_core::testing::{Capture, CapturedSpan};
use otel_kit_patterns::BoxError;
use otel_kit_patterns::breaker::{CircuitBreaker, Outcome};
use otel_kit_patterns::retry::RetryPolicy;
use otel_kit_patterns::saga::{Saga, Step, StepError};
use otel_kit_patterns::twopc::{Coordinator, Participant, TxOutcome};
use std::sync::Arc;
use std::time::Duration;

/// The span failed with `error_type`, and carries an `exception` event of
/// that type when `exception` is set (none otherwise).
fn assert_failed(span: &CapturedSpan, error_type: &str, exception: bool) {
    span.assert_error().assert_attr("error.type", error_type);
    match span.event("exception") {
        Some(_) if exception => assert_eq!(
            span.event_attr("exception", "exception.type"),
            Some(&Value::from(error_type.to_owned())),
            "span `{}`",
            span.name()
        ),
        None if !exception => {}
        e => panic!(
            "span `{}`: exception event {e:?}, expected one: {exception}",
            span.name()
        ),
    }
}

async fn run_one_step<F, Fut>(c: &Capture, action: F) -> String
where
    F: Fn(otel_kit_patterns::saga::StepContext<()>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), StepError>> + Send + 'static,
{
    let saga = Saga::<()>::builder("s")
        .step(Step::new("a", |_| async { Ok(()) }).compensate_with(|_| async { Ok(()) }))
        .step(Step::new("b", action))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .exception_signal(ExceptionSignal::SpanEvents)
        .build();
    let report = saga.run(()).await.unwrap();
    match report.outcome {
        otel_kit_patterns::saga::SagaOutcome::Compensated { error_type, .. } => error_type,
        o => panic!("{o:?}"),
    }
}

#[tokio::test]
async fn saga_step_error_type_is_the_step_error_class() {
    let c = Capture::new();
    let et = run_one_step(&c, |_| async {
        Err::<(), _>(StepError::new("declined", "card refused"))
    })
    .await;
    assert_eq!(et, "declined");
    let step = c.span("saga.step b");
    assert_failed(&step, "declined", true);
    assert_eq!(
        step.event_attr("exception", "exception.message"),
        Some(&Value::from("declined: card refused"))
    );
    assert_eq!(step.error_description(), Some("declined: card refused"));
    // The saga span fails with the step's class; the exception is the step's.
    assert_failed(&c.span("saga s"), "declined", false);
    c.span("saga.compensate a")
        .assert_attr("saga.compensation.trigger.error_type", "declined")
        .assert_not_error();
}

#[tokio::test]
async fn saga_step_error_type_of_a_boxed_step_error_is_its_class() {
    let c = Capture::new();
    let et = run_one_step(&c, |_| async {
        let boxed: BoxError = StepError::new("declined", "x").into();
        Err(StepError::from_boxed(boxed))
    })
    .await;
    assert_eq!(et, "declined");
    assert_failed(&c.span("saga.step b"), "declined", true);
}

#[tokio::test]
async fn saga_step_error_type_of_another_boxed_error_is_other() {
    let c = Capture::new();
    let et = run_one_step(&c, |_| async {
        let boxed: BoxError = std::io::Error::other("disk full").into();
        Err(StepError::from_boxed(boxed))
    })
    .await;
    assert_eq!(et, "_OTHER");
    let step = c.span("saga.step b");
    assert_failed(&step, "_OTHER", true);
    assert_eq!(
        step.event_attr("exception", "exception.message"),
        Some(&Value::from("disk full"))
    );
    assert_failed(&c.span("saga s"), "_OTHER", false);
}

#[tokio::test]
async fn saga_step_error_type_of_a_typed_error_is_its_type_path() {
    let c = Capture::new();
    let et = run_one_step(&c, |_| async {
        // `?` converts any error, keeping its type path.
        Err(std::io::Error::other("disk full"))?;
        Ok(())
    })
    .await;
    assert_eq!(et, "std::io::error::Error");
    assert_failed(&c.span("saga.step b"), "std::io::error::Error", true);
}

#[tokio::test(start_paused = true)]
async fn saga_step_timeout_is_not_an_exception() {
    let c = Capture::new();
    let saga = Saga::<()>::builder("s")
        .step(
            Step::new("slow", |_| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            })
            .timeout(Duration::from_secs(1)),
        )
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .exception_signal(ExceptionSignal::SpanEvents)
        .build();
    saga.run(()).await.unwrap();
    assert_failed(&c.span("saga.step slow"), "timeout", false);
}

#[tokio::test]
async fn saga_exceptions_as_logs_go_out_sampled_or_not() {
    use otel_kit_core::opentelemetry_sdk::trace::Sampler;
    for sampled in [true, false] {
        let c = Capture::builder()
            .sampler(if sampled {
                Sampler::AlwaysOn
            } else {
                Sampler::AlwaysOff
            })
            .build();
        let saga = Saga::<()>::builder("s")
            .step(Step::new("b", |_| async {
                Err::<(), _>(StepError::new("declined", "card refused"))
            }))
            .tracer_provider(&c.tracer_provider())
            .meter_provider(&c.meter_provider())
            .logger_provider(&c.logger_provider())
            .exception_signal(ExceptionSignal::Logs)
            .build();
        saga.run(()).await.unwrap();
        let logs = c.logs();
        assert_eq!(logs.len(), 1, "sampled: {sampled}");
        let log = &logs[0];
        assert_eq!(log.event_name(), Some("saga.step.exception"));
        assert_eq!(log.severity(), Some(Severity::Error));
        assert_eq!(
            log.attr("exception.type"),
            Some(&AnyValue::from("declined"))
        );
        assert_eq!(log.scope().name(), "otel-kit-patterns");
        if sampled {
            let step = c.span("saga.step b");
            // Logs only: status and error.type, no span event.
            assert_failed(&step, "declined", false);
            assert_eq!(log.span_id(), Some(step.span_id()));
        } else {
            assert!(c.spans().is_empty());
            assert!(log.trace_id().is_some());
        }
    }
}

#[tokio::test]
async fn retry_error_type_is_the_full_type_path() {
    let c = Capture::new();
    let policy = RetryPolicy::builder("op")
        .max_attempts(2)
        .initial_backoff(Duration::from_millis(1))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .exception_signal(ExceptionSignal::SpanEvents)
        .build();
    let r: Result<(), std::io::Error> = policy
        .run_on_error(|_| async { Err(std::io::Error::other("down")) })
        .await;
    assert!(r.is_err());
    for attempt in c.spans_named("retry.attempt") {
        assert_failed(&attempt, "std::io::error::Error", true);
    }
    // The call span: the last attempt's error.type; its exception is the
    // attempt's.
    let call = c.span("retry");
    assert_failed(&call, "std::io::error::Error", false);
    assert_eq!(call.error_description(), Some("attempts_exhausted"));
}

#[tokio::test]
async fn retry_error_type_of_a_boxed_error_is_other() {
    let c = Capture::new();
    let policy = RetryPolicy::builder("op")
        .max_attempts(1)
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .exception_signal(ExceptionSignal::SpanEvents)
        .build();
    let r: Result<(), BoxError> = policy.run_on_error(|_| async { Err("down".into()) }).await;
    assert!(r.is_err());
    assert_failed(&c.span("retry.attempt"), "_OTHER", true);
    assert_failed(&c.span("retry"), "_OTHER", false);
}

struct Db {
    name: &'static str,
    prepare: fn() -> Result<(), BoxError>,
}

impl Participant for Db {
    fn name(&self) -> &str {
        self.name
    }
    fn prepare<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        let r = (self.prepare)();
        Box::pin(async move { r })
    }
    fn commit<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async { Ok(()) })
    }
    fn rollback<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn twopc_participant_error_type_is_its_class_else_other() {
    let c = Capture::new();
    let coordinator = Coordinator::builder("transfer")
        .participant(Arc::new(Db {
            name: "accounts",
            prepare: || Err(StepError::new("constraint_violation", "no").into()),
        }))
        .participant(Arc::new(Db {
            name: "ledger",
            prepare: || Err(std::io::Error::other("disk full").into()),
        }))
        .participant(Arc::new(Db {
            name: "audit",
            prepare: || Ok(()),
        }))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .exception_signal(ExceptionSignal::SpanEvents)
        .build();
    let report = coordinator.run().await.unwrap();
    assert_eq!(report.outcome, TxOutcome::RolledBack);
    assert_failed(&c.span("tx.prepare accounts"), "constraint_violation", true);
    let ledger = c.span("tx.prepare ledger");
    assert_failed(&ledger, "_OTHER", true);
    assert_eq!(
        ledger.event_attr("exception", "exception.message"),
        Some(&Value::from("disk full"))
    );
    c.span("tx.prepare audit").assert_not_error();
    // The transaction: the first refusal's error.type, no exception.
    let tx = c.span("tx transfer");
    assert_failed(&tx, "constraint_violation", false);
    assert_eq!(tx.error_description(), Some("rolled_back"));
}

#[tokio::test(start_paused = true)]
async fn twopc_prepare_timeout_is_not_an_exception() {
    let c = Capture::new();
    struct Hang;
    impl Participant for Hang {
        fn name(&self) -> &str {
            "hang"
        }
        fn prepare<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
        }
        fn commit<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
        fn rollback<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
    }
    let coordinator = Coordinator::builder("t")
        .participant(Arc::new(Hang))
        .prepare_timeout(Duration::from_secs(1))
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .exception_signal(ExceptionSignal::SpanEvents)
        .build();
    assert_eq!(
        coordinator.run().await.unwrap().outcome,
        TxOutcome::RolledBack
    );
    assert_failed(&c.span("tx.prepare hang"), "timeout", false);
    assert_failed(&c.span("tx t"), "timeout", false);
}

#[tokio::test]
async fn breaker_rejection_is_circuit_open_without_exception() {
    let c = Capture::new();
    let breaker = CircuitBreaker::builder("b")
        .count_window(2)
        .minimum_calls(2)
        .tracer_provider(&c.tracer_provider())
        .meter_provider(&c.meter_provider())
        .exception_signal(ExceptionSignal::SpanEvents)
        .build();
    for _ in 0..2 {
        breaker.try_acquire().unwrap().record(Outcome::Failure);
    }
    assert!(breaker.try_acquire().is_err());
    let rejected = c.span("circuit_breaker.rejected");
    assert_failed(&rejected, "circuit_open", false);
    rejected.assert_attr("circuit_breaker.state", "open");
    assert_eq!(rejected.error_description(), Some("circuit open"));
}
