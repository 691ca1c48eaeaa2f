use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};

use super::result_for;
use crate::clock::{Clock, MonotonicClock};

/// Keeps about `per_second` spans per second however high the load, with short
/// bursts of up to `burst` spans (default: one second's worth, at least 1).
///
/// A token bucket kept in one atomic integer (the "generic cell rate
/// algorithm"): a decision is a load, a comparison and, only when the span is
/// kept, one compare-and-swap. No lock, no allocation; a dropped span writes
/// nothing, so overload does not make threads contend. Clones share the bucket.
/// The bucket starts full. Over any window of `t` seconds at most
/// `burst + per_second * t` spans are kept; under steady overload exactly
/// `per_second` per second are.
///
/// Every decision uses a token, whatever the span: to limit new *traces*, use it
/// as the root sampler of a parent-based sampler (`parentbased_ratelimiting` in
/// the environment, or `Sampler::parent_based(RateLimitingSampler::new(n))`), so
/// child spans follow their parent without using tokens.
///
/// A rate that is NaN, zero or negative keeps nothing; an infinite rate, or one
/// above 10⁹ per second, keeps everything. Time is counted in nanoseconds, so
/// very high rates are rounded (by under 1 % up to 10⁷ per second).
///
/// ```
/// use std::time::Duration;
/// use opentelemetry::trace::{SpanKind, TraceId};
/// use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample};
/// use otel_kit_core::clock::ManualClock;
/// use otel_kit_core::sampling::RateLimitingSampler;
///
/// let clock = ManualClock::new();
/// let sampler = RateLimitingSampler::with_clock(2.0, 2.0, clock.clone());
/// let mut kept = || {
///     (0..100)
///         .filter(|_| {
///             sampler
///                 .should_sample(None, TraceId::from(1), "job", &SpanKind::Internal, &[], &[])
///                 .decision
///                 == SamplingDecision::RecordAndSample
///         })
///         .count()
/// };
/// assert_eq!(kept(), 2); // the initial burst
/// clock.advance(Duration::from_millis(500));
/// assert_eq!(kept(), 1); // one token every 500 ms
/// ```
pub struct RateLimitingSampler<C: Clock = MonotonicClock> {
    shared: Arc<Bucket<C>>,
}

struct Bucket<C> {
    clock: C,
    per_second: f64,
    burst: f64,
    mode: Mode,
    /// Nanoseconds between tokens.
    interval: u64,
    /// How far ahead of now the theoretical arrival time may be: `(burst - 1)`
    /// intervals.
    tolerance: u64,
    /// The theoretical arrival time: when the bucket would be full again.
    tat: AtomicU64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Limited,
    Unlimited,
    Closed,
}

impl RateLimitingSampler {
    /// Keeps about `per_second` spans per second, with a burst of one second's
    /// worth (at least 1), on the real monotonic clock.
    pub fn new(per_second: f64) -> Self {
        Self::with_burst(per_second, Self::default_burst(per_second))
    }

    /// Keeps about `per_second` spans per second, with bursts of up to `burst`
    /// spans (at least 1; NaN counts as 1), on the real monotonic clock.
    pub fn with_burst(per_second: f64, burst: f64) -> Self {
        Self::with_clock(per_second, burst, MonotonicClock::new())
    }

    /// The default burst for `per_second`: one second's worth, at least 1.
    pub fn default_burst(per_second: f64) -> f64 {
        if per_second.is_nan() {
            1.0
        } else {
            per_second.max(1.0)
        }
    }
}

impl<C: Clock> RateLimitingSampler<C> {
    /// Keeps about `per_second` spans per second with bursts of up to `burst`
    /// spans, on `clock` (e.g. a [`ManualClock`](crate::clock::ManualClock) in tests). Pass
    /// [`RateLimitingSampler::default_burst`] for the default burst.
    pub fn with_clock(per_second: f64, burst: f64, clock: C) -> Self {
        let burst = if burst.is_nan() { 1.0 } else { burst.max(1.0) };
        let interval_f = 1e9 / per_second;
        let (mode, interval) = if per_second.is_nan() || per_second <= 0.0 {
            (Mode::Closed, u64::MAX)
        } else if interval_f.round() < 1.0 {
            (Mode::Unlimited, 0)
        } else {
            // `as` saturates, so a tiny rate gives an interval of u64::MAX.
            (Mode::Limited, interval_f.round() as u64)
        };
        let tolerance = ((burst - 1.0) * interval as f64) as u64;
        Self {
            shared: Arc::new(Bucket {
                clock,
                per_second,
                burst,
                mode,
                interval,
                tolerance,
                tat: AtomicU64::new(0),
            }),
        }
    }

    /// The configured rate, in spans per second.
    pub fn per_second(&self) -> f64 {
        self.shared.per_second
    }

    /// The burst size, in spans (at least 1).
    pub fn burst(&self) -> f64 {
        self.shared.burst
    }

    /// Takes a token if one is available.
    fn try_acquire(&self) -> bool {
        let bucket = &*self.shared;
        match bucket.mode {
            Mode::Unlimited => return true,
            Mode::Closed => return false,
            Mode::Limited => {}
        }
        let now = u64::try_from(bucket.clock.now().as_nanos()).unwrap_or(u64::MAX);
        // One atomic variable: its modification order alone makes the
        // compare-and-swap count correctly, so relaxed ordering suffices.
        let mut tat = bucket.tat.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now > bucket.tolerance {
                return false;
            }
            let next = start.saturating_add(bucket.interval);
            match bucket
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(current) => tat = current,
            }
        }
    }
}

impl<C: Clock> Clone for RateLimitingSampler<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C: Clock> fmt::Debug for RateLimitingSampler<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitingSampler")
            .field("per_second", &self.shared.per_second)
            .field("burst", &self.shared.burst)
            .field("clock", &self.shared.clock)
            .finish()
    }
}

impl<C: Clock> ShouldSample for RateLimitingSampler<C> {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        _trace_id: TraceId,
        _name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let decision = if self.try_acquire() {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        };
        result_for(decision, parent_context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::sampling::test_support::remote_parent;
    use opentelemetry::trace::TraceState;
    use opentelemetry_sdk::trace::Sampler;
    use std::time::{Duration, Instant};

    fn kept<C: Clock>(sampler: &RateLimitingSampler<C>) -> bool {
        sampler
            .should_sample(None, TraceId::from(9), "s", &SpanKind::Server, &[], &[])
            .decision
            == SamplingDecision::RecordAndSample
    }

    /// Keeps `per_second` per simulated second within ±20 % under 10× load,
    /// whether the load is spread evenly or arrives in bursts.
    #[test]
    fn keeps_the_rate_under_ten_times_the_load() {
        for per_second in [1.0, 7.0, 100.0, 1_000.0] {
            let attempts_per_second = (per_second * 10.0) as u64;
            let seconds = 10;
            for spread_evenly in [true, false] {
                let clock = ManualClock::new();
                let sampler = RateLimitingSampler::with_clock(
                    per_second,
                    RateLimitingSampler::default_burst(per_second),
                    clock.clone(),
                );
                let step = Duration::from_secs(1) / attempts_per_second as u32;
                let mut per_window = Vec::new();
                for second in 0..seconds {
                    clock.set(Duration::from_secs(second));
                    let mut count = 0.0;
                    for _ in 0..attempts_per_second {
                        count += f64::from(u8::from(kept(&sampler)));
                        if spread_evenly {
                            clock.advance(step);
                        }
                    }
                    per_window.push(count);
                }
                let label = format!("{per_second}/s, evenly: {spread_evenly}, {per_window:?}");
                // The first second may add the initial burst (the bucket starts full).
                assert!(per_window[0] <= 2.0 * per_second + 1.0, "{label}");
                assert!(per_window[0] >= per_second, "{label}");
                // Afterwards every second keeps N ± 20 %.
                for count in &per_window[1..] {
                    assert!((count - per_second).abs() <= 0.2 * per_second, "{label}");
                }
                // And so does the whole run, burst included.
                let mean = per_window.iter().sum::<f64>() / seconds as f64;
                assert!((mean - per_second).abs() <= 0.2 * per_second, "{label}");
            }
        }
    }

    #[test]
    fn fractional_rates_and_burst() {
        let clock = ManualClock::new();
        let sampler = RateLimitingSampler::with_clock(0.5, 1.0, clock.clone());
        assert!(kept(&sampler));
        assert!(!kept(&sampler));
        clock.advance(Duration::from_millis(1_999));
        assert!(!kept(&sampler));
        clock.advance(Duration::from_millis(1));
        assert!(kept(&sampler));
        assert!(!kept(&sampler));

        // A burst of 5 after idling, whatever the idle time.
        let sampler = RateLimitingSampler::with_clock(10.0, 5.0, clock.clone());
        clock.advance(Duration::from_secs(3_600));
        assert_eq!((0..100).filter(|_| kept(&sampler)).count(), 5);
        clock.advance(Duration::from_millis(100));
        assert_eq!((0..100).filter(|_| kept(&sampler)).count(), 1);
    }

    #[test]
    fn edge_rates_never_panic() {
        let clock = ManualClock::new();
        let run = |per_second: f64, burst: f64| {
            let sampler = RateLimitingSampler::with_clock(per_second, burst, clock.clone());
            (0..50).filter(|_| kept(&sampler)).count()
        };
        assert_eq!(run(f64::NAN, 1.0), 0);
        assert_eq!(run(0.0, 10.0), 0);
        assert_eq!(run(-5.0, 10.0), 0);
        assert_eq!(run(f64::NEG_INFINITY, 1.0), 0);
        assert_eq!(run(f64::INFINITY, 1.0), 50);
        assert_eq!(run(1e12, 1.0), 50);
        assert_eq!(run(1e-300, 1.0), 1);
        assert_eq!(run(1e-300, f64::INFINITY), 50);
        assert_eq!(run(1.0, f64::NAN), 1);
        assert_eq!(run(1.0, -3.0), 1);
        assert_eq!(run(1.0, 0.5), 1);
        // Time at the end of the clock's range (584 years) saturates instead of
        // wrapping or panicking.
        clock.set(Duration::from_nanos(u64::MAX - 10));
        assert!(run(1.0, 3.0) >= 3);
        clock.set(Duration::MAX);
        assert!(run(1.0, 1.0) >= 1);
        // A clock going backwards keeps fewer, and does not panic.
        let sampler = RateLimitingSampler::with_clock(1.0, 1.0, clock.clone());
        clock.set(Duration::from_secs(100));
        assert!(kept(&sampler));
        clock.set(Duration::from_secs(50));
        assert!(!kept(&sampler));
    }

    #[test]
    fn concurrent_callers_share_the_bucket_exactly() {
        let clock = ManualClock::new();
        let sampler = RateLimitingSampler::with_clock(100.0, 100.0, clock.clone());
        let count_kept = || {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..4)
                    .map(|_| {
                        let sampler = sampler.clone();
                        scope.spawn(move || (0..1_000).filter(|_| kept(&sampler)).count())
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or(0))
                    .sum::<usize>()
            })
        };
        // Frozen time: exactly the burst, however the threads interleave.
        assert_eq!(count_kept(), 100);
        clock.advance(Duration::from_millis(250));
        assert_eq!(count_kept(), 25);
        clock.advance(Duration::from_secs(10));
        assert_eq!(count_kept(), 100);
    }

    /// The real clock, counted over a short window: bounds follow from the
    /// elapsed time measured by the test, not from how fast the code runs.
    #[test]
    fn real_clock_keeps_within_the_budget_of_the_window() {
        let per_second = 50.0;
        let started = Instant::now();
        let sampler = RateLimitingSampler::new(per_second);
        let (attempts, kept_count) = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let sampler = sampler.clone();
                    scope.spawn(move || {
                        let (mut attempts, mut kept_count) = (0_u64, 0_u64);
                        while started.elapsed() < Duration::from_millis(300) {
                            attempts += 1;
                            kept_count += u64::from(kept(&sampler));
                        }
                        (attempts, kept_count)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or((0, 0)))
                .fold((0, 0), |(a, k), (a2, k2)| (a + a2, k + k2))
        });
        let elapsed = started.elapsed().as_secs_f64();
        let upper = per_second + per_second * elapsed + 1.0;
        assert!(
            (kept_count as f64) <= upper,
            "kept {kept_count}, bound {upper}"
        );
        // The bucket starts full, so at least the burst (or every attempt) is kept.
        assert!(
            kept_count >= attempts.min(per_second as u64),
            "kept {kept_count} of {attempts}"
        );
    }

    #[test]
    fn parent_based_counts_new_traces_only_and_keeps_trace_state() {
        let clock = ManualClock::new();
        let limiter = RateLimitingSampler::with_clock(1.0, 1.0, clock.clone());
        let sampler = Sampler::parent_based(limiter.clone());
        let state = TraceState::from_key_value([("k", "v")]).unwrap();
        let sampled = remote_parent(true, state.clone());
        for _ in 0..10 {
            let result = sampler.should_sample(
                Some(&sampled),
                TraceId::from(1),
                "child",
                &SpanKind::Internal,
                &[],
                &[],
            );
            assert_eq!(result.decision, SamplingDecision::RecordAndSample);
        }
        // Children used no token: the one token is still there for a root.
        assert!(kept(&limiter));
        let result = limiter.should_sample(
            Some(&sampled),
            TraceId::from(1),
            "x",
            &SpanKind::Internal,
            &[],
            &[],
        );
        assert_eq!(result.decision, SamplingDecision::Drop);
        assert_eq!(result.trace_state, state);
    }

    #[test]
    fn accessors_and_debug() {
        let sampler = RateLimitingSampler::new(0.25);
        assert_eq!(sampler.per_second(), 0.25);
        assert_eq!(sampler.burst(), 1.0);
        assert_eq!(RateLimitingSampler::new(40.0).burst(), 40.0);
        assert!(format!("{sampler:?}").contains("per_second: 0.25"));
    }
}
