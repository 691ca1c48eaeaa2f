//! A retry budget: retries may spend only what successful traffic earned,
//! so they cannot amplify an outage.

use otel_kit_core::clock::{Clock, MonotonicClock};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

const UNIT: i64 = 1000;

/// A token bucket shared by every call of a client: each first attempt
/// deposits `ratio` tokens (capped at `max_tokens`), each retry withdraws
/// one; in addition `min_per_second` retries are always allowed, so a
/// quiet client can still retry. With `ratio = 0.1`, retries add at most
/// 10 % (plus the floor) to the load, however many calls fail.
///
/// Share one budget between every policy of a client:
///
/// ```
/// use otel_kit_patterns::retry::{RetryBudget, RetryPolicy};
/// use std::sync::Arc;
///
/// let budget = Arc::new(RetryBudget::new(0.1, 100, 1));
/// let get = RetryPolicy::builder("GET /items").budget(budget.clone()).build();
/// let put = RetryPolicy::builder("PUT /items").budget(budget).build();
/// # let _ = (get, put);
/// ```
pub struct RetryBudget {
    ratio_milli: i64,
    max_milli: i64,
    min_per_second: u64,
    balance: AtomicI64,
    /// Second (of `clock`) of the floor allowance and retries taken from it, packed.
    floor: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("ratio", &(self.ratio_milli as f64 / UNIT as f64))
            .field("balance", &self.balance())
            .finish()
    }
}

impl RetryBudget {
    /// `ratio` retries earned per call, at most `max_tokens` banked, and
    /// `min_per_second` retries always allowed.
    pub fn new(ratio: f64, max_tokens: u32, min_per_second: u32) -> Self {
        Self::with_clock(ratio, max_tokens, min_per_second, MonotonicClock::new())
    }

    /// Like [`new`](Self::new) with an explicit clock.
    pub fn with_clock(ratio: f64, max_tokens: u32, min_per_second: u32, clock: impl Clock) -> Self {
        RetryBudget {
            ratio_milli: (ratio.clamp(0.0, 1000.0) * UNIT as f64) as i64,
            max_milli: i64::from(max_tokens) * UNIT,
            min_per_second: u64::from(min_per_second),
            balance: AtomicI64::new(0),
            floor: AtomicU64::new(0),
            clock: Arc::new(clock),
        }
    }

    /// The tokens banked now.
    pub fn balance(&self) -> f64 {
        self.balance.load(Ordering::Relaxed) as f64 / UNIT as f64
    }

    /// Records a first attempt.
    pub fn deposit(&self) {
        if self.ratio_milli == 0 {
            return;
        }
        let prev = self.balance.fetch_add(self.ratio_milli, Ordering::AcqRel);
        if prev + self.ratio_milli > self.max_milli {
            // Clamp; a concurrent withdrawal between the add and here only
            // makes the balance smaller, never larger than the cap.
            let _ = self.balance.fetch_min(self.max_milli, Ordering::AcqRel);
        }
    }

    /// Asks for one retry; false means the budget is exhausted.
    pub fn withdraw(&self) -> bool {
        let mut cur = self.balance.load(Ordering::Acquire);
        while cur >= UNIT {
            match self.balance.compare_exchange_weak(
                cur,
                cur - UNIT,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(x) => cur = x,
            }
        }
        self.take_floor()
    }

    fn take_floor(&self) -> bool {
        if self.min_per_second == 0 {
            return false;
        }
        let sec = self.clock.now().as_secs() & 0xffff_ffff;
        let mut cur = self.floor.load(Ordering::Acquire);
        loop {
            let (s, used) = (cur >> 32, cur & 0xffff_ffff);
            let used = if s == sec { used } else { 0 };
            if used >= self.min_per_second {
                return false;
            }
            let next = (sec << 32) | (used + 1);
            match self
                .floor
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(x) => cur = x,
            }
        }
    }
}

impl Default for RetryBudget {
    /// 20 % retries, 100 tokens banked, 10 retries per second floor.
    fn default() -> Self {
        Self::new(0.2, 100, 10)
    }
}
