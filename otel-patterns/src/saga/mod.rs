//! Traced, durable sagas: named steps, each an action and a compensation;
//! on a failure the completed steps are compensated in reverse order. Every
//! state change is written to a [`SagaLog`] before it is acted on, so
//! [`Saga::recover`] can finish or compensate the sagas of a crashed process.
//!
//! States written to the log (`LogRecord::status`): `running`,
//! `compensating`, `completed`, `compensated`, `stuck`. Step states
//! (`LogEntry::state`): `pending`, `started`, `done`, `failed`, `in_doubt`
//! (timed out, or found `started` by recovery: it may have taken effect, so
//! it is compensated too), `compensating`, `compensated`,
//! `compensation_failed`.
//!
//! A saga is `stuck` when a compensation still fails after its retries: the
//! outcome says which step, the log keeps it (find it with
//! [`Saga::stuck`]), and `saga.executions` counts it; it is never dropped.
//! `recover` does not retry stuck sagas: an operator fixes the cause, then
//! calls [`Saga::resume_stuck`].
//!
//! Recovery claims each instance in the log before resuming it
//! ([`SagaLog::claim`], a lease; `PostgresLog` keeps it in the record's
//! row), so concurrent `recover` calls, in one process or several, never
//! resume or compensate one instance twice.

pub mod barrier;
pub(crate) mod log;
#[cfg(feature = "postgres")]
mod postgres;

pub use log::{
    LogEntry, LogError, LogRecord, LoggedInstance, MemoryLog, SagaLog, from_traceparent,
    to_traceparent,
};
pub use otel_kit_core::propagation::TraceParent;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresLog, TxBarrier};

use crate::failure::{self, SAGA_EXCEPTION, SAGA_STEP_EXCEPTION};
use crate::instrumentation::{self, Instruments, shared_kv};
use crate::names;
use crate::retry::Backoff;
use futures_util::future::BoxFuture;
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::trace::{FutureExt, Link, SpanBuilder, SpanContext, SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use otel_kit_core::instrument::{
    ErrorRecord, ExceptionEvents, Options, SpanStarter, duration_histogram, intern_span_name,
};
use otel_kit_core::opentelemetry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The error type of actions and compensations.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error with an explicit `error.type` for the step span (a class the
/// error names, rule 2 of the family's `error.type` rule). Any other error
/// of a step is recorded with its full Rust type path
/// (`std::io::error::Error`) when the step's error type is a concrete type,
/// or `_OTHER` when it is a type-erased [`BoxError`] (that does not hold a
/// `StepError`).
///
/// ```
/// use otel_kit_patterns::saga::{Saga, Step, StepError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let saga = Saga::<()>::builder("order")
///     .step(Step::new("charge_payment", |_| async {
///         Err::<(), _>(StepError::new("declined", "card refused"))
///     }))
///     .build();
/// let report = saga.run(()).await.unwrap();
/// assert_eq!(report.outcome.as_str(), "compensated");
/// # }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct StepError {
    /// The low-cardinality class recorded as `error.type`.
    pub error_type: Cow<'static, str>,
    /// A description.
    pub message: String,
}

impl StepError {
    /// A new error of class `error_type`.
    pub fn new(error_type: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        StepError {
            error_type: error_type.into(),
            message: message.into(),
        }
    }
}

/// A failed attempt of an action or compensation: its `error.type` (taken
/// while the error's type was still known) and message.
struct StepFailure {
    error_type: Cow<'static, str>,
    message: String,
}

/// What an action or compensation is given.
#[derive(Debug)]
pub struct StepContext<I> {
    /// `saga.id`.
    pub saga_id: Arc<str>,
    /// The step's name (with the saga id, the barrier's branch key).
    pub step: Arc<str>,
    /// Attempt number, 1 for the first.
    pub attempt: u32,
    /// The saga's input.
    pub input: Arc<I>,
}

type ActionFn<I> =
    Arc<dyn Fn(StepContext<I>) -> BoxFuture<'static, Result<(), StepFailure>> + Send + Sync>;

/// Retries and timeout of one step's action or compensation.
#[derive(Debug, Clone, Copy)]
pub struct StepRetry {
    /// Attempts in total (at least 1).
    pub max_attempts: u32,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Limit of each attempt; a timed-out action is `in_doubt`.
    pub timeout: Option<Duration>,
}

impl Default for StepRetry {
    fn default() -> Self {
        StepRetry {
            max_attempts: 1,
            backoff: Backoff::default(),
            timeout: None,
        }
    }
}

/// One step of a saga definition.
pub struct Step<I> {
    name: Arc<str>,
    action: ActionFn<I>,
    compensation: Option<ActionFn<I>>,
    action_retry: StepRetry,
    compensation_retry: StepRetry,
    span_name: Cow<'static, str>,
    comp_span_name: Cow<'static, str>,
}

impl<I> fmt::Debug for Step<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step").field("name", &self.name).finish()
    }
}

fn boxed<I, F, Fut, E>(f: F) -> ActionFn<I>
where
    F: Fn(StepContext<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError>,
{
    Arc::new(move |cx| {
        let fut = f(cx);
        Box::pin(async move {
            fut.await.map_err(|e| {
                let fallback = otel_kit_core::instrument::type_error_type::<E>();
                let e: BoxError = e.into();
                StepFailure {
                    error_type: failure::boxed_error_type(&e, fallback),
                    message: e.to_string(),
                }
            })
        })
    })
}

impl<I: Send + Sync + 'static> Step<I> {
    /// A step with an action and no compensation.
    pub fn new<F, Fut, E>(name: impl Into<Arc<str>>, action: F) -> Self
    where
        F: Fn(StepContext<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let name: Arc<str> = name.into();
        Step {
            // Interned: shared by every run's spans, no copy per span.
            span_name: intern_span_name(Cow::Owned(format!("saga.step {name}"))),
            comp_span_name: intern_span_name(Cow::Owned(format!("saga.compensate {name}"))),
            name,
            action: boxed(action),
            compensation: None,
            action_retry: StepRetry::default(),
            compensation_retry: StepRetry {
                max_attempts: 3,
                ..StepRetry::default()
            },
        }
    }

    /// The compensation undoing the action.
    pub fn compensate_with<F, Fut, E>(mut self, compensation: F) -> Self
    where
        F: Fn(StepContext<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.compensation = Some(boxed(compensation));
        self
    }

    /// Retries of the action (default: one attempt, no timeout).
    pub fn retry(mut self, r: StepRetry) -> Self {
        self.action_retry = r;
        self
    }

    /// Attempts of the action with the default backoff.
    pub fn attempts(mut self, n: u32) -> Self {
        self.action_retry.max_attempts = n.max(1);
        self
    }

    /// Timeout of each action attempt.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.action_retry.timeout = Some(d);
        self
    }

    /// Retries of the compensation (default: 3 attempts); when they run out
    /// the saga is `stuck`.
    pub fn compensation_retry(mut self, r: StepRetry) -> Self {
        self.compensation_retry = r;
        self
    }
}

/// How [`Saga::recover`] treats a step found `started` (the process died
/// while it ran, so whether it took effect is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InDoubt {
    /// Compensate it with the completed steps (its compensation must accept
    /// an action that never ran: use the [`barrier`]). Default.
    #[default]
    Compensate,
    /// Run it again, then go on (its action must be idempotent).
    Retry,
}

/// How a saga ended (`saga.outcome`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaOutcome {
    /// Every step completed.
    Completed,
    /// A step failed and every step that needed it was compensated.
    Compensated {
        /// The step that failed.
        failed_step: String,
        /// Its `error.type`.
        error_type: String,
    },
    /// A compensation kept failing: manual action needed.
    Stuck {
        /// The step whose compensation failed.
        step: String,
        /// The compensation's `error.type`.
        error_type: String,
    },
}

impl SagaOutcome {
    /// The attribute value.
    pub fn as_str(&self) -> &'static str {
        match self {
            SagaOutcome::Completed => "completed",
            SagaOutcome::Compensated { .. } => "compensated",
            SagaOutcome::Stuck { .. } => "stuck",
        }
    }
}

/// The result of one saga run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaReport {
    /// `saga.id`.
    pub id: String,
    /// How it ended.
    pub outcome: SagaOutcome,
    /// Whether the run was a recovery.
    pub recovered: bool,
}

/// Why a saga run stopped without an outcome.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// The log refused a write; nothing was acted on past it, and the saga
    /// stays in the log for [`Saga::recover`].
    #[error(transparent)]
    Log(#[from] LogError),
    /// The input could not be (de)serialized for the log.
    #[error("saga input: {0}")]
    Input(#[from] serde_json::Error),
    /// No saga with this id in the log.
    #[error("no saga {0} in the log")]
    NotFound(String),
    /// The saga is not in the state asked for (e.g. no longer `stuck`), or
    /// another recovery holds its claim.
    #[error("saga {0} is claimed by another recovery or no longer stuck")]
    Claimed(String),
}

/// A saga definition; cheap to clone, run it any number of times.
pub struct Saga<I> {
    inner: Arc<SagaInner<I>>,
}

impl<I> Clone for Saga<I> {
    fn clone(&self) -> Self {
        Saga {
            inner: self.inner.clone(),
        }
    }
}

impl<I> fmt::Debug for Saga<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Saga")
            .field("name", &self.inner.name)
            .field("steps", &self.inner.steps)
            .finish()
    }
}

struct SagaInner<I> {
    name: Arc<str>,
    span_name: Cow<'static, str>,
    steps: Vec<Step<I>>,
    log: Arc<dyn SagaLog>,
    in_doubt: InDoubt,
    recovery_lease: Duration,
    tracer: SpanStarter,
    exceptions: ExceptionEvents,
    executions: Counter<u64>,
    duration: Histogram<f64>,
    compensations: Counter<u64>,
}

/// Builder of a [`Saga`].
pub struct SagaBuilder<I> {
    name: Arc<str>,
    steps: Vec<Step<I>>,
    log: Option<Arc<dyn SagaLog>>,
    in_doubt: InDoubt,
    recovery_lease: Duration,
    options: Options,
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
    /// Renewal uses Tokio's timer; a recovery polled outside a Tokio
    /// runtime holds its claim for one lease, unrenewed.
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

const KIND: &str = "saga";

/// Default of [`SagaBuilder::recovery_lease`].
const DEFAULT_RECOVERY_LEASE: Duration = Duration::from_secs(300);

mod st {
    pub(crate) const RUNNING: &str = "running";
    pub(crate) const COMPENSATING: &str = "compensating";
    pub(crate) const COMPLETED: &str = "completed";
    pub(crate) const COMPENSATED: &str = "compensated";
    pub(crate) const STUCK: &str = "stuck";
    pub(crate) const PENDING: &str = "pending";
    pub(crate) const STARTED: &str = "started";
    pub(crate) const DONE: &str = "done";
    pub(crate) const FAILED: &str = "failed";
    pub(crate) const IN_DOUBT: &str = "in_doubt";
    pub(crate) const STEP_COMPENSATING: &str = "compensating";
    pub(crate) const STEP_COMPENSATED: &str = "compensated";
    pub(crate) const COMPENSATION_FAILED: &str = "compensation_failed";
}

/// The failure that triggered compensations.
struct Trigger {
    step: Arc<str>,
    error_type: String,
    span: Option<SpanContext>,
}

enum Attempted {
    Ok(u32),
    Failed {
        attempts: u32,
        error_type: String,
        /// The error's message (`None`: timed out).
        message: Option<String>,
    },
}

impl<I: Serialize + DeserializeOwned + Send + Sync + 'static> Saga<I> {
    /// A new definition named `name` (`saga.name`).
    pub fn builder(name: impl Into<Arc<str>>) -> SagaBuilder<I> {
        SagaBuilder {
            name: name.into(),
            steps: Vec::new(),
            log: None,
            in_doubt: InDoubt::default(),
            recovery_lease: DEFAULT_RECOVERY_LEASE,
            options: instrumentation::options(),
        }
    }

    /// The definition's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The log.
    pub fn log(&self) -> &Arc<dyn SagaLog> {
        &self.inner.log
    }

    /// Runs a new instance with a random id, under the current context.
    pub async fn run(&self, input: I) -> Result<SagaReport, SagaError> {
        self.run_with_id(uuid::Uuid::new_v4().to_string(), input)
            .await
    }

    /// Runs a new instance with a random id as a child of `parent`.
    pub async fn run_in(&self, parent: &Context, input: I) -> Result<SagaReport, SagaError> {
        self.run(input).with_context(parent.clone()).await
    }

    /// Runs a new instance with the given id (unique in the log).
    pub async fn run_with_id(
        &self,
        id: impl Into<String>,
        input: I,
    ) -> Result<SagaReport, SagaError> {
        let s = &*self.inner;
        let id: String = id.into();
        let started = std::time::Instant::now();
        let parent = Context::current();
        let root = self.root_span(&parent, &id, false, None);
        let payload = serde_json::to_string(&input)?;
        let record = LogRecord {
            id: id.clone(),
            kind: Cow::Borrowed(KIND),
            name: String::from(&*s.name),
            payload,
            status: Cow::Borrowed(st::RUNNING),
            span: to_traceparent(root.span().span_context()),
        };
        let entries: Vec<LogEntry> = s
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| LogEntry {
                index: i as u32,
                name: step.name.clone(),
                state: Cow::Borrowed(st::PENDING),
                span: None,
                error: None,
            })
            .collect();
        if let Err(e) = s.log.create(&record, &entries).await {
            self.end_root(&root, Err(&e));
            return Err(e.into());
        }
        let r = self
            .drive(&root, &id, Arc::new(input), entries, 0, None)
            .await;
        self.finish(&root, &id, r, started, false)
    }

    fn root_span(
        &self,
        parent: &Context,
        id: &str,
        recovered: bool,
        original: Option<SpanContext>,
    ) -> Context {
        let s = &*self.inner;
        let mut b = SpanBuilder::from_name(s.span_name.clone())
            .with_kind(SpanKind::Internal)
            .with_attributes({
                // Room for `saga.outcome` and `error.type`, set at the end,
                // so the SDK's attribute vector never reallocates.
                let mut attrs = Vec::with_capacity(5);
                attrs.extend([
                    shared_kv(names::SAGA_NAME, s.name.clone()),
                    KeyValue::new(names::SAGA_ID, id.to_owned()),
                    KeyValue::new(names::SAGA_RECOVERED, recovered),
                ]);
                attrs
            });
        if let Some(o) = original {
            b = b.with_links(vec![Link::new(
                o,
                vec![KeyValue::new(names::SAGA_LINK_ROLE, "original")],
                0,
            )]);
        }
        s.tracer.start_simple(b, parent)
    }

    fn end_root(&self, root: &Context, r: Result<&SagaOutcome, &LogError>) {
        let s = &*self.inner;
        let failed = |error_type: &str, message: &'static str| ErrorRecord {
            error_type: Cow::Owned(error_type.to_owned()),
            message: Some(Cow::Borrowed(message)),
            // The step or compensation span recorded the exception.
            exception: false,
        };
        let record = match r {
            Ok(o) => {
                root.span()
                    .set_attribute(KeyValue::new(names::SAGA_OUTCOME, o.as_str()));
                match o {
                    SagaOutcome::Completed => None,
                    SagaOutcome::Compensated { error_type, .. } => {
                        Some(failed(error_type, "saga compensated"))
                    }
                    SagaOutcome::Stuck { error_type, .. } => {
                        Some(failed(error_type, "saga stuck: compensation failed"))
                    }
                }
            }
            Err(e) => Some(log_failure(e)),
        };
        if let Some(record) = record {
            failure::record(root, true, &record, &s.exceptions, SAGA_EXCEPTION);
        }
        root.span().end();
    }

    fn finish(
        &self,
        root: &Context,
        id: &str,
        r: Result<SagaOutcome, LogError>,
        started: std::time::Instant,
        recovered: bool,
    ) -> Result<SagaReport, SagaError> {
        let s = &*self.inner;
        self.end_root(root, r.as_ref());
        let outcome = r?;
        let attrs = [
            shared_kv(names::SAGA_NAME, s.name.clone()),
            KeyValue::new(names::SAGA_OUTCOME, outcome.as_str()),
        ];
        s.executions.add(1, &attrs);
        s.duration.record(started.elapsed().as_secs_f64(), &attrs);
        Ok(SagaReport {
            id: id.to_owned(),
            outcome,
            recovered,
        })
    }

    /// Runs steps from `from` on, or compensates when `trigger` is set.
    #[allow(clippy::needless_range_loop)] // `entries` and `steps` are indexed together
    async fn drive(
        &self,
        root: &Context,
        id: &str,
        input: Arc<I>,
        mut entries: Vec<LogEntry>,
        from: usize,
        trigger: Option<Trigger>,
    ) -> Result<SagaOutcome, LogError> {
        let s = &*self.inner;
        let saga_id: Arc<str> = Arc::from(id);
        let sampled = root.span().span_context().is_sampled();
        // Unsampled steps share the saga span's context and its reference.
        let root_parent = if sampled {
            None
        } else {
            to_traceparent(root.span().span_context())
        };
        let trigger = match trigger {
            Some(t) => t,
            None => {
                let mut failed = None;
                for i in from..s.steps.len() {
                    let step = &s.steps[i];
                    let own_cx = if sampled {
                        self.step_span(root, &saga_id, i, step.span_name.clone(), None, None)
                    } else {
                        None
                    };
                    let span_cx = own_cx.as_ref().unwrap_or(root);
                    let entry = &mut entries[i];
                    entry.state = Cow::Borrowed(st::STARTED);
                    entry.span = if sampled {
                        to_traceparent(span_cx.span().span_context())
                    } else {
                        root_parent
                    };
                    if let Err(e) = log::write_entry(&*s.log, id, entry).await {
                        end_span(
                            span_cx,
                            sampled,
                            None,
                            Some(&log_step_failure(&e)),
                            &s.exceptions,
                        );
                        return Err(e);
                    }
                    let res = run_attempts(
                        span_cx,
                        &step.action,
                        &step.action_retry,
                        &saga_id,
                        &step.name,
                        &input,
                    )
                    .await;
                    match res {
                        Attempted::Ok(attempts) => {
                            entry.state = Cow::Borrowed(st::DONE);
                            let w = log::write_entry(&*s.log, id, entry).await;
                            end_span(span_cx, sampled, Some(attempts), None, &s.exceptions);
                            w?;
                        }
                        Attempted::Failed {
                            attempts,
                            error_type,
                            message,
                        } => {
                            let timed_out = message.is_none();
                            entry.state =
                                Cow::Borrowed(if timed_out { st::IN_DOUBT } else { st::FAILED });
                            entry.error = Some(error_type.clone());
                            let sc = span_cx.span().span_context().clone();
                            let record = step_failure(&error_type, message.as_deref());
                            end_span(
                                span_cx,
                                sampled,
                                Some(attempts),
                                Some(&record),
                                &s.exceptions,
                            );
                            log::write_entry(&*s.log, id, entry).await?;
                            failed = Some(Trigger {
                                step: step.name.clone(),
                                error_type,
                                span: sc.is_valid().then_some(sc),
                            });
                            break;
                        }
                    }
                }
                match failed {
                    None => {
                        log::write_status(&*s.log, id, st::COMPLETED).await?;
                        return Ok(SagaOutcome::Completed);
                    }
                    Some(t) => {
                        log::write_status(&*s.log, id, st::COMPENSATING).await?;
                        t
                    }
                }
            }
        };
        // Compensate, newest first: done steps, in-doubt ones, and
        // compensations that were under way when a process died.
        for i in (0..entries.len()).rev() {
            let needs = matches!(
                &*entries[i].state,
                st::DONE | st::IN_DOUBT | st::STEP_COMPENSATING | st::STARTED
            );
            if !needs {
                continue;
            }
            let step = &s.steps[i];
            let Some(comp) = &step.compensation else {
                entries[i].state = Cow::Borrowed(st::STEP_COMPENSATED);
                log::write_entry(&*s.log, id, &entries[i]).await?;
                continue;
            };
            let mut links = Vec::new();
            if sampled {
                if let Some(tp) = entries[i].span {
                    links.push(Link::new(
                        from_traceparent(tp),
                        vec![KeyValue::new(names::SAGA_LINK_ROLE, "undoes")],
                        0,
                    ));
                }
                if let Some(sc) = &trigger.span {
                    links.push(Link::new(
                        sc.clone(),
                        vec![KeyValue::new(names::SAGA_LINK_ROLE, "triggered_by")],
                        0,
                    ));
                }
            }
            let own_cx = self.step_span(
                root,
                &saga_id,
                i,
                step.comp_span_name.clone(),
                Some(&trigger),
                (!links.is_empty()).then_some(links),
            );
            let span_cx = own_cx.as_ref().unwrap_or(root);
            entries[i].state = Cow::Borrowed(st::STEP_COMPENSATING);
            if let Err(e) = log::write_entry(&*s.log, id, &entries[i]).await {
                end_span(
                    span_cx,
                    sampled,
                    None,
                    Some(&log_step_failure(&e)),
                    &s.exceptions,
                );
                return Err(e);
            }
            let res = run_attempts(
                span_cx,
                comp,
                &step.compensation_retry,
                &saga_id,
                &step.name,
                &input,
            )
            .await;
            let comp_attrs = |outcome: &'static str| {
                [
                    shared_kv(names::SAGA_NAME, s.name.clone()),
                    shared_kv(names::SAGA_STEP, step.name.clone()),
                    KeyValue::new(names::SAGA_COMPENSATION_OUTCOME, outcome),
                ]
            };
            match res {
                Attempted::Ok(attempts) => {
                    s.compensations.add(1, &comp_attrs("compensated"));
                    entries[i].state = Cow::Borrowed(st::STEP_COMPENSATED);
                    let w = log::write_entry(&*s.log, id, &entries[i]).await;
                    end_span(span_cx, sampled, Some(attempts), None, &s.exceptions);
                    w?;
                }
                Attempted::Failed {
                    attempts,
                    error_type,
                    message,
                } => {
                    s.compensations.add(1, &comp_attrs("failed"));
                    let record = step_failure(&error_type, message.as_deref());
                    end_span(
                        span_cx,
                        sampled,
                        Some(attempts),
                        Some(&record),
                        &s.exceptions,
                    );
                    entries[i].state = Cow::Borrowed(st::COMPENSATION_FAILED);
                    entries[i].error = Some(error_type.clone());
                    log::write_entry(&*s.log, id, &entries[i]).await?;
                    log::write_status(&*s.log, id, st::STUCK).await?;
                    return Ok(SagaOutcome::Stuck {
                        step: String::from(&*step.name),
                        error_type,
                    });
                }
            }
        }
        log::write_status(&*s.log, id, st::COMPENSATED).await?;
        Ok(SagaOutcome::Compensated {
            failed_step: String::from(&*trigger.step),
            error_type: trigger.error_type,
        })
    }

    fn step_span(
        &self,
        root: &Context,
        saga_id: &Arc<str>,
        index: usize,
        name: Cow<'static, str>,
        trigger: Option<&Trigger>,
        links: Option<Vec<Link>>,
    ) -> Option<Context> {
        let s = &*self.inner;
        if !root.span().span_context().is_sampled() {
            // Unsampled saga: steps run in its context, no spans of their own.
            return None;
        }
        // Room for the trigger pair, `saga.step.attempts` and `error.type`,
        // so the SDK's attribute vector never reallocates.
        // Built from the shared names (a reference-count increment each),
        // not cloned from stored `KeyValue`s (an out-of-line match).
        let mut attrs = Vec::with_capacity(8);
        attrs.extend([
            shared_kv(names::SAGA_NAME, s.name.clone()),
            shared_kv(names::SAGA_ID, saga_id.clone()),
            shared_kv(names::SAGA_STEP, s.steps[index].name.clone()),
            KeyValue::new(names::SAGA_STEP_INDEX, index as i64),
        ]);
        if let Some(t) = trigger {
            attrs.push(shared_kv(names::SAGA_TRIGGER_STEP, t.step.clone()));
            attrs.push(KeyValue::new(
                names::SAGA_TRIGGER_ERROR,
                t.error_type.clone(),
            ));
        }
        let mut builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Internal)
            .with_attributes(attrs);
        if let Some(links) = links {
            // Only when there are some: an empty vector still costs the SDK
            // a pass over it and a drop.
            builder = builder.with_links(links);
        }
        Some(s.tracer.start_simple(builder, root))
    }

    /// Finishes (or compensates) every unfinished instance of this saga in
    /// the log. Recovered runs are new traces whose root links to the
    /// original saga span, and whose compensation spans link to the
    /// original step spans.
    ///
    /// Each instance is first claimed in the log ([`SagaLog::claim`], for
    /// the [recovery lease](SagaBuilder::recovery_lease)) and read again;
    /// one claimed by another `recover` call is skipped. So with
    /// [`MemoryLog`] or `PostgresLog`, several processes (or tasks) may
    /// recover at once and no step is resumed or compensated twice. The
    /// claim is renewed while the instance's recovery runs, however long
    /// it takes, and lapses after the lease if the recovering process dies.
    ///
    /// Instances still being run by a live process are not told apart from
    /// crashed ones (a live run holds no claim): recover only logs whose
    /// sagas no live process is running — for example give each replica
    /// its own `PostgresLog` schema and recover it at that replica's
    /// start-up, or recover a shared schema while no replica runs sagas.
    pub async fn recover(&self) -> Result<Vec<SagaReport>, SagaError> {
        const OPEN: &[&str] = &[st::RUNNING, st::COMPENSATING];
        let s = &*self.inner;
        let found = s.log.find(KIND, &s.name, OPEN).await?;
        let owner = uuid::Uuid::new_v4().to_string();
        let mut out = Vec::with_capacity(found.len());
        for (record, _) in found {
            if !s
                .log
                .claim(&record.id, &owner, OPEN, s.recovery_lease)
                .await?
            {
                continue;
            }
            let r = log::renewing_claim(
                &*s.log,
                &record.id,
                &owner,
                OPEN,
                s.recovery_lease,
                self.resume_claimed(&record.id, OPEN),
            )
            .await;
            let released = s.log.release(&record.id, &owner).await;
            if let Some(report) = r? {
                out.push(report);
            }
            released?;
        }
        Ok(out)
    }

    /// Resumes instance `id` after claiming it: read again, since another
    /// recovery may have finished it between `find` and the claim.
    async fn resume_claimed(
        &self,
        id: &str,
        open: &[&str],
    ) -> Result<Option<SagaReport>, SagaError> {
        let Some((record, entries)) = self.inner.log.get(id).await? else {
            return Ok(None);
        };
        if !open.contains(&&*record.status) {
            return Ok(None);
        }
        self.resume(record, entries).await.map(Some)
    }

    /// The instances left `stuck` in the log.
    pub async fn stuck(&self) -> Result<Vec<LogRecord>, SagaError> {
        let s = &*self.inner;
        Ok(s.log
            .find(KIND, &s.name, &[st::STUCK])
            .await?
            .into_iter()
            .map(|(r, _)| r)
            .collect())
    }

    /// Retries the compensations of a `stuck` instance (after the cause
    /// was fixed). It is claimed first, like [`recover`](Self::recover)
    /// does: [`SagaError::Claimed`] when another call holds it.
    pub async fn resume_stuck(&self, id: &str) -> Result<SagaReport, SagaError> {
        let s = &*self.inner;
        let owner = uuid::Uuid::new_v4().to_string();
        if !s
            .log
            .claim(id, &owner, &[st::STUCK], s.recovery_lease)
            .await?
        {
            return Err(match s.log.get(id).await? {
                None => SagaError::NotFound(id.to_owned()),
                Some(_) => SagaError::Claimed(id.to_owned()),
            });
        }
        let r = log::renewing_claim(
            &*s.log,
            id,
            &owner,
            // `stuck`, then `compensating` while it runs.
            &[st::STUCK, st::COMPENSATING],
            s.recovery_lease,
            self.resume_stuck_claimed(id),
        )
        .await;
        let released = s.log.release(id, &owner).await;
        let report = r?;
        released?;
        Ok(report)
    }

    async fn resume_stuck_claimed(&self, id: &str) -> Result<SagaReport, SagaError> {
        let s = &*self.inner;
        let (record, mut entries) = s
            .log
            .get(id)
            .await?
            .ok_or_else(|| SagaError::NotFound(id.to_owned()))?;
        if record.status != st::STUCK {
            return Err(SagaError::Claimed(id.to_owned()));
        }
        for e in &mut entries {
            if e.state == st::COMPENSATION_FAILED {
                e.state = Cow::Borrowed(st::STEP_COMPENSATING);
            }
        }
        log::write_status(&*s.log, id, st::COMPENSATING).await?;
        let mut record = record;
        record.status = Cow::Borrowed(st::COMPENSATING);
        self.resume(record, entries).await
    }

    async fn resume(
        &self,
        record: LogRecord,
        mut entries: Vec<LogEntry>,
    ) -> Result<SagaReport, SagaError> {
        let s = &*self.inner;
        let started = std::time::Instant::now();
        let input: I = serde_json::from_str(&record.payload)?;
        let original = record.span.map(from_traceparent);
        let root = self.root_span(&Context::new(), &record.id, true, original);
        entries.sort_by_key(|e| e.index);
        if entries.len() != s.steps.len() {
            let e = LogError(format!(
                "saga {} has {} logged steps, definition {} has {}",
                record.id,
                entries.len(),
                s.name,
                s.steps.len()
            ));
            self.end_root(&root, Err(&e));
            return Err(e.into());
        }
        let mut from = entries.len();
        let mut trigger = None;
        if record.status == st::COMPENSATING {
            let failed = entries
                .iter()
                .find(|e| matches!(&*e.state, st::FAILED | st::IN_DOUBT) || e.error.is_some());
            trigger = Some(Trigger {
                step: failed.map_or_else(|| Arc::from(""), |e| e.name.clone()),
                error_type: failed
                    .and_then(|e| e.error.clone())
                    .unwrap_or_else(|| "_OTHER".to_owned()),
                span: failed.and_then(|e| e.span).map(from_traceparent),
            });
        } else {
            // running: find the first step not done
            let pos = entries.iter().position(|e| e.state != st::DONE);
            match pos {
                None => from = entries.len(),
                Some(p) if entries[p].state == st::STARTED && s.in_doubt == InDoubt::Compensate => {
                    entries[p].state = Cow::Borrowed(st::IN_DOUBT);
                    entries[p].error = Some("process_restart".to_owned());
                    if let Err(e) = log::write_entry(&*s.log, &record.id, &entries[p]).await {
                        self.end_root(&root, Err(&e));
                        return Err(e.into());
                    }
                    if let Err(e) = log::write_status(&*s.log, &record.id, st::COMPENSATING).await {
                        self.end_root(&root, Err(&e));
                        return Err(e.into());
                    }
                    trigger = Some(Trigger {
                        step: entries[p].name.clone(),
                        error_type: "process_restart".to_owned(),
                        span: entries[p].span.map(from_traceparent),
                    });
                }
                Some(p) => from = p,
            }
        }
        let r = self
            .drive(&root, &record.id, Arc::new(input), entries, from, trigger)
            .await;
        self.finish(&root, &record.id, r, started, true)
    }
}

/// Ends a step or compensation span. `own` is false for an unsampled saga,
/// whose steps run in the saga span's context: that span is not theirs to
/// annotate or end.
/// A failed step or compensation is recorded, with an exception log record
/// even for an unsampled saga (see [`failure::record`]).
fn end_span(
    cx: &Context,
    own: bool,
    attempts: Option<u32>,
    failed: Option<&ErrorRecord<'_>>,
    exceptions: &ExceptionEvents,
) {
    if let Some(record) = failed {
        failure::record(cx, own, record, exceptions, SAGA_STEP_EXCEPTION);
    }
    if !own {
        return;
    }
    let span = cx.span();
    if let Some(n) = attempts {
        span.set_attribute(KeyValue::new(names::SAGA_STEP_ATTEMPTS, i64::from(n)));
    }
    span.end();
}

/// A step or compensation that failed with an error (an exception) or,
/// without a message, timed out (no exception).
fn step_failure<'a>(error_type: &'a str, message: Option<&'a str>) -> ErrorRecord<'a> {
    ErrorRecord {
        error_type: Cow::Borrowed(error_type),
        message: Some(Cow::Borrowed(message.unwrap_or("timed out"))),
        exception: message.is_some(),
    }
}

/// The log refused a write: the saga's failure (an exception).
fn log_failure(e: &LogError) -> ErrorRecord<'static> {
    ErrorRecord {
        error_type: Cow::Borrowed(otel_kit_core::instrument::type_error_type::<LogError>()),
        message: Some(Cow::Owned(e.to_string())),
        exception: true,
    }
}

/// The log refused a write while a step ran: the step's span is marked
/// failed, the exception is the saga's (recorded on its span).
fn log_step_failure(e: &LogError) -> ErrorRecord<'static> {
    ErrorRecord {
        exception: false,
        ..log_failure(e)
    }
}

async fn run_attempts<I>(
    span_cx: &Context,
    f: &ActionFn<I>,
    retry: &StepRetry,
    saga_id: &Arc<str>,
    step: &Arc<str>,
    input: &Arc<I>,
) -> Attempted {
    let max = retry.max_attempts.max(1);
    let mut delay = Duration::ZERO;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let fut = f(StepContext {
            saga_id: saga_id.clone(),
            step: step.clone(),
            attempt,
            input: input.clone(),
        })
        .with_context(span_cx.clone());
        let (error_type, message) = match retry.timeout {
            None => match fut.await {
                Ok(()) => return Attempted::Ok(attempt),
                Err(e) => (e.error_type, Some(e.message)),
            },
            Some(t) => match tokio::time::timeout(t, fut).await {
                Ok(Ok(())) => return Attempted::Ok(attempt),
                Ok(Err(e)) => (e.error_type, Some(e.message)),
                Err(_) => (Cow::Borrowed("timeout"), None),
            },
        };
        if attempt >= max {
            return Attempted::Failed {
                attempts: attempt,
                error_type: error_type.into_owned(),
                message,
            };
        }
        delay = retry.backoff.delay(attempt, delay, &mut rand::rng());
        let span = span_cx.span();
        if span.is_recording() {
            span.add_event(
                names::SAGA_RETRY_EVENT,
                vec![
                    KeyValue::new(names::RETRY_ATTEMPT, i64::from(attempt + 1)),
                    KeyValue::new(names::RETRY_DELAY, delay.as_secs_f64()),
                    KeyValue::new(names::ERROR_TYPE, error_type),
                ],
            );
        }
        tokio::time::sleep(delay).await;
    }
}
