//! [`SagaBuilder`]: a saga definition's steps, log, recovery policy and
//! telemetry options.

use super::{InDoubt, Saga, SagaInner, Step};
use crate::instrumentation::Instruments;
use crate::log::{MemoryLog, SagaLog};
use crate::names;
use otel_kit_core::instrument::{Options, duration_histogram, intern_span_name};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Default of [`SagaBuilder::recovery_lease`].
pub(crate) const DEFAULT_RECOVERY_LEASE: Duration = Duration::from_secs(300);

/// Builder of a [`Saga`], from [`Saga::builder`]. Records through the
/// global providers unless told otherwise (`tracer_provider`,
/// `meter_provider`, `logger_provider`, `exception_signal`: the family's
/// shared setters).
///
/// ```no_run
/// use otel_kit_patterns::log::PostgresLog;
/// use otel_kit_patterns::saga::{InDoubt, Saga, Step};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let log = PostgresLog::connect("postgres://postgres@127.0.0.1:5432/test", "sagas").await?;
/// let saga = Saga::<String>::builder("order")
///     .step(Step::new("reserve", |_| async { Ok(()) }))
///     .log(Arc::new(log))
///     .in_doubt(InDoubt::Compensate)
///     .recovery_lease(Duration::from_secs(60))
///     .build();
/// // At start-up: finish what a crashed process left.
/// saga.recover().await?;
/// # Ok(()) }
/// ```
pub struct SagaBuilder<I> {
    pub(super) name: Arc<str>,
    pub(super) steps: Vec<Step<I>>,
    pub(super) log: Option<Arc<dyn SagaLog>>,
    pub(super) in_doubt: InDoubt,
    pub(super) recovery_lease: Duration,
    pub(super) options: Options,
}

impl<I> fmt::Debug for SagaBuilder<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SagaBuilder")
            .field("name", &self.name)
            .finish()
    }
}

impl<I: Serialize + DeserializeOwned + Send + Sync + 'static> SagaBuilder<I> {
    otel_kit_core::instrumentation_setters!(options: providers, exceptions);

    /// Appends a step.
    pub fn step(mut self, step: Step<I>) -> Self {
        self.steps.push(step);
        self
    }
    /// The log (default: a new [`MemoryLog`]).
    pub fn log(mut self, log: Arc<dyn SagaLog>) -> Self {
        self.log = Some(log);
        self
    }
    /// What recovery does with a step that was running when the process died.
    pub fn in_doubt(mut self, policy: InDoubt) -> Self {
        self.in_doubt = policy;
        self
    }
    /// How long a claim of [`Saga::recover`] or [`Saga::resume_stuck`] on
    /// an instance lasts unless renewed (default 5 minutes). The recovery
    /// renews it every third of the lease while it runs, so a long one
    /// (compensations and their retries) keeps the instance; the lease
    /// bounds how long an instance stays claimed after the process
    /// recovering it died, before another recovery may take it over.
    /// Renewal runs on a timer thread of its own, on any executor (a Tokio
    /// runtime without the time driver too).
    pub fn recovery_lease(mut self, lease: Duration) -> Self {
        self.recovery_lease = lease;
        self
    }

    /// Builds the definition.
    pub fn build(self) -> Saga<I> {
        let Instruments {
            tracer,
            meter: m,
            exceptions,
        } = Instruments::resolve(self.options);
        let executions = m
            .u64_counter(names::SAGA_EXECUTIONS)
            .with_unit("{execution}")
            .with_description("Saga runs by outcome.")
            .build();
        let duration = duration_histogram(&m, names::SAGA_DURATION, "Duration of saga runs.");
        let compensations = m
            .u64_counter(names::SAGA_COMPENSATIONS)
            .with_unit("{compensation}")
            .with_description("Compensations run, by outcome.")
            .build();
        Saga {
            inner: Arc::new(SagaInner {
                span_name: intern_span_name(Cow::Owned(format!("saga {}", self.name))),
                name: self.name,
                steps: self.steps,
                log: self.log.unwrap_or_else(|| Arc::new(MemoryLog::new())),
                in_doubt: self.in_doubt,
                recovery_lease: self.recovery_lease,
                tracer,
                exceptions,
                executions,
                duration,
                compensations,
            }),
        }
    }
}
