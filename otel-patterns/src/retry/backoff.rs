//! Backoff delays: exponential with full jitter (default), decorrelated
//! jitter, or none.

use rand::Rng;
use std::time::Duration;

/// How randomness spreads the exponential delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Uniform in `[0, min(max, initial × multiplier^(n-1))]` (AWS "full jitter").
    #[default]
    Full,
    /// Uniform in `[initial, min(max, 3 × previous delay)]` (AWS "decorrelated jitter").
    Decorrelated,
    /// Exactly `min(max, initial × multiplier^(n-1))`.
    None,
}

/// Exponential backoff settings, of a [`RetryPolicy`](super::RetryPolicy),
/// a saga step's [`StepRetry`](crate::saga::StepRetry) or a 2PC
/// coordinator's phase two.
///
/// ```
/// use otel_kit_patterns::retry::{Backoff, Jitter};
/// use std::time::Duration;
///
/// let b = Backoff { initial: Duration::from_millis(100), jitter: Jitter::None, ..Backoff::default() };
/// assert_eq!(b.base(1), Duration::from_millis(100));
/// assert_eq!(b.base(3), Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Base delay (before the first retry, without jitter). Default 100 ms.
    pub initial: Duration,
    /// Largest delay. Default 10 s.
    pub max: Duration,
    /// Growth factor per retry. Default 2.
    pub multiplier: f64,
    /// Jitter. Default [`Jitter::Full`].
    pub jitter: Jitter,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: Jitter::Full,
        }
    }
}

impl Backoff {
    /// The un-jittered delay before retry number `retry` (1 = first retry).
    pub fn base(&self, retry: u32) -> Duration {
        let exp = self
            .multiplier
            .max(1.0)
            .powi(retry.saturating_sub(1).min(1000) as i32);
        let secs = self.initial.as_secs_f64() * exp;
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The delay before retry number `retry` (1 = first retry), given the
    /// previous delay (zero before the first retry) and a random source.
    pub fn delay<R: Rng + ?Sized>(&self, retry: u32, previous: Duration, rng: &mut R) -> Duration {
        match self.jitter {
            Jitter::None => self.base(retry),
            Jitter::Full => {
                let cap = self.base(retry).as_nanos() as u64;
                Duration::from_nanos(rng.random_range(0..=cap))
            }
            Jitter::Decorrelated => {
                let lo = self.initial.min(self.max).as_nanos() as u64;
                let prev = previous.max(self.initial).as_nanos() as u64;
                let hi = prev
                    .saturating_mul(3)
                    .min(self.max.as_nanos() as u64)
                    .max(lo);
                Duration::from_nanos(rng.random_range(lo..=hi))
            }
        }
    }
}
