//! Compensation: after a step failed, the steps that took (or may have
//! taken) effect are undone newest first ([`Run::compensate`]), each
//! compensation in a span linked to the step it undoes and to the failure.

use super::attempt::{Attempted, run_attempts};
use super::outcome::SagaOutcome;
use super::run::Run;
use super::span::{Trigger, end_span, log_step_failure, step_failure};
use super::state::{SagaStatus, StepState};
use crate::instrumentation::shared_kv;
use crate::log::{LogEntry, LogError, from_traceparent, write_entry, write_status};
use crate::names;
use opentelemetry::trace::Link;
use opentelemetry::{Context, KeyValue};
use otel_kit_core::opentelemetry;

impl<I: Send + Sync + 'static> Run<'_, I> {
    /// Compensates, in reverse order, every step whose state
    /// [needs it](StepState::needs_compensation): done steps, in-doubt
    /// ones, and compensations that were under way when a process died.
    /// The saga is logged `compensated`, or `stuck` at the first
    /// compensation that still fails after its retries (the steps before
    /// it stay as they are, for [`Saga::resume_stuck`](super::Saga::resume_stuck)).
    pub(super) async fn compensate(
        &self,
        entries: &mut [LogEntry],
        trigger: Trigger,
    ) -> Result<SagaOutcome, LogError> {
        for (index, entry) in entries.iter_mut().enumerate().rev() {
            let needs = StepState::parse(&entry.state).is_some_and(StepState::needs_compensation);
            if !needs {
                continue;
            }
            if let Some(stuck) = self.compensate_step(index, entry, &trigger).await? {
                write_status(
                    &*self.saga.log,
                    self.root,
                    self.id,
                    SagaStatus::Stuck.as_str(),
                )
                .await?;
                return Ok(stuck);
            }
        }
        write_status(
            &*self.saga.log,
            self.root,
            self.id,
            SagaStatus::Compensated.as_str(),
        )
        .await?;
        Ok(SagaOutcome::Compensated {
            failed_step: String::from(&*trigger.step),
            error_type: trigger.error_type,
        })
    }

    /// Step `index`'s compensation, logged `compensating` before it runs
    /// and `compensated` or `compensation_failed` after; a step without one
    /// is `compensated` at once. The `stuck` outcome when it failed.
    async fn compensate_step(
        &self,
        index: usize,
        entry: &mut LogEntry,
        trigger: &Trigger,
    ) -> Result<Option<SagaOutcome>, LogError> {
        let s = self.saga;
        let log = &*s.log;
        let step = &s.steps[index];
        let Some(compensation) = &step.compensation else {
            entry.state = StepState::Compensated.into();
            write_entry(log, self.root, self.id, entry).await?;
            return Ok(None);
        };
        let links = if self.sampled {
            compensation_links(entry, trigger)
        } else {
            Vec::new()
        };
        let own_cx = s.step_span(
            self.root,
            &self.saga_id,
            index,
            step.comp_span_name.clone(),
            Some(trigger),
            (!links.is_empty()).then_some(links),
        );
        let span_cx: &Context = own_cx.as_ref().unwrap_or(self.root);
        entry.state = StepState::Compensating.into();
        if let Err(e) = write_entry(log, span_cx, self.id, entry).await {
            let record = log_step_failure(&e);
            end_span(span_cx, self.sampled, None, Some(&record), &s.exceptions);
            return Err(e);
        }
        let attempted = run_attempts(
            span_cx,
            compensation,
            &step.compensation_retry,
            &self.saga_id,
            &step.name,
            &self.input,
        )
        .await;
        let counted = |outcome: &'static str| {
            s.compensations.add(
                1,
                &[
                    shared_kv(names::SAGA_NAME, s.name.clone()),
                    shared_kv(names::SAGA_STEP, step.name.clone()),
                    KeyValue::new(names::SAGA_COMPENSATION_OUTCOME, outcome),
                ],
            )
        };
        match attempted {
            Attempted::Ok(attempts) => {
                counted("compensated");
                entry.state = StepState::Compensated.into();
                let w = write_entry(log, span_cx, self.id, entry).await;
                end_span(span_cx, self.sampled, Some(attempts), None, &s.exceptions);
                w?;
                Ok(None)
            }
            Attempted::Failed {
                attempts,
                error_type,
                message,
            } => {
                counted("failed");
                let record = step_failure(&error_type, message.as_deref());
                end_span(
                    span_cx,
                    self.sampled,
                    Some(attempts),
                    Some(&record),
                    &s.exceptions,
                );
                entry.state = StepState::CompensationFailed.into();
                entry.error = Some(error_type.clone());
                write_entry(log, span_cx, self.id, entry).await?;
                Ok(Some(SagaOutcome::Stuck {
                    step: String::from(&*step.name),
                    error_type,
                }))
            }
        }
    }
}

/// The links of a compensation span: to the span of the step it undoes
/// (`undoes`) and to the failed step's (`triggered_by`).
fn compensation_links(entry: &LogEntry, trigger: &Trigger) -> Vec<Link> {
    let mut links = Vec::new();
    if let Some(tp) = entry.span {
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
    links
}
