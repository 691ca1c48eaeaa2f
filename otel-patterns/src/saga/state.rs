//! The states a saga writes to its log: [`SagaStatus`] for an instance
//! ([`LogRecord::status`](crate::log::LogRecord::status)) and
//! [`StepState`] for each of its steps
//! ([`LogEntry::state`](crate::log::LogEntry::state)), stored as the
//! strings of [`as_str`](SagaStatus::as_str), so logs written by earlier
//! versions recover unchanged.
//!
//! The two `compensating` states are distinct types: an instance
//! compensating its steps is [`SagaStatus::Compensating`]; a step whose
//! compensation is under way is [`StepState::Compensating`].
//!
//! ```
//! use otel_kit_patterns::saga::{SagaStatus, StepState};
//!
//! assert_eq!(SagaStatus::parse("compensating"), Some(SagaStatus::Compensating));
//! assert_eq!(StepState::parse("compensating"), Some(StepState::Compensating));
//! assert_eq!(StepState::InDoubt.as_str(), "in_doubt");
//! assert_eq!(SagaStatus::parse("unknown"), None);
//! ```

use std::borrow::Cow;
use std::fmt;

/// The state of a saga instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SagaStatus {
    /// Running its steps forward (`running`).
    Running,
    /// A step failed; compensating the completed ones (`compensating`).
    Compensating,
    /// Every step completed (`completed`).
    Completed,
    /// Every step that needed it was compensated (`compensated`).
    Compensated,
    /// A compensation kept failing; waits for
    /// [`Saga::resume_stuck`](super::Saga::resume_stuck) (`stuck`).
    Stuck,
}

/// The state of one step of a saga instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepState {
    /// Not started (`pending`).
    Pending,
    /// The action is running, or was when the process died (`started`).
    Started,
    /// The action succeeded (`done`).
    Done,
    /// The action failed (`failed`): it took no effect.
    Failed,
    /// The action timed out, or recovery found it `started` (`in_doubt`):
    /// it may have taken effect, so it is compensated too.
    InDoubt,
    /// Its compensation is running, or was when the process died
    /// (`compensating`).
    Compensating,
    /// Compensated, or nothing to compensate (`compensated`).
    Compensated,
    /// Its compensation still failed after its retries
    /// (`compensation_failed`): the saga is stuck.
    CompensationFailed,
}

impl SagaStatus {
    /// Every status.
    pub const ALL: [SagaStatus; 5] = [
        SagaStatus::Running,
        SagaStatus::Compensating,
        SagaStatus::Completed,
        SagaStatus::Compensated,
        SagaStatus::Stuck,
    ];

    /// The stored text.
    pub const fn as_str(self) -> &'static str {
        match self {
            SagaStatus::Running => "running",
            SagaStatus::Compensating => "compensating",
            SagaStatus::Completed => "completed",
            SagaStatus::Compensated => "compensated",
            SagaStatus::Stuck => "stuck",
        }
    }

    /// The status stored as `s`; `None` for text no saga writes.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl StepState {
    /// Every state.
    pub const ALL: [StepState; 8] = [
        StepState::Pending,
        StepState::Started,
        StepState::Done,
        StepState::Failed,
        StepState::InDoubt,
        StepState::Compensating,
        StepState::Compensated,
        StepState::CompensationFailed,
    ];

    /// The stored text.
    pub const fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Started => "started",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::InDoubt => "in_doubt",
            StepState::Compensating => "compensating",
            StepState::Compensated => "compensated",
            StepState::CompensationFailed => "compensation_failed",
        }
    }

    /// The state stored as `s`; `None` for text no saga writes.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether compensation must undo the step: its action completed or
    /// may have (`done`, `started`, `in_doubt`), or its compensation was
    /// under way.
    pub const fn needs_compensation(self) -> bool {
        matches!(
            self,
            StepState::Done | StepState::Started | StepState::InDoubt | StepState::Compensating
        )
    }
}

impl fmt::Display for SagaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<SagaStatus> for Cow<'static, str> {
    fn from(s: SagaStatus) -> Self {
        Cow::Borrowed(s.as_str())
    }
}

impl From<StepState> for Cow<'static, str> {
    fn from(s: StepState) -> Self {
        Cow::Borrowed(s.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts are the storage format: logs written before the enums
    /// used exactly these.
    #[test]
    fn stored_texts_are_unchanged() {
        let saga: Vec<_> = SagaStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            saga,
            [
                "running",
                "compensating",
                "completed",
                "compensated",
                "stuck"
            ]
        );
        let step: Vec<_> = StepState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            step,
            [
                "pending",
                "started",
                "done",
                "failed",
                "in_doubt",
                "compensating",
                "compensated",
                "compensation_failed"
            ]
        );
        for s in SagaStatus::ALL {
            assert_eq!(SagaStatus::parse(s.as_str()), Some(s));
        }
        for s in StepState::ALL {
            assert_eq!(StepState::parse(s.as_str()), Some(s));
        }
    }
}
