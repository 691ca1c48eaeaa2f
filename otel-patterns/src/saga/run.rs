//! The forward run: a new instance logged, then its steps run in order
//! until one fails ([`Run::run_forward`]); a failure hands over to
//! [`Run::compensate`](super::compensate).

use super::attempt::{Attempted, run_attempts};
use super::outcome::{SagaOutcome, SagaReport};
use super::span::{Trigger, end_span, log_step_failure, step_failure};
use super::state::{SagaStatus, StepState};
use super::{KIND, Saga, SagaError, SagaInner};
use crate::instrumentation::shared_kv;
use crate::log::{
    LogEntry, LogError, LogRecord, TraceParent, to_traceparent, write_entry, write_status,
};
use crate::names;
use opentelemetry::trace::{FutureExt, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use otel_kit_core::opentelemetry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

impl<I: Serialize + DeserializeOwned + Send + Sync + 'static> Saga<I> {
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
        let started = Instant::now();
        let root = s.root_span(&Context::current(), &id, false, None);
        let payload = serde_json::to_string(&input)?;
        let record = LogRecord {
            id: id.clone(),
            kind: Cow::Borrowed(KIND),
            name: String::from(&*s.name),
            payload,
            status: SagaStatus::Running.into(),
            span: to_traceparent(root.span().span_context()),
        };
        let entries: Vec<LogEntry> = s
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| LogEntry {
                index: i as u32,
                name: step.name.clone(),
                state: StepState::Pending.into(),
                span: None,
                error: None,
            })
            .collect();
        if let Err(e) = s
            .log
            .create(&record, &entries)
            .with_context(root.clone())
            .await
        {
            s.end_root(&root, Err(&e));
            return Err(e.into());
        }
        let r = Run::new(s, &root, &id, Arc::new(input))
            .drive(entries, 0, None)
            .await;
        s.finish(&root, &id, r, started, false)
    }
}

impl<I> SagaInner<I> {
    /// Ends the saga span and records the run's metrics.
    pub(super) fn finish(
        &self,
        root: &Context,
        id: &str,
        r: Result<SagaOutcome, LogError>,
        started: Instant,
        recovered: bool,
    ) -> Result<SagaReport, SagaError> {
        self.end_root(root, r.as_ref());
        let outcome = r?;
        let attrs = [
            shared_kv(names::SAGA_NAME, self.name.clone()),
            KeyValue::new(names::SAGA_OUTCOME, outcome.as_str()),
        ];
        self.executions.add(1, &attrs);
        self.duration
            .record(started.elapsed().as_secs_f64(), &attrs);
        Ok(SagaReport {
            id: id.to_owned(),
            outcome,
            recovered,
        })
    }
}

/// One instance in flight: what its forward run and its compensation
/// share.
pub(super) struct Run<'a, I> {
    pub(super) saga: &'a SagaInner<I>,
    /// The saga span's context.
    pub(super) root: &'a Context,
    pub(super) id: &'a str,
    /// `id`, shared with every step's context and span.
    pub(super) saga_id: Arc<str>,
    pub(super) input: Arc<I>,
    /// Whether the saga span is sampled (steps get spans of their own).
    pub(super) sampled: bool,
    /// The span reference logged for an unsampled saga's steps: the saga
    /// span's (they run in its context).
    root_parent: Option<TraceParent>,
}

impl<'a, I: Send + Sync + 'static> Run<'a, I> {
    pub(super) fn new(
        saga: &'a SagaInner<I>,
        root: &'a Context,
        id: &'a str,
        input: Arc<I>,
    ) -> Self {
        let sampled = root.span().span_context().is_sampled();
        Run {
            saga,
            root,
            id,
            saga_id: Arc::from(id),
            input,
            sampled,
            root_parent: if sampled {
                None
            } else {
                to_traceparent(root.span().span_context())
            },
        }
    }

    /// Runs the steps from `from` on; compensates when one fails, or at
    /// once when `trigger` (a recovered failure) is set.
    pub(super) async fn drive(
        &self,
        mut entries: Vec<LogEntry>,
        from: usize,
        trigger: Option<Trigger>,
    ) -> Result<SagaOutcome, LogError> {
        let trigger = match trigger {
            Some(t) => t,
            None => match self.run_forward(&mut entries, from).await? {
                None => return Ok(SagaOutcome::Completed),
                Some(failed) => failed,
            },
        };
        self.compensate(&mut entries, trigger).await
    }

    /// The steps from `from` on, in order, until one fails: the saga is
    /// then logged `compensating` and the failure returned; else it is
    /// logged `completed`. Each step's action is logged `started` before
    /// it runs and `done` or `failed` / `in_doubt` (timed out) after, in
    /// its own span.
    ///
    /// One loop, the awaits in it, the rest in plain functions: a nested
    /// async function per step would cost its future's moves and drop on
    /// every step.
    async fn run_forward(
        &self,
        entries: &mut [LogEntry],
        from: usize,
    ) -> Result<Option<Trigger>, LogError> {
        let s = self.saga;
        let log = &*s.log;
        for (index, entry) in entries.iter_mut().enumerate().skip(from) {
            let step = &s.steps[index];
            let own_cx = self.start_step(index, entry);
            let span_cx = own_cx.as_ref().unwrap_or(self.root);
            if let Err(e) = write_entry(log, span_cx, self.id, entry).await {
                let record = log_step_failure(&e);
                end_span(span_cx, self.sampled, None, Some(&record), &s.exceptions);
                return Err(e);
            }
            let attempted = run_attempts(
                span_cx,
                &step.action,
                &step.action_retry,
                &self.saga_id,
                &step.name,
                &self.input,
            )
            .await;
            match attempted {
                Attempted::Ok(attempts) => {
                    entry.state = StepState::Done.into();
                    let w = write_entry(log, span_cx, self.id, entry).await;
                    end_span(span_cx, self.sampled, Some(attempts), None, &s.exceptions);
                    w?;
                }
                Attempted::Failed {
                    attempts,
                    error_type,
                    message,
                } => {
                    let failed =
                        self.step_failed(span_cx, index, entry, attempts, error_type, message);
                    write_entry(log, span_cx, self.id, entry).await?;
                    write_status(log, self.root, self.id, SagaStatus::Compensating.as_str())
                        .await?;
                    return Ok(Some(failed));
                }
            }
        }
        write_status(log, self.root, self.id, SagaStatus::Completed.as_str()).await?;
        Ok(None)
    }

    /// Starts step `index`: its span (when the saga is sampled), and its
    /// entry `started` with the span's reference (to be logged).
    fn start_step(&self, index: usize, entry: &mut LogEntry) -> Option<Context> {
        let own_cx = if self.sampled {
            let step = &self.saga.steps[index];
            self.saga.step_span(
                self.root,
                &self.saga_id,
                index,
                step.span_name.clone(),
                None,
                None,
            )
        } else {
            None
        };
        entry.state = StepState::Started.into();
        entry.span = match &own_cx {
            Some(cx) => to_traceparent(cx.span().span_context()),
            None => self.root_parent,
        };
        own_cx
    }

    /// Step `index`'s action failed after `attempts`: its entry `failed`
    /// (or `in_doubt` when it timed out, `message` `None`; to be logged),
    /// its span ended with the failure, which is returned as the trigger
    /// of the compensation.
    fn step_failed(
        &self,
        span_cx: &Context,
        index: usize,
        entry: &mut LogEntry,
        attempts: u32,
        error_type: String,
        message: Option<String>,
    ) -> Trigger {
        let s = self.saga;
        let timed_out = message.is_none();
        entry.state = if timed_out {
            StepState::InDoubt
        } else {
            StepState::Failed
        }
        .into();
        entry.error = Some(error_type.clone());
        let sc = span_cx.span().span_context().clone();
        let record = step_failure(&error_type, message.as_deref());
        end_span(
            span_cx,
            self.sampled,
            Some(attempts),
            Some(&record),
            &s.exceptions,
        );
        Trigger {
            step: s.steps[index].name.clone(),
            error_type,
            span: sc.is_valid().then_some(sc),
        }
    }
}
