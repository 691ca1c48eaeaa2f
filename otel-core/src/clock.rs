//! The family's one clock: an injectable monotonic clock, so samplers,
//! breaker windows, budgets and recovery leases can be tested without
//! sleeping.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock: the time elapsed since an arbitrary, fixed origin.
/// Time should not go backwards; users of a clock that does never panic.
///
/// ```
/// use std::time::Duration;
/// use otel_kit_core::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now(), Duration::from_millis(1500));
/// ```
pub trait Clock: Send + Sync + Debug + 'static {
    /// Time since the clock's origin.
    fn now(&self) -> Duration;
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }
}

/// The process's monotonic clock (`std::time::Instant`).
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// The kernel's coarse monotonic clock: on Linux `CLOCK_MONOTONIC_COARSE`
/// (the time of the last scheduler tick, read from the vDSO without the
/// hardware counter, so a few nanoseconds where a precise read can take tens
/// on a virtual machine; resolution one tick, 1–4 ms, see
/// [`resolution`](Self::resolution)). Elsewhere the same as
/// [`MonotonicClock`].
#[derive(Debug, Clone, Copy)]
pub struct CoarseMonotonicClock {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    origin: Duration,
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    inner: MonotonicClock,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn duration(ts: rustix::time::Timespec) -> Duration {
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0).min(999_999_999),
    )
}

impl CoarseMonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            CoarseMonotonicClock {
                origin: duration(rustix::time::clock_gettime(
                    rustix::time::ClockId::MonotonicCoarse,
                )),
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            CoarseMonotonicClock {
                inner: MonotonicClock::new(),
            }
        }
    }

    /// How far apart its readings can be from the true time (one tick).
    pub fn resolution(&self) -> Duration {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            duration(rustix::time::clock_getres(
                rustix::time::ClockId::MonotonicCoarse,
            ))
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            Duration::from_nanos(1)
        }
    }
}

impl Default for CoarseMonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for CoarseMonotonicClock {
    #[inline]
    fn now(&self) -> Duration {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            duration(rustix::time::clock_gettime(
                rustix::time::ClockId::MonotonicCoarse,
            ))
            .saturating_sub(self.origin)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            self.inner.now()
        }
    }
}

/// A clock that only moves when told to (tests, simulations). Clones share
/// the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // `fetch_update` with a closure that always returns `Some` cannot fail.
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(by))
            });
    }

    /// Sets the time since the origin.
    pub fn set(&self, since_origin: Duration) {
        let nanos = u64::try_from(since_origin.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.store(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clock_is_monotonic_and_close_to_the_precise_one() {
        let coarse = CoarseMonotonicClock::new();
        let precise = MonotonicClock::new();
        let res = coarse.resolution();
        assert!(
            res > Duration::ZERO && res <= Duration::from_millis(100),
            "{res:?}"
        );
        let mut last = coarse.now();
        for _ in 0..1000 {
            let now = coarse.now();
            assert!(now >= last);
            last = now;
        }
        std::thread::sleep(Duration::from_millis(30));
        let (c, p) = (coarse.now(), precise.now());
        // Within one tick either way (the two origins differ by up to one).
        let diff = c.abs_diff(p);
        assert!(
            diff <= res * 2,
            "coarse {c:?} precise {p:?} resolution {res:?}"
        );
    }
}
