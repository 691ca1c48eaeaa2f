//! Every span name, attribute, event and metric name of this crate, one
//! constant each (the table is in the crate documentation).

/// `error.type` (semantic conventions).
pub const ERROR_TYPE: &str = "error.type";

// ---- circuit breaker ----
/// Span of a call rejected by the breaker.
pub const CB_REJECTED_SPAN: &str = "circuit_breaker.rejected";
/// `error.type` value of a rejected call.
pub const CIRCUIT_OPEN: &str = "circuit_open";
/// The breaker's name.
pub const CB_NAME: &str = "circuit_breaker.name";
/// A breaker state (attribute; also the state gauge's name).
pub const CB_STATE: &str = "circuit_breaker.state";
/// State before a transition.
pub const CB_STATE_FROM: &str = "circuit_breaker.transition.from";
/// State after a transition.
pub const CB_STATE_TO: &str = "circuit_breaker.transition.to";
/// Why a transition happened.
pub const CB_REASON: &str = "circuit_breaker.transition.reason";
/// Call outcome (`success`, `failure`, `slow`, `rejected`).
pub const CB_OUTCOME: &str = "circuit_breaker.outcome";
/// Event added on the span that caused a transition.
pub const CB_STATE_CHANGE_EVENT: &str = "circuit_breaker.state_change";
/// Counter of calls by outcome.
pub const CB_CALLS: &str = "circuit_breaker.calls";
/// Counter of transitions.
pub const CB_TRANSITIONS: &str = "circuit_breaker.transitions";

// ---- retry ----
/// Span around all attempts of one call.
pub const RETRY_SPAN: &str = "retry";
/// Span of one attempt.
pub const RETRY_ATTEMPT_SPAN: &str = "retry.attempt";
/// Name of the retried operation.
pub const RETRY_OPERATION: &str = "retry.operation";
/// Attempt number (1 = first try) on an attempt span; attempts made on the call span.
pub const RETRY_ATTEMPT: &str = "retry.attempt";
/// Attempts made by the call.
pub const RETRY_ATTEMPTS: &str = "retry.attempts";
/// Final outcome of the call.
pub const RETRY_OUTCOME: &str = "retry.outcome";
/// Delay (s) before an attempt.
pub const RETRY_DELAY: &str = "retry.delay";
/// Whether the delay came from the server (`Retry-After`, `RetryInfo`).
pub const RETRY_DELAY_SERVER: &str = "retry.server_delay";
/// Event: waiting before the next attempt.
pub const RETRY_BACKOFF_EVENT: &str = "retry.backoff";
/// Event: the budget refused a retry.
pub const RETRY_BUDGET_EXHAUSTED_EVENT: &str = "retry.budget_exhausted";
/// Histogram of attempts per call.
pub const RETRY_ATTEMPTS_METRIC: &str = "retry.attempts";
/// Counter of retries refused by the budget.
pub const RETRY_BUDGET_EXHAUSTED: &str = "retry.budget.exhausted";
/// `http.request.resend_count` (semantic conventions), set by the layer.
pub const HTTP_RESEND_COUNT: &str = "http.request.resend_count";

// ---- saga ----
/// Saga definition name.
pub const SAGA_NAME: &str = "saga.name";
/// Saga instance id.
pub const SAGA_ID: &str = "saga.id";
/// Final outcome of a saga run.
pub const SAGA_OUTCOME: &str = "saga.outcome";
/// Whether this run resumed a logged saga after a restart.
pub const SAGA_RECOVERED: &str = "saga.recovered";
/// Step name.
pub const SAGA_STEP: &str = "saga.step.name";
/// Step index (0-based).
pub const SAGA_STEP_INDEX: &str = "saga.step.index";
/// Attempts made by a step or compensation.
pub const SAGA_STEP_ATTEMPTS: &str = "saga.step.attempts";
/// The step whose failure triggered a compensation.
pub const SAGA_TRIGGER_STEP: &str = "saga.compensation.trigger.step";
/// The `error.type` of the failure that triggered a compensation.
pub const SAGA_TRIGGER_ERROR: &str = "saga.compensation.trigger.error_type";
/// Link attribute: what the linked span is to a compensation (`undoes`, `triggered_by`, `original`).
pub const SAGA_LINK_ROLE: &str = "saga.link.role";
/// Event: a step attempt failed and will be retried.
pub const SAGA_RETRY_EVENT: &str = "saga.step.retry";
/// Barrier: the branch id.
pub const SAGA_BRANCH: &str = "saga.barrier.branch";
/// Barrier: the operation (`action`, `compensation`).
pub const SAGA_BARRIER_OP: &str = "saga.barrier.op";
/// Barrier event: a duplicate request skipped.
pub const SAGA_DUPLICATE_EVENT: &str = "saga.barrier.duplicate";
/// Barrier event: compensation of an action that never ran.
pub const SAGA_NULL_COMP_EVENT: &str = "saga.barrier.null_compensation";
/// Barrier event: action arriving after its compensation.
pub const SAGA_HANGING_EVENT: &str = "saga.barrier.hanging";
/// Counter of saga executions by outcome.
pub const SAGA_EXECUTIONS: &str = "saga.executions";
/// Histogram of saga durations.
pub const SAGA_DURATION: &str = "saga.duration";
/// Counter of compensations by outcome.
pub const SAGA_COMPENSATIONS: &str = "saga.compensations";
/// Compensation outcome attribute (`compensated`, `failed`).
pub const SAGA_COMPENSATION_OUTCOME: &str = "saga.compensation.outcome";

// ---- two-phase commit ----
/// Transaction name.
pub const TX_NAME: &str = "tx.name";
/// Transaction id.
pub const TX_ID: &str = "tx.id";
/// The decision (`commit`, `rollback`).
pub const TX_DECISION: &str = "tx.decision";
/// Phase (`prepare`, `commit`, `rollback`).
pub const TX_PHASE: &str = "tx.phase";
/// Participant name.
pub const TX_PARTICIPANT: &str = "tx.participant.name";
/// Participant vote / call outcome (`ok`, `failed`, `timeout`).
pub const TX_PARTICIPANT_OUTCOME: &str = "tx.participant.outcome";
/// Attempts of a phase-two call.
pub const TX_ATTEMPTS: &str = "tx.attempts";
/// Final outcome (`committed`, `rolled_back`, `in_doubt`).
pub const TX_OUTCOME: &str = "tx.outcome";
/// Whether the transaction was finished by recovery.
pub const TX_RECOVERED: &str = "tx.recovered";
/// Counter of transactions by outcome.
pub const TX_TRANSACTIONS: &str = "tx.transactions";
/// Histogram of transaction durations.
pub const TX_DURATION: &str = "tx.duration";

// ---- exception log records (`OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN=logs`) ----
/// Event name of the exception log record of a saga whose log refused a write (ERROR).
pub const SAGA_EXCEPTION: &str = "saga.exception";
/// Event name of the exception log record of a failed step action or compensation (ERROR).
pub const SAGA_STEP_EXCEPTION: &str = "saga.step.exception";
/// Event name of the exception log record of a transaction whose log refused a write (ERROR).
pub const TX_EXCEPTION: &str = "tx.exception";
/// Event name of the exception log record of a failed participant call (ERROR).
pub const TX_PARTICIPANT_EXCEPTION: &str = "tx.participant.exception";
/// Event name of the exception log record of a retry attempt that failed with an error (WARN).
pub const RETRY_ATTEMPT_EXCEPTION: &str = "retry.attempt.exception";
