//! Circuit breaker: closed / open / half-open, count- or time-based sliding
//! window, failure-rate and slow-call-rate thresholds, as resilience4j
//! defines them; lock-free on every path.
//!
//! ```
//! use otel_kit_patterns::breaker::{CircuitBreaker, BreakerError};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let breaker = CircuitBreaker::builder("inventory")
//!     .count_window(20)
//!     .minimum_calls(10)
//!     .failure_rate(50.0)
//!     .build();
//! let r: Result<u32, BreakerError<std::io::Error>> = breaker.call(async { Ok(7) }).await;
//! assert_eq!(r.unwrap(), 7);
//! # }
//! ```

mod layer;
mod window;

pub use layer::{CircuitBreakerLayer, CircuitBreakerService};

use crate::instrumentation::{self, Instruments, shared_kv};
use crate::names;
use opentelemetry::metrics::{Counter, Meter, ObservableCounter, ObservableGauge};
use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use otel_kit_core::clock::{Clock, CoarseMonotonicClock, MonotonicClock};
use otel_kit_core::instrument::{ErrorRecord, Options, SpanStarter, record_error};
use otel_kit_core::opentelemetry;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use window::{HalfOpenWord, Window};

/// The state of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls pass; outcomes fill the sliding window.
    Closed,
    /// Calls are rejected until the wait duration has passed.
    Open,
    /// A limited number of trial calls pass; their outcomes decide.
    HalfOpen,
    /// Every call is rejected until [`CircuitBreaker::reset`].
    ForcedOpen,
    /// Every call passes, nothing is recorded, until [`CircuitBreaker::reset`].
    Disabled,
}

impl State {
    /// The `circuit_breaker.state` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
        }
    }

    const ALL: [State; 5] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::Disabled,
    ];

    fn code(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::ForcedOpen => 3,
            State::Disabled => 4,
        }
    }

    fn from_code(c: u64) -> State {
        match c {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::ForcedOpen,
            _ => State::Disabled,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sliding window the failure and slow-call rates are computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlidingWindow {
    /// The last `n` calls.
    Count(u32),
    /// The calls of the last `n` seconds (one-second buckets).
    Time(u32),
}

/// How a finished call is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed (counts towards the failure rate).
    Failure,
    /// The call's outcome does not count (for example a client error).
    Ignored,
}

/// Breaker settings; defaults are resilience4j's.
#[derive(Debug, Clone)]
pub struct Config {
    /// Failure rate (percent) at or above which the breaker opens. Default 50.
    pub failure_rate: f64,
    /// Slow-call rate (percent) at or above which the breaker opens. Default 100.
    pub slow_call_rate: f64,
    /// A call taking at least this long is slow. Default 60 s.
    pub slow_call_duration: Duration,
    /// The sliding window. Default the last 100 calls.
    pub window: SlidingWindow,
    /// Calls needed in the window before rates are evaluated. Default 100.
    pub minimum_calls: u32,
    /// Time spent open before trial calls are let through. Default 60 s.
    pub wait_in_open: Duration,
    /// Trial calls in half-open (at most 4095). Default 10.
    pub permitted_in_half_open: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            failure_rate: 50.0,
            slow_call_rate: 100.0,
            slow_call_duration: Duration::from_secs(60),
            window: SlidingWindow::Count(100),
            minimum_calls: 100,
            wait_in_open: Duration::from_secs(60),
            permitted_in_half_open: 10,
        }
    }
}

/// The error of a call through the breaker.
#[derive(Debug)]
pub enum BreakerError<E> {
    /// The breaker rejected the call (it never reached the operation).
    Open(CircuitOpen),
    /// The operation ran and failed.
    Inner(E),
}

impl<E: fmt::Display> fmt::Display for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakerError::Open(o) => o.fmt(f),
            BreakerError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BreakerError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BreakerError::Open(o) => Some(o),
            BreakerError::Inner(e) => Some(e),
        }
    }
}

/// A call rejected by an open (or forced-open, or saturated half-open) breaker.
#[derive(Debug, Clone, thiserror::Error)]
#[error("circuit breaker `{name}` is {state}: call not permitted")]
pub struct CircuitOpen {
    /// The breaker's name.
    pub name: Arc<str>,
    /// Its state when the call was rejected.
    pub state: State,
}

/// A named circuit breaker; clones share the same state. Wrap a call with
/// [`call`](Self::call), or a tower client with
/// [`CircuitBreakerLayer`].
///
/// ```no_run
/// use otel_kit_patterns::breaker::{BreakerError, CircuitBreaker};
/// use std::time::Duration;
///
/// # async fn get_stock(sku: &str) -> Result<u32, std::io::Error> { Ok(1) }
/// # async fn f() {
/// let breaker = CircuitBreaker::builder("inventory")
///     .failure_rate(50.0)
///     .slow_call_duration(Duration::from_secs(2))
///     .wait_in_open(Duration::from_secs(30))
///     .build();
/// match breaker.call(get_stock("sku-1")).await {
///     Ok(stock) => println!("{stock} in stock"),
///     // Rejected without calling: a `circuit_breaker.rejected` span.
///     Err(BreakerError::Open(open)) => println!("{open}"),
///     Err(BreakerError::Inner(e)) => println!("inventory failed: {e}"),
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.name)
            .field("state", &self.state())
            .finish()
    }
}

type Observables = (ObservableGauge<i64>, ObservableCounter<u64>);

struct Inner {
    name: Arc<str>,
    cfg: Config,
    clock: Arc<dyn Clock>,
    /// state code (low 8 bits) | generation (high 56 bits)
    state: AtomicU64,
    opened_at: AtomicU64,
    window: Window,
    half_open: AtomicU64,
    counts: [AtomicU64; 4],
    tracer: SpanStarter,
    transitions: Counter<u64>,
    name_attr: KeyValue,
    instruments: std::sync::OnceLock<Observables>,
}

const OUT_SUCCESS: usize = 0;
const OUT_FAILURE: usize = 1;
const OUT_SLOW: usize = 2;
const OUT_REJECTED: usize = 3;
const OUTCOME_NAMES: [&str; 4] = ["success", "failure", "slow", "rejected"];

/// Builder of a [`CircuitBreaker`], from [`CircuitBreaker::builder`];
/// records through the global providers unless given others (the family's
/// shared setters).
///
/// ```
/// use otel_kit_patterns::breaker::CircuitBreaker;
/// use std::time::Duration;
///
/// // Open when half of the last 20 calls (at least 10) failed; try again
/// // with 3 trial calls after 10 s.
/// let breaker = CircuitBreaker::builder("payment")
///     .count_window(20)
///     .minimum_calls(10)
///     .failure_rate(50.0)
///     .wait_in_open(Duration::from_secs(10))
///     .permitted_in_half_open(3)
///     .build();
/// # let _ = breaker;
/// ```
#[derive(Debug)]
pub struct CircuitBreakerBuilder {
    name: Arc<str>,
    cfg: Config,
    clock: Option<Arc<dyn Clock>>,
    options: Options,
}

impl CircuitBreakerBuilder {
    otel_kit_core::instrumentation_setters!(options: providers, exceptions);

    /// Replaces every setting.
    pub fn config(mut self, cfg: Config) -> Self {
        self.cfg = cfg;
        self
    }
    /// Failure rate threshold in percent (0–100].
    pub fn failure_rate(mut self, percent: f64) -> Self {
        self.cfg.failure_rate = percent;
        self
    }
    /// Slow-call rate threshold in percent (0–100].
    pub fn slow_call_rate(mut self, percent: f64) -> Self {
        self.cfg.slow_call_rate = percent;
        self
    }
    /// Duration from which a call is slow.
    pub fn slow_call_duration(mut self, d: Duration) -> Self {
        self.cfg.slow_call_duration = d;
        self
    }
    /// A count-based window of the last `n` calls.
    pub fn count_window(mut self, n: u32) -> Self {
        self.cfg.window = SlidingWindow::Count(n.max(1));
        self
    }
    /// A time-based window of the last `seconds` seconds.
    pub fn time_window(mut self, seconds: u32) -> Self {
        self.cfg.window = SlidingWindow::Time(seconds.max(1));
        self
    }
    /// Minimum calls before the rates are evaluated.
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.cfg.minimum_calls = n.max(1);
        self
    }
    /// Time in open before half-open.
    pub fn wait_in_open(mut self, d: Duration) -> Self {
        self.cfg.wait_in_open = d;
        self
    }
    /// Trial calls permitted in half-open (1–4095).
    pub fn permitted_in_half_open(mut self, n: u32) -> Self {
        self.cfg.permitted_in_half_open = n.clamp(1, window::HALF_OPEN_MAX);
        self
    }
    /// The clock for call durations, windows and the open wait. Default:
    /// the [coarse monotonic clock](CoarseMonotonicClock) when its
    /// resolution is at most 1 % of both the slow-call duration and the
    /// open wait (so with the default 60 s), else the precise
    /// [`MonotonicClock`]: a closed-state call reads the clock twice, and a
    /// precise read is most of the cost of a call on some virtual machines.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }
    /// Builds the breaker, closed.
    pub fn build(self) -> CircuitBreaker {
        let mut cfg = self.cfg;
        cfg.permitted_in_half_open = cfg.permitted_in_half_open.clamp(1, window::HALF_OPEN_MAX);
        cfg.minimum_calls = cfg.minimum_calls.max(1);
        let Instruments { tracer, meter, .. } = Instruments::resolve(self.options);
        let transitions = meter
            .u64_counter(names::CB_TRANSITIONS)
            .with_unit("{transition}")
            .with_description("Circuit breaker state transitions.")
            .build();
        let clock = self.clock.unwrap_or_else(|| default_clock(&cfg));
        let inner = Arc::new(Inner {
            name_attr: shared_kv(names::CB_NAME, self.name.clone()),
            name: self.name,
            window: Window::new(cfg.window),
            cfg,
            clock,
            state: AtomicU64::new(State::Closed.code()),
            opened_at: AtomicU64::new(0),
            half_open: AtomicU64::new(0),
            counts: Default::default(),
            tracer,
            transitions,
            instruments: std::sync::OnceLock::new(),
        });
        register_instruments(&inner, &meter);
        CircuitBreaker { inner }
    }
}

/// See [`CircuitBreakerBuilder::clock`].
fn default_clock(cfg: &Config) -> Arc<dyn Clock> {
    let coarse = CoarseMonotonicClock::new();
    let shortest = cfg.slow_call_duration.min(cfg.wait_in_open);
    if coarse.resolution().saturating_mul(100) <= shortest {
        Arc::new(coarse)
    } else {
        Arc::new(MonotonicClock::new())
    }
}

fn register_instruments(inner: &Arc<Inner>, meter: &Meter) {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let w2 = weak.clone();
    let gauge = meter
        .i64_observable_gauge(names::CB_STATE)
        .with_unit("{state}")
        .with_description("1 for the breaker's current state, 0 for the others.")
        .with_callback(move |obs| {
            if let Some(inner) = weak.upgrade() {
                let current = inner.current().0;
                for s in State::ALL {
                    obs.observe(
                        i64::from(s == current),
                        &[
                            inner.name_attr.clone(),
                            KeyValue::new(names::CB_STATE, s.as_str()),
                        ],
                    );
                }
            }
        })
        .build();
    let calls = meter
        .u64_observable_counter(names::CB_CALLS)
        .with_unit("{call}")
        .with_description("Calls through the circuit breaker, by outcome.")
        .with_callback(move |obs| {
            if let Some(inner) = w2.upgrade() {
                for (i, c) in inner.counts.iter().enumerate() {
                    obs.observe(
                        c.load(Ordering::Relaxed),
                        &[
                            inner.name_attr.clone(),
                            KeyValue::new(names::CB_OUTCOME, OUTCOME_NAMES[i]),
                        ],
                    );
                }
            }
        })
        .build();
    let _ = inner.instruments.set((gauge, calls));
}

/// Permission to make one call; report its outcome with
/// [`Permit::record`]. Dropping it unrecorded gives a half-open trial slot
/// back and records nothing. For calls that are not a future
/// ([`CircuitBreaker::call`] wraps those):
///
/// ```
/// use otel_kit_patterns::breaker::{CircuitBreaker, Outcome};
///
/// let breaker = CircuitBreaker::builder("cache").build();
/// if let Ok(permit) = breaker.try_acquire() {
///     let hit = std::env::var("CACHE_WARM").is_ok();
///     permit.record(if hit { Outcome::Success } else { Outcome::Failure });
/// }
/// ```
#[must_use = "record the call's outcome"]
pub struct Permit<'a> {
    breaker: &'a Inner,
    raw: RawPermit,
}

/// A permit's state, without the breaker it belongs to.
#[derive(Clone, Copy)]
pub(crate) struct RawPermit {
    state_word: u64,
    started: Duration,
    recorded: bool,
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("state", &State::from_code(self.raw.state_word & 0xff))
            .finish()
    }
}

impl Permit<'_> {
    /// Records the outcome; the duration is measured from the permit's
    /// acquisition with the breaker's clock.
    pub fn record(mut self, outcome: Outcome) {
        self.breaker.finish(&mut self.raw, outcome, None);
    }

    /// Records the outcome with an explicit call duration.
    pub fn record_with_duration(mut self, outcome: Outcome, elapsed: Duration) {
        self.breaker.finish(&mut self.raw, outcome, Some(elapsed));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.breaker.abandon(&mut self.raw);
    }
}

/// A permit owning a handle on its breaker (for `'static` futures).
pub(crate) struct OwnedPermit {
    breaker: CircuitBreaker,
    raw: RawPermit,
}

impl OwnedPermit {
    pub(crate) fn record(mut self, outcome: Outcome) {
        self.breaker.inner.finish(&mut self.raw, outcome, None);
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        self.breaker.inner.abandon(&mut self.raw);
    }
}

impl CircuitBreaker {
    /// A builder with resilience4j's defaults.
    pub fn builder(name: impl Into<Arc<str>>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder {
            name: name.into(),
            cfg: Config::default(),
            clock: None,
            options: instrumentation::options(),
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The current state (an `Open` breaker whose wait is over reports
    /// `Open` until the next call moves it to `HalfOpen`).
    pub fn state(&self) -> State {
        self.inner.current().0
    }

    /// Asks to make a call. In the closed state this is a few atomic loads.
    /// A rejection records a short error span (`error.type = circuit_open`)
    /// under the current context and counts a `rejected` call.
    pub fn try_acquire(&self) -> Result<Permit<'_>, CircuitOpen> {
        match self.inner.acquire() {
            Ok(word) => Ok(Permit {
                breaker: &self.inner,
                raw: self.inner.raw(word),
            }),
            Err(state) => Err(self.rejected(state)),
        }
    }

    /// Acquires without recording a rejection.
    pub(crate) fn acquire_owned(&self) -> Result<OwnedPermit, State> {
        self.inner.acquire().map(|word| OwnedPermit {
            breaker: self.clone(),
            raw: self.inner.raw(word),
        })
    }

    /// Records a rejection (span under the current context, counter).
    pub(crate) fn rejected(&self, state: State) -> CircuitOpen {
        self.inner.reject(state)
    }

    /// Runs `fut` if permitted; `Err` outcomes count as failures.
    pub async fn call<T, E, F>(&self, fut: F) -> Result<T, BreakerError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        self.call_classified(fut, |r| match r {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        })
        .await
    }

    /// Runs `fut` if permitted; `classify` decides how its result counts.
    pub async fn call_classified<T, E, F, C>(
        &self,
        fut: F,
        classify: C,
    ) -> Result<T, BreakerError<E>>
    where
        F: Future<Output = Result<T, E>>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        let permit = self.try_acquire().map_err(BreakerError::Open)?;
        let r = fut.await;
        permit.record(classify(&r));
        r.map_err(BreakerError::Inner)
    }

    /// Forces the breaker open until [`reset`](Self::reset).
    pub fn force_open(&self) {
        self.inner.set_state(State::ForcedOpen);
    }

    /// Disables the breaker (every call passes, nothing recorded) until
    /// [`reset`](Self::reset).
    pub fn disable(&self) {
        self.inner.set_state(State::Disabled);
    }

    /// Closes the breaker and empties its window.
    pub fn reset(&self) {
        self.inner.set_state(State::Closed);
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }
}

impl Inner {
    fn raw(&self, word: u64) -> RawPermit {
        RawPermit {
            state_word: word,
            started: self.clock.now(),
            recorded: false,
        }
    }

    fn finish(&self, raw: &mut RawPermit, outcome: Outcome, elapsed: Option<Duration>) {
        raw.recorded = true;
        let elapsed = elapsed.unwrap_or_else(|| self.clock.now().saturating_sub(raw.started));
        self.on_result(raw.state_word, outcome, elapsed);
    }

    fn abandon(&self, raw: &mut RawPermit) {
        if !raw.recorded && State::from_code(raw.state_word & 0xff) == State::HalfOpen {
            raw.recorded = true;
            self.release_half_open(raw.state_word >> 8);
        }
    }

    fn current(&self) -> (State, u64) {
        let w = self.state.load(Ordering::Acquire);
        (State::from_code(w & 0xff), w)
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.clock.now().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Ok(state word the permit belongs to) or Err(state that rejected).
    fn acquire(&self) -> Result<u64, State> {
        loop {
            let (state, word) = self.current();
            match state {
                State::Closed | State::Disabled => return Ok(word),
                State::ForcedOpen => return Err(state),
                State::Open => {
                    let opened = self.opened_at.load(Ordering::Acquire);
                    let wait = u64::try_from(self.cfg.wait_in_open.as_nanos()).unwrap_or(u64::MAX);
                    if self.now_nanos().saturating_sub(opened) < wait {
                        return Err(state);
                    }
                    // Try to move to half-open; whoever wins, read again.
                    self.transition(word, State::HalfOpen, "wait_elapsed");
                }
                State::HalfOpen => {
                    let generation = word >> 8;
                    if self.half_open_take(generation) {
                        return Ok(word);
                    }
                    if self.state.load(Ordering::Acquire) == word {
                        return Err(state);
                    }
                }
            }
        }
    }

    fn half_open_take(&self, generation: u64) -> bool {
        let max = self.cfg.permitted_in_half_open;
        let mut cur = self.half_open.load(Ordering::Acquire);
        loop {
            let mut h = HalfOpenWord::unpack(cur, generation);
            if h.issued >= max {
                return false;
            }
            h.issued += 1;
            match self.half_open.compare_exchange_weak(
                cur,
                h.pack(generation),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(x) => cur = x,
            }
        }
    }

    fn release_half_open(&self, generation: u64) {
        let mut cur = self.half_open.load(Ordering::Acquire);
        loop {
            if !HalfOpenWord::same_generation(cur, generation) {
                return;
            }
            let mut h = HalfOpenWord::unpack(cur, generation);
            if h.issued == 0 {
                return;
            }
            h.issued -= 1;
            match self.half_open.compare_exchange_weak(
                cur,
                h.pack(generation),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(x) => cur = x,
            }
        }
    }

    fn reject(&self, state: State) -> CircuitOpen {
        self.counts[OUT_REJECTED].fetch_add(1, Ordering::Relaxed);
        let cx = self.tracer.start_simple(
            SpanBuilder::from_name(names::CB_REJECTED_SPAN)
                .with_kind(SpanKind::Internal)
                .with_attributes([
                    self.name_attr.clone(),
                    KeyValue::new(names::CB_STATE, state.as_str()),
                ]),
            &Context::current(),
        );
        let span = cx.span();
        // A rejection explains itself: no exception.
        record_error(
            &span,
            &ErrorRecord {
                error_type: Cow::Borrowed(names::CIRCUIT_OPEN),
                message: Some(Cow::Borrowed("circuit open")),
                exception: false,
            },
        );
        span.end();
        CircuitOpen {
            name: self.name.clone(),
            state,
        }
    }

    fn on_result(&self, word: u64, outcome: Outcome, elapsed: Duration) {
        let state = State::from_code(word & 0xff);
        if state == State::Disabled || outcome == Outcome::Ignored {
            return;
        }
        let failed = outcome == Outcome::Failure;
        let slow = elapsed >= self.cfg.slow_call_duration;
        let idx = if failed {
            OUT_FAILURE
        } else if slow {
            OUT_SLOW
        } else {
            OUT_SUCCESS
        };
        self.counts[idx].fetch_add(1, Ordering::Relaxed);
        // An outcome of a call permitted in an earlier state generation does
        // not count towards the current one.
        if self.state.load(Ordering::Acquire) != word {
            return;
        }
        match state {
            State::Closed => {
                let snap = self.window.record(|| self.clock.now(), failed, slow);
                if snap.calls >= u64::from(self.cfg.minimum_calls)
                    && let Some(reason) = self.exceeded(snap.calls, snap.failures, snap.slow)
                {
                    self.transition(word, State::Open, reason);
                }
            }
            State::HalfOpen => {
                let generation = word >> 8;
                let mut cur = self.half_open.load(Ordering::Acquire);
                let done = loop {
                    if !HalfOpenWord::same_generation(cur, generation) {
                        return;
                    }
                    let mut h = HalfOpenWord::unpack(cur, generation);
                    h.done += 1;
                    h.failures += u32::from(failed);
                    h.slow += u32::from(slow);
                    match self.half_open.compare_exchange_weak(
                        cur,
                        h.pack(generation),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => break h,
                        Err(x) => cur = x,
                    }
                };
                if done.done == self.cfg.permitted_in_half_open {
                    match self.exceeded(
                        u64::from(done.done),
                        u64::from(done.failures),
                        u64::from(done.slow),
                    ) {
                        Some(reason) => self.transition(word, State::Open, reason),
                        None => self.transition(word, State::Closed, "trial_calls_succeeded"),
                    };
                }
            }
            _ => {}
        }
    }

    fn exceeded(&self, calls: u64, failures: u64, slow: u64) -> Option<&'static str> {
        if calls == 0 {
            return None;
        }
        // rate ≥ threshold as count × 100 ≥ threshold × calls: no division
        // on the closed path, which checks this on every call once the
        // window has its minimum.
        let calls = calls as f64;
        if failures as f64 * 100.0 >= self.cfg.failure_rate * calls {
            Some("failure_rate")
        } else if slow as f64 * 100.0 >= self.cfg.slow_call_rate * calls {
            Some("slow_call_rate")
        } else {
            None
        }
    }

    /// Moves from the state word `from` to `to`; false when another thread
    /// changed the state first.
    fn transition(&self, from: u64, to: State, reason: &'static str) -> bool {
        let next = (((from >> 8) + 1) << 8) | to.code();
        if to == State::Open {
            self.opened_at.store(self.now_nanos(), Ordering::Release);
        }
        if to == State::Closed {
            self.window.reset();
        }
        if self
            .state
            .compare_exchange(from, next, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        self.announce(State::from_code(from & 0xff), to, reason);
        true
    }

    fn set_state(&self, to: State) {
        let mut cur = self.state.load(Ordering::Acquire);
        while !self.transition(cur, to, "manual") {
            cur = self.state.load(Ordering::Acquire);
        }
    }

    fn announce(&self, from: State, to: State, reason: &'static str) {
        let attrs = [
            self.name_attr.clone(),
            KeyValue::new(names::CB_STATE_FROM, from.as_str()),
            KeyValue::new(names::CB_STATE_TO, to.as_str()),
        ];
        self.transitions.add(1, &attrs);
        let cx = Context::current();
        let span = cx.span();
        if span.is_recording() {
            let mut ev = attrs.to_vec();
            ev.push(KeyValue::new(names::CB_REASON, reason));
            span.add_event(names::CB_STATE_CHANGE_EVENT, ev);
        }
    }
}
