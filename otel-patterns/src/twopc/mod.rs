//! Two-phase commit: a coordinator over [`Participant`]s. Phase one
//! prepares every participant in parallel, each under a timeout; the
//! decision (commit only if every prepare succeeded in time) is written to
//! the [`SagaLog`] before phase two, which commits or rolls back every
//! participant, retrying until each one is done. [`Coordinator::recover`]
//! finishes the transactions a crashed coordinator left: logged as
//! `preparing` (no decision yet) they are rolled back (presumed abort);
//! `committing` / `rolling_back` ones are driven to the end.
//!
//! Log statuses: `preparing`, `committing`, `rolling_back`, `committed`,
//! `rolled_back`. Participant states: `pending`, `prepared`, `failed`,
//! `timeout`, `committed`, `rolled_back`.
//!
//! ```
//! use otel_kit_patterns::twopc::{Coordinator, Participant, TxOutcome};
//! use otel_kit_patterns::BoxError;
//! use futures_util::future::BoxFuture;
//! use std::sync::Arc;
//!
//! struct Db(&'static str);
//! impl Participant for Db {
//!     fn name(&self) -> &str { self.0 }
//!     fn prepare<'a>(&'a self, _tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> { Box::pin(async { Ok(()) }) }
//!     fn commit<'a>(&'a self, _tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> { Box::pin(async { Ok(()) }) }
//!     fn rollback<'a>(&'a self, _tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> { Box::pin(async { Ok(()) }) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let coordinator = Coordinator::builder("transfer")
//!     .participant(Arc::new(Db("accounts")))
//!     .participant(Arc::new(Db("ledger")))
//!     .build();
//! let report = coordinator.run().await.unwrap();
//! assert_eq!(report.outcome, TxOutcome::Committed);
//! # }
//! ```

use crate::BoxError;
use crate::failure::{self, TX_EXCEPTION, TX_PARTICIPANT_EXCEPTION};
use crate::instrumentation::{self, Instruments};
use crate::log::{
    LogEntry, LogError, LogRecord, MemoryLog, SagaLog, from_traceparent, renewing_claim,
    to_traceparent,
};
use crate::names;
use crate::retry::Backoff;
use futures_util::future::{BoxFuture, join_all};
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::trace::{FutureExt, Link, SpanBuilder, SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use otel_kit_core::instrument::{
    ErrorRecord, ExceptionEvents, OTHER, Options, SpanStarter, duration_histogram, record_error,
    record_exception,
};
use otel_kit_core::opentelemetry;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A resource manager taking part in a transaction. All three calls must be
/// idempotent (phase two and recovery may repeat them); `rollback` must
/// accept a transaction it never prepared.
///
/// A participant over a service that holds prepared changes by
/// transaction id (a refusal with a class of its own: a
/// [`StepError`](crate::saga::StepError) converted into the
/// [`BoxError`]):
///
/// ```no_run
/// use futures_util::future::BoxFuture;
/// use otel_kit_patterns::BoxError;
/// use otel_kit_patterns::saga::StepError;
/// use otel_kit_patterns::twopc::Participant;
///
/// struct Ledger { client: LedgerClient }
/// # struct LedgerClient;
/// # impl LedgerClient {
/// #     async fn hold(&self, _tx: &str) -> Result<bool, std::io::Error> { Ok(true) }
/// #     async fn release(&self, _tx: &str, _keep: bool) -> Result<(), std::io::Error> { Ok(()) }
/// # }
///
/// impl Participant for Ledger {
///     fn name(&self) -> &str {
///         "ledger"
///     }
///     fn prepare<'a>(&'a self, tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
///         Box::pin(async move {
///             if !self.client.hold(tx).await? {
///                 return Err(StepError::new("insufficient_funds", "hold refused").into());
///             }
///             Ok(())
///         })
///     }
///     fn commit<'a>(&'a self, tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
///         Box::pin(async move { Ok(self.client.release(tx, true).await?) })
///     }
///     fn rollback<'a>(&'a self, tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
///         Box::pin(async move { Ok(self.client.release(tx, false).await?) })
///     }
/// }
/// ```
pub trait Participant: Send + Sync + 'static {
    /// Its name (`2pc.participant`), unique within a coordinator.
    fn name(&self) -> &str;
    /// Phase one: make the change durable but not visible; vote.
    fn prepare<'a>(&'a self, tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>>;
    /// Phase two after a commit decision.
    fn commit<'a>(&'a self, tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>>;
    /// Phase two after a rollback decision.
    fn rollback<'a>(&'a self, tx: &'a str) -> BoxFuture<'a, Result<(), BoxError>>;
}

/// How a transaction ended (`2pc.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxOutcome {
    /// Every participant committed.
    Committed,
    /// Every participant rolled back.
    RolledBack,
    /// The decision is logged but phase two gave up on a participant:
    /// [`Coordinator::recover`] finishes it.
    InDoubt,
}

impl TxOutcome {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            TxOutcome::Committed => "committed",
            TxOutcome::RolledBack => "rolled_back",
            TxOutcome::InDoubt => "in_doubt",
        }
    }
}

/// The result of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxReport {
    /// `2pc.id`.
    pub id: String,
    /// How it ended.
    pub outcome: TxOutcome,
    /// Participants that voted no or timed out, with the reason.
    pub refused: Vec<(String, String)>,
    /// Whether recovery finished it.
    pub recovered: bool,
}

/// A transaction coordinator over its participants, from
/// [`Coordinator::builder`]: [`run`](Self::run) one transaction,
/// [`recover`](Self::recover) at start-up.
///
/// ```no_run
/// use otel_kit_patterns::log::PostgresLog;
/// use otel_kit_patterns::twopc::{Coordinator, Participant, TxOutcome};
/// use std::sync::Arc;
///
/// # async fn f(accounts: Arc<dyn Participant>, ledger: Arc<dyn Participant>) -> Result<(), Box<dyn std::error::Error>> {
/// let log = PostgresLog::connect("postgres://postgres@127.0.0.1:5432/test", "transfers").await?;
/// let coordinator = Coordinator::builder("transfer")
///     .participant(accounts)
///     .participant(ledger)
///     .log(Arc::new(log))
///     .build();
/// // Finish what a crashed coordinator left, then run.
/// coordinator.recover().await?;
/// let report = coordinator.run().await?;
/// if report.outcome == TxOutcome::RolledBack {
///     println!("refused by {:?}", report.refused);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<CoordInner>,
}

struct CoordInner {
    name: String,
    span_name: String,
    participants: Vec<Arc<dyn Participant>>,
    prepare_timeout: Duration,
    phase_two_attempts: u32,
    backoff: Backoff,
    log: Arc<dyn SagaLog>,
    tracer: SpanStarter,
    exceptions: ExceptionEvents,
    transactions: Counter<u64>,
    duration: Histogram<f64>,
}

impl fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coordinator")
            .field("name", &self.inner.name)
            .field(
                "participants",
                &self
                    .inner
                    .participants
                    .iter()
                    .map(|p| p.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Builder of a [`Coordinator`], from [`Coordinator::builder`]; records
/// through the global providers unless given others (the family's shared
/// setters).
///
/// ```
/// use otel_kit_patterns::twopc::Coordinator;
/// use std::time::Duration;
///
/// let coordinator = Coordinator::builder("transfer")
///     .prepare_timeout(Duration::from_secs(2))
///     // Give up after 10 attempts: the transaction is reported in doubt
///     // and `recover` finishes it.
///     .phase_two_attempts(10)
///     .build();
/// # let _ = coordinator;
/// ```
pub struct CoordinatorBuilder {
    name: String,
    participants: Vec<Arc<dyn Participant>>,
    prepare_timeout: Duration,
    phase_two_attempts: u32,
    backoff: Backoff,
    log: Option<Arc<dyn SagaLog>>,
    options: Options,
}

impl fmt::Debug for CoordinatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoordinatorBuilder")
            .field("name", &self.name)
            .finish()
    }
}

impl CoordinatorBuilder {
    otel_kit_core::instrumentation_setters!(options: providers, exceptions);

    /// Adds a participant.
    pub fn participant(mut self, p: Arc<dyn Participant>) -> Self {
        self.participants.push(p);
        self
    }
    /// Limit of each prepare call (default 5 s); a timeout is a no vote.
    pub fn prepare_timeout(mut self, d: Duration) -> Self {
        self.prepare_timeout = d;
        self
    }
    /// Attempts of each phase-two call before the transaction is reported
    /// in doubt (default: unlimited).
    pub fn phase_two_attempts(mut self, n: u32) -> Self {
        self.phase_two_attempts = n.max(1);
        self
    }
    /// Delays between phase-two attempts.
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }
    /// The log (default: a new [`MemoryLog`]).
    pub fn log(mut self, log: Arc<dyn SagaLog>) -> Self {
        self.log = Some(log);
        self
    }
    /// Builds the coordinator.
    pub fn build(self) -> Coordinator {
        let Instruments {
            tracer,
            meter,
            exceptions,
        } = Instruments::resolve(self.options);
        let transactions = meter
            .u64_counter(names::TX_TRANSACTIONS)
            .with_unit("{transaction}")
            .with_description("Two-phase-commit transactions by outcome.")
            .build();
        let duration = duration_histogram(
            &meter,
            names::TX_DURATION,
            "Duration of two-phase-commit transactions.",
        );
        Coordinator {
            inner: Arc::new(CoordInner {
                span_name: format!("tx {}", self.name),
                name: self.name,
                participants: self.participants,
                prepare_timeout: self.prepare_timeout,
                phase_two_attempts: self.phase_two_attempts,
                backoff: self.backoff,
                log: self.log.unwrap_or_else(|| Arc::new(MemoryLog::new())),
                tracer,
                exceptions,
                transactions,
                duration,
            }),
        }
    }
}

const KIND: &str = "2pc";

/// How long a recovery holds its claim on a transaction.
const RECOVERY_LEASE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Decision {
    Commit,
    Rollback,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Commit => "commit",
            Decision::Rollback => "rollback",
        }
    }
    fn status(self) -> &'static str {
        match self {
            Decision::Commit => "committing",
            Decision::Rollback => "rolling_back",
        }
    }
    fn done_state(self) -> &'static str {
        match self {
            Decision::Commit => "committed",
            Decision::Rollback => "rolled_back",
        }
    }
}

/// A participant call that failed with `e`: `error.type` is the class a
/// [`StepError`](crate::saga::StepError) names, else `_OTHER` (the error is
/// type-erased); an exception.
fn participant_failure(e: &BoxError) -> ErrorRecord<'static> {
    ErrorRecord {
        error_type: failure::boxed_error_type(e, OTHER),
        message: Some(Cow::Owned(e.to_string())),
        exception: true,
    }
}

impl Coordinator {
    /// A builder: 5 s prepare timeout, phase two retried until done.
    pub fn builder(name: impl Into<String>) -> CoordinatorBuilder {
        CoordinatorBuilder {
            name: name.into(),
            participants: Vec::new(),
            prepare_timeout: Duration::from_secs(5),
            phase_two_attempts: u32::MAX,
            backoff: Backoff::default(),
            log: None,
            options: instrumentation::options(),
        }
    }

    /// The log.
    pub fn log(&self) -> &Arc<dyn SagaLog> {
        &self.inner.log
    }

    /// Runs a transaction with a random id under the current context.
    pub async fn run(&self) -> Result<TxReport, LogError> {
        self.run_with_id(uuid::Uuid::new_v4().to_string()).await
    }

    /// Runs a transaction with the given id.
    pub async fn run_with_id(&self, id: impl Into<String>) -> Result<TxReport, LogError> {
        let c = &*self.inner;
        let id: String = id.into();
        let started = std::time::Instant::now();
        let root = self.root(&Context::current(), &id, false, None);
        let mut entries: Vec<LogEntry> = c
            .participants
            .iter()
            .enumerate()
            .map(|(i, p)| LogEntry {
                index: i as u32,
                name: Arc::from(p.name()),
                state: Cow::Borrowed("pending"),
                span: None,
                error: None,
            })
            .collect();
        let record = LogRecord {
            id: id.clone(),
            kind: Cow::Borrowed(KIND),
            name: c.name.clone(),
            payload: "null".to_owned(),
            status: Cow::Borrowed("preparing"),
            span: to_traceparent(root.span().span_context()),
        };
        let r = async {
            c.log.create(&record, &entries).await?;
            let refused = self.prepare(&root, &id, &mut entries).await?;
            let decision = if refused.is_empty() {
                Decision::Commit
            } else {
                Decision::Rollback
            };
            root.span()
                .set_attribute(KeyValue::new(names::TX_DECISION, decision.as_str()));
            // The decision is durable before anyone hears it.
            c.log.set_status(&id, decision.status()).await?;
            let outcome = self.phase_two(&root, &id, decision, &mut entries).await?;
            Ok::<_, LogError>((outcome, refused))
        }
        // A traced log's statements are children of the transaction's span.
        .with_context(root.clone())
        .await;
        self.finish(root, id, r, started, false)
    }

    fn root(
        &self,
        parent: &Context,
        id: &str,
        recovered: bool,
        original: Option<opentelemetry::trace::SpanContext>,
    ) -> Context {
        let c = &*self.inner;
        let mut b = SpanBuilder::from_name(c.span_name.clone())
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new(names::TX_NAME, c.name.clone()),
                KeyValue::new(names::TX_ID, id.to_owned()),
                KeyValue::new(names::TX_RECOVERED, recovered),
            ]);
        if let Some(o) = original {
            b = b.with_links(vec![Link::new(
                o,
                vec![KeyValue::new(names::SAGA_LINK_ROLE, "original")],
                0,
            )]);
        }
        c.tracer.start_simple(b, parent)
    }

    fn finish(
        &self,
        root: Context,
        id: String,
        r: Result<(TxOutcome, Vec<(String, String)>), LogError>,
        started: std::time::Instant,
        recovered: bool,
    ) -> Result<TxReport, LogError> {
        let c = &*self.inner;
        let span = root.span();
        match &r {
            Ok((outcome, refused)) => {
                span.set_attribute(KeyValue::new(names::TX_OUTCOME, outcome.as_str()));
                if *outcome != TxOutcome::Committed {
                    // Rolled back: the error.type of the first refusal (the
                    // participant span recorded its exception); in doubt or
                    // a recovered rollback: the outcome.
                    let error_type = match (outcome, refused.first()) {
                        (TxOutcome::RolledBack, Some((_, et))) => Cow::Owned(et.clone()),
                        _ => Cow::Borrowed(outcome.as_str()),
                    };
                    record_error(
                        &span,
                        &ErrorRecord {
                            error_type,
                            message: Some(Cow::Borrowed(outcome.as_str())),
                            exception: false,
                        },
                    );
                }
                let attrs = [
                    KeyValue::new(names::TX_NAME, c.name.clone()),
                    KeyValue::new(names::TX_OUTCOME, outcome.as_str()),
                ];
                c.transactions.add(1, &attrs);
                c.duration.record(started.elapsed().as_secs_f64(), &attrs);
            }
            Err(e) => {
                record_exception(
                    &span,
                    &ErrorRecord {
                        error_type: Cow::Borrowed(otel_kit_core::instrument::type_error_type::<
                            LogError,
                        >()),
                        message: Some(Cow::Owned(e.to_string())),
                        exception: true,
                    },
                    &c.exceptions,
                    TX_EXCEPTION,
                );
            }
        }
        span.end();
        let (outcome, refused) = r?;
        Ok(TxReport {
            id,
            outcome,
            refused,
            recovered,
        })
    }

    fn child(
        &self,
        parent: &Context,
        name: String,
        attrs: Vec<KeyValue>,
        links: Vec<Link>,
    ) -> Context {
        self.inner.tracer.start_simple(
            SpanBuilder::from_name(name)
                .with_kind(SpanKind::Internal)
                .with_attributes(attrs)
                .with_links(links),
            parent,
        )
    }

    async fn prepare(
        &self,
        root: &Context,
        id: &str,
        entries: &mut [LogEntry],
    ) -> Result<Vec<(String, String)>, LogError> {
        let c = &*self.inner;
        let phase = self.child(
            root,
            "tx.prepare".to_owned(),
            vec![KeyValue::new(names::TX_PHASE, "prepare")],
            Vec::new(),
        );
        let votes = join_all(c.participants.iter().map(|p| {
            let cx = self.child(
                &phase,
                format!("tx.prepare {}", p.name()),
                vec![
                    KeyValue::new(names::TX_PHASE, "prepare"),
                    KeyValue::new(names::TX_PARTICIPANT, p.name().to_owned()),
                ],
                Vec::new(),
            );
            let timeout = c.prepare_timeout;
            async move {
                let r = tokio::time::timeout(timeout, p.prepare(id).with_context(cx.clone())).await;
                let (state, failed) = match r {
                    Ok(Ok(())) => ("prepared", None),
                    Ok(Err(e)) => ("failed", Some(participant_failure(&e))),
                    // A timeout explains itself: no exception.
                    Err(_) => (
                        "timeout",
                        Some(ErrorRecord {
                            error_type: Cow::Borrowed("timeout"),
                            message: Some(Cow::Borrowed("prepare timed out")),
                            exception: false,
                        }),
                    ),
                };
                let span = cx.span();
                span.set_attribute(KeyValue::new(
                    names::TX_PARTICIPANT_OUTCOME,
                    if state == "prepared" { "ok" } else { state },
                ));
                if let Some(f) = &failed {
                    record_exception(&span, f, &c.exceptions, TX_PARTICIPANT_EXCEPTION);
                }
                let err = failed.map(|f| f.error_type.into_owned());
                let sc = to_traceparent(span.span_context());
                span.end();
                (state, err, sc)
            }
        }))
        .await;
        let mut refused = Vec::new();
        let mut log_err = None;
        for (entry, (state, err, sc)) in entries.iter_mut().zip(votes) {
            entry.state = Cow::Borrowed(state);
            entry.error = err.clone();
            entry.span = sc;
            if let Err(e) = c.log.set_entry(id, entry).await {
                log_err.get_or_insert(e);
            }
            if let Some(e) = err {
                refused.push((String::from(&*entry.name), e));
            }
        }
        phase.span().set_attribute(KeyValue::new(
            names::TX_DECISION,
            if refused.is_empty() {
                "commit"
            } else {
                "rollback"
            },
        ));
        phase.span().end();
        match log_err {
            Some(e) => Err(e),
            None => Ok(refused),
        }
    }

    async fn phase_two(
        &self,
        root: &Context,
        id: &str,
        decision: Decision,
        entries: &mut [LogEntry],
    ) -> Result<TxOutcome, LogError> {
        let c = &*self.inner;
        let phase_name = decision.as_str();
        let phase = self.child(
            root,
            format!("tx.{phase_name}"),
            vec![
                KeyValue::new(names::TX_PHASE, phase_name),
                KeyValue::new(names::TX_DECISION, phase_name),
            ],
            Vec::new(),
        );
        let results = join_all(c.participants.iter().zip(entries.iter()).map(|(p, entry)| {
            let already = entry.state == decision.done_state();
            let links: Vec<Link> = entry
                .span
                .map(from_traceparent)
                .map(|sc| {
                    vec![Link::new(
                        sc,
                        vec![KeyValue::new(names::SAGA_LINK_ROLE, "prepare")],
                        0,
                    )]
                })
                .unwrap_or_default();
            let phase = phase.clone();
            async move {
                if already {
                    return true;
                }
                let cx = self.child(
                    &phase,
                    format!("tx.{phase_name} {}", p.name()),
                    vec![
                        KeyValue::new(names::TX_PHASE, phase_name),
                        KeyValue::new(names::TX_PARTICIPANT, p.name().to_owned()),
                    ],
                    links,
                );
                let mut attempt = 0u32;
                let mut delay = Duration::ZERO;
                let ok = loop {
                    attempt += 1;
                    let r = match decision {
                        Decision::Commit => p.commit(id).with_context(cx.clone()).await,
                        Decision::Rollback => p.rollback(id).with_context(cx.clone()).await,
                    };
                    match r {
                        Ok(()) => break true,
                        Err(e) => {
                            if attempt >= c.phase_two_attempts {
                                record_exception(
                                    &cx.span(),
                                    &participant_failure(&e),
                                    &c.exceptions,
                                    TX_PARTICIPANT_EXCEPTION,
                                );
                                break false;
                            }
                            delay = c.backoff.delay(attempt, delay, &mut rand::rng());
                            cx.span().add_event(
                                names::RETRY_BACKOFF_EVENT,
                                vec![
                                    KeyValue::new(names::RETRY_ATTEMPT, i64::from(attempt + 1)),
                                    KeyValue::new(names::RETRY_DELAY, delay.as_secs_f64()),
                                    KeyValue::new(
                                        names::ERROR_TYPE,
                                        failure::boxed_error_type(&e, OTHER),
                                    ),
                                ],
                            );
                            tokio::time::sleep(delay).await;
                        }
                    }
                };
                let span = cx.span();
                span.set_attribute(KeyValue::new(names::TX_ATTEMPTS, i64::from(attempt)));
                span.set_attribute(KeyValue::new(
                    names::TX_PARTICIPANT_OUTCOME,
                    if ok { "ok" } else { "failed" },
                ));
                span.end();
                ok
            }
        }))
        .await;
        let mut all = true;
        let mut log_err = None;
        for (entry, ok) in entries.iter_mut().zip(results) {
            if ok && entry.state != decision.done_state() {
                entry.state = Cow::Borrowed(decision.done_state());
                if let Err(e) = c.log.set_entry(id, entry).await {
                    log_err.get_or_insert(e);
                }
            }
            all &= ok;
        }
        phase.span().end();
        if let Some(e) = log_err {
            return Err(e);
        }
        if !all {
            return Ok(TxOutcome::InDoubt);
        }
        c.log.set_status(id, decision.done_state()).await?;
        Ok(match decision {
            Decision::Commit => TxOutcome::Committed,
            Decision::Rollback => TxOutcome::RolledBack,
        })
    }

    /// Finishes every unfinished transaction of this coordinator in the log
    /// (at start-up). Recovered transactions are new traces whose root links
    /// to the original. Like [`Saga::recover`](crate::saga::Saga::recover),
    /// each transaction is claimed in the log first (a 5-minute lease,
    /// renewed while its recovery runs), so concurrent recoveries never
    /// finish one twice.
    pub async fn recover(&self) -> Result<Vec<TxReport>, LogError> {
        const OPEN: &[&str] = &["preparing", "committing", "rolling_back"];
        let c = &*self.inner;
        let found = c.log.find(KIND, &c.name, OPEN).await?;
        let owner = uuid::Uuid::new_v4().to_string();
        let mut out = Vec::new();
        for (found, _) in found {
            if !c.log.claim(&found.id, &owner, OPEN, RECOVERY_LEASE).await? {
                continue;
            }
            // Read again: another recovery may have finished it meanwhile.
            let (record, mut entries) = match c.log.get(&found.id).await {
                Ok(Some(i)) if OPEN.contains(&&*i.0.status) => i,
                r => {
                    c.log.release(&found.id, &owner).await?;
                    r?;
                    continue;
                }
            };
            let started = std::time::Instant::now();
            let original = record.span.map(from_traceparent);
            let root = self.root(&Context::new(), &record.id, true, original);
            entries.sort_by_key(|e| e.index);
            let work = async {
                if entries.len() != c.participants.len()
                    || entries
                        .iter()
                        .zip(&c.participants)
                        .any(|(e, p)| &*e.name != p.name())
                {
                    return Err(LogError(format!(
                        "transaction {} was logged with other participants",
                        record.id
                    )));
                }
                let decision = if record.status == "committing" {
                    Decision::Commit
                } else {
                    Decision::Rollback
                };
                if record.status == "preparing" {
                    // No decision was logged: presumed abort.
                    c.log.set_status(&record.id, decision.status()).await?;
                }
                root.span()
                    .set_attribute(KeyValue::new(names::TX_DECISION, decision.as_str()));
                let outcome = self
                    .phase_two(&root, &record.id, decision, &mut entries)
                    .await?;
                Ok((outcome, Vec::new()))
            };
            let r = renewing_claim(&*c.log, &record.id, &owner, OPEN, RECOVERY_LEASE, work).await;
            let report = self.finish(root, record.id.clone(), r, started, true);
            let released = c.log.release(&record.id, &owner).await;
            out.push(report?);
            released?;
        }
        Ok(out)
    }
}
