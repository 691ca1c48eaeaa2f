//! Recovery: the instances a crashed process left in the log are claimed,
//! read again and resumed ([`Saga::recover`]) — forward from the first
//! step not done, or compensated — and `stuck` ones are retried on demand
//! ([`Saga::resume_stuck`]).

use super::outcome::SagaReport;
use super::run::Run;
use super::span::Trigger;
use super::state::{SagaStatus, StepState};
use super::{KIND, Saga, SagaError};
use crate::log::{
    LogEntry, LogError, LogRecord, from_traceparent, renewing_claim, write_entry, write_status,
};
use opentelemetry::Context;
use otel_kit_core::opentelemetry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Instant;

/// How [`Saga::recover`] treats a step found `started` (the process died
/// while it ran, so whether it took effect is unknown).
///
/// ```
/// use otel_kit_patterns::saga::{InDoubt, Saga, Step};
///
/// // The action is idempotent: run it again rather than compensate.
/// let saga = Saga::<u32>::builder("order")
///     .step(Step::new("reserve", |_| async { Ok(()) }))
///     .in_doubt(InDoubt::Retry)
///     .build();
/// # let _ = saga;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InDoubt {
    /// Compensate it with the completed steps (its compensation must accept
    /// an action that never ran: use the [`barrier`](super::barrier)).
    /// Default.
    #[default]
    Compensate,
    /// Run it again, then go on (its action must be idempotent).
    Retry,
}

/// The statuses recovery resumes.
const OPEN: &[&str] = &[
    SagaStatus::Running.as_str(),
    SagaStatus::Compensating.as_str(),
];

/// The `error.type` of a step found `started` and compensated.
const PROCESS_RESTART: &str = "process_restart";

impl<I: Serialize + DeserializeOwned + Send + Sync + 'static> Saga<I> {
    /// Finishes (or compensates) every unfinished instance of this saga in
    /// the log. Recovered runs are new traces whose root links to the
    /// original saga span, and whose compensation spans link to the
    /// original step spans.
    ///
    /// Each instance is first claimed in the log
    /// ([`SagaLog::claim`](crate::log::SagaLog::claim), for the [recovery
    /// lease](super::SagaBuilder::recovery_lease)) and read again; one
    /// claimed by another `recover` call is skipped. So with
    /// [`MemoryLog`](crate::log::MemoryLog) or `PostgresLog`, several
    /// processes (or tasks) may recover at once and no step is resumed or
    /// compensated twice. The claim is renewed while the instance's
    /// recovery runs, however long it takes, and lapses after the lease if
    /// the recovering process dies.
    ///
    /// Instances still being run by a live process are not told apart from
    /// crashed ones (a live run holds no claim): recover only logs whose
    /// sagas no live process is running — for example give each replica
    /// its own `PostgresLog` schema and recover it at that replica's
    /// start-up, or recover a shared schema while no replica runs sagas.
    ///
    /// ```no_run
    /// use otel_kit_patterns::log::PostgresLog;
    /// use otel_kit_patterns::saga::{Saga, Step};
    /// use std::sync::Arc;
    ///
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let log = PostgresLog::connect("postgres://postgres@127.0.0.1:5432/test", "orders").await?;
    /// let saga = Saga::<String>::builder("order")
    ///     .step(Step::new("reserve", |_| async { Ok(()) }).compensate_with(|_| async { Ok(()) }))
    ///     .log(Arc::new(log))
    ///     .build();
    /// for report in saga.recover().await? {
    ///     println!("saga {} recovered: {}", report.id, report.outcome.as_str());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn recover(&self) -> Result<Vec<SagaReport>, SagaError> {
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
            let r = renewing_claim(
                &*s.log,
                &record.id,
                &owner,
                OPEN,
                s.recovery_lease,
                self.resume_claimed(&record.id),
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
    async fn resume_claimed(&self, id: &str) -> Result<Option<SagaReport>, SagaError> {
        let Some((record, entries)) = self.inner.log.get(id).await? else {
            return Ok(None);
        };
        if !OPEN.contains(&&*record.status) {
            return Ok(None);
        }
        self.resume(record, entries).await.map(Some)
    }

    /// The instances left `stuck` in the log.
    pub async fn stuck(&self) -> Result<Vec<LogRecord>, SagaError> {
        let s = &*self.inner;
        Ok(s.log
            .find(KIND, &s.name, &[SagaStatus::Stuck.as_str()])
            .await?
            .into_iter()
            .map(|(r, _)| r)
            .collect())
    }

    /// Retries the compensations of a `stuck` instance (after the cause
    /// was fixed). It is claimed first, like [`recover`](Self::recover)
    /// does: [`SagaError::Claimed`] when another call holds it.
    ///
    /// ```no_run
    /// # use otel_kit_patterns::saga::Saga;
    /// # async fn f(saga: Saga<String>) -> Result<(), otel_kit_patterns::saga::SagaError> {
    /// for record in saga.stuck().await? {
    ///     let report = saga.resume_stuck(&record.id).await?;
    ///     println!("{}: {}", report.id, report.outcome.as_str());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn resume_stuck(&self, id: &str) -> Result<SagaReport, SagaError> {
        let s = &*self.inner;
        let owner = uuid::Uuid::new_v4().to_string();
        let stuck = SagaStatus::Stuck.as_str();
        if !s.log.claim(id, &owner, &[stuck], s.recovery_lease).await? {
            return Err(match s.log.get(id).await? {
                None => SagaError::NotFound(id.to_owned()),
                Some(_) => SagaError::Claimed(id.to_owned()),
            });
        }
        let r = renewing_claim(
            &*s.log,
            id,
            &owner,
            // `stuck`, then `compensating` while it runs.
            &[stuck, SagaStatus::Compensating.as_str()],
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
        let (mut record, mut entries) = s
            .log
            .get(id)
            .await?
            .ok_or_else(|| SagaError::NotFound(id.to_owned()))?;
        if SagaStatus::parse(&record.status) != Some(SagaStatus::Stuck) {
            return Err(SagaError::Claimed(id.to_owned()));
        }
        for e in &mut entries {
            if StepState::parse(&e.state) == Some(StepState::CompensationFailed) {
                e.state = StepState::Compensating.into();
            }
        }
        write_status(
            &*s.log,
            &Context::current(),
            id,
            SagaStatus::Compensating.as_str(),
        )
        .await?;
        record.status = SagaStatus::Compensating.into();
        self.resume(record, entries).await
    }

    /// Resumes a claimed instance read from the log: a new saga span
    /// linked to the original, then the forward run from the first step
    /// not done, or the compensation.
    async fn resume(
        &self,
        record: LogRecord,
        mut entries: Vec<LogEntry>,
    ) -> Result<SagaReport, SagaError> {
        let s = &*self.inner;
        let started = Instant::now();
        let input: I = serde_json::from_str(&record.payload)?;
        let original = record.span.map(from_traceparent);
        let root = s.root_span(&Context::new(), &record.id, true, original);
        entries.sort_by_key(|e| e.index);
        let point = match self.checked(&record, &entries) {
            Ok(status) => {
                self.resume_point(&root, &record.id, status, &mut entries)
                    .await
            }
            Err(e) => Err(e),
        };
        let (from, trigger) = match point {
            Ok(p) => p,
            Err(e) => {
                s.end_root(&root, Err(&e));
                return Err(e.into());
            }
        };
        let r = Run::new(s, &root, &record.id, Arc::new(input))
            .drive(entries, from, trigger)
            .await;
        s.finish(&root, &record.id, r, started, true)
    }

    /// The instance's status, once its entries are known to match the
    /// definition and every state is one a saga writes.
    fn checked(&self, record: &LogRecord, entries: &[LogEntry]) -> Result<SagaStatus, LogError> {
        let s = &*self.inner;
        if entries.len() != s.steps.len() {
            return Err(LogError(format!(
                "saga {} has {} logged steps, definition {} has {}",
                record.id,
                entries.len(),
                s.name,
                s.steps.len()
            )));
        }
        if let Some(e) = entries
            .iter()
            .find(|e| StepState::parse(&e.state).is_none())
        {
            return Err(LogError(format!(
                "saga {} step {} has an unknown state {:?}",
                record.id, e.name, e.state
            )));
        }
        SagaStatus::parse(&record.status).ok_or_else(|| {
            LogError(format!(
                "saga {} has an unknown status {:?}",
                record.id, record.status
            ))
        })
    }

    /// Where a resumed instance goes on: compensation with the failure
    /// that triggered it (`compensating`, or a `started` step compensated
    /// per [`InDoubt::Compensate`], logged first), else the forward run
    /// from the first step not done.
    async fn resume_point(
        &self,
        root: &Context,
        id: &str,
        status: SagaStatus,
        entries: &mut [LogEntry],
    ) -> Result<(usize, Option<Trigger>), LogError> {
        let s = &*self.inner;
        let n = entries.len();
        let state = |e: &LogEntry| StepState::parse(&e.state);
        if status == SagaStatus::Compensating {
            // The step that failed (or is in doubt) triggered the
            // compensation; a step whose compensation failed carries an
            // error too, but it is not the trigger. Older logs may have only
            // the error: then the first step with one.
            let failed = entries
                .iter()
                .find(|e| matches!(state(e), Some(StepState::Failed | StepState::InDoubt)))
                .or_else(|| entries.iter().find(|e| e.error.is_some()));
            let trigger = Trigger {
                step: failed.map_or_else(|| Arc::from(""), |e| e.name.clone()),
                error_type: failed
                    .and_then(|e| e.error.clone())
                    .unwrap_or_else(|| "_OTHER".to_owned()),
                span: failed.and_then(|e| e.span).map(from_traceparent),
            };
            return Ok((n, Some(trigger)));
        }
        let Some(p) = entries
            .iter()
            .position(|e| state(e) != Some(StepState::Done))
        else {
            return Ok((n, None));
        };
        if state(&entries[p]) != Some(StepState::Started) || s.in_doubt != InDoubt::Compensate {
            return Ok((p, None));
        }
        let entry = &mut entries[p];
        entry.state = StepState::InDoubt.into();
        entry.error = Some(PROCESS_RESTART.to_owned());
        write_entry(&*s.log, root, id, entry).await?;
        write_status(&*s.log, root, id, SagaStatus::Compensating.as_str()).await?;
        Ok((
            n,
            Some(Trigger {
                step: entry.name.clone(),
                error_type: PROCESS_RESTART.to_owned(),
                span: entry.span.map(from_traceparent),
            }),
        ))
    }
}
