//! With no provider given, every pattern records through the global
//! providers (the ones `otel_kit_core::init` installs): no call needed. Its own
//! test binary, since it sets the process's global tracer provider.

use otel_kit_core::opentelemetry::global;
use otel_kit_core::testing::Capture;
use otel_kit_patterns::breaker::{CircuitBreaker, Outcome};
use otel_kit_patterns::retry::RetryPolicy;
use otel_kit_patterns::saga::{Saga, Step};
use otel_kit_patterns::twopc::Coordinator;

#[tokio::test]
async fn builders_default_to_the_global_providers() {
    let c = Capture::new();
    global::set_tracer_provider(c.tracer_provider());
    global::set_meter_provider(c.meter_provider());

    let saga = Saga::<()>::builder("s")
        .step(Step::new("a", |_| async { Ok(()) }))
        .build();
    saga.run(()).await.unwrap();
    let policy = RetryPolicy::builder("op").build();
    policy
        .run_on_error(|_| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap();
    Coordinator::builder("t").build().run().await.unwrap();
    let breaker = CircuitBreaker::builder("b")
        .count_window(1)
        .minimum_calls(1)
        .build();
    breaker.try_acquire().unwrap().record(Outcome::Failure);
    assert!(breaker.try_acquire().is_err());

    for name in [
        "saga s",
        "saga.step a",
        "retry",
        "tx t",
        "circuit_breaker.rejected",
    ] {
        let scope = c.span(name).into_inner().instrumentation_scope;
        assert_eq!(scope.name(), "otel-kit-patterns", "{name}");
        assert_eq!(scope.version(), Some(env!("CARGO_PKG_VERSION")));
        assert_eq!(scope.schema_url(), Some(otel_kit_core::semconv::SCHEMA_URL));
    }
    let m = c.collect_metrics();
    assert_eq!(m.metric("saga.executions").scope(), "otel-kit-patterns");
}
