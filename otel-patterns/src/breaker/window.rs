//! Lock-free sliding windows and the half-open bookkeeping word.

use super::SlidingWindow;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

/// Most trial calls the half-open word can count.
pub(crate) const HALF_OPEN_MAX: u32 = 0xfff;

/// Calls, failures and slow calls currently in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub calls: u64,
    pub failures: u64,
    pub slow: u64,
}

pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(kind: SlidingWindow) -> Self {
        match kind {
            SlidingWindow::Count(n) => Window::Count(CountWindow::new(n.max(1) as usize)),
            SlidingWindow::Time(n) => Window::Time(TimeWindow::new(n.max(1) as usize)),
        }
    }

    /// Records one outcome; `now` is only read by a time window (a count
    /// window needs no clock).
    pub(crate) fn record(
        &self,
        now: impl FnOnce() -> Duration,
        failed: bool,
        slow: bool,
    ) -> Snapshot {
        match self {
            Window::Count(w) => w.record(failed, slow),
            Window::Time(w) => w.record(now().as_secs(), failed, slow),
        }
    }

    pub(crate) fn reset(&self) {
        match self {
            Window::Count(w) => w.reset(),
            Window::Time(w) => w.reset(),
        }
    }
}

/// The last `n` outcomes in a ring of one-byte slots, with running totals.
/// Each record is one `fetch_add`, one `swap` and at most three more
/// `fetch_add`s; totals are exact once concurrent records finish.
pub(crate) struct CountWindow {
    slots: Box<[AtomicU8]>,
    next: AtomicU64,
    calls: AtomicI64,
    failures: AtomicI64,
    slow: AtomicI64,
}

const CALL: u8 = 1;
const FAIL: u8 = 2;
const SLOW: u8 = 4;

impl CountWindow {
    fn new(n: usize) -> Self {
        CountWindow {
            slots: (0..n).map(|_| AtomicU8::new(0)).collect(),
            next: AtomicU64::new(0),
            calls: AtomicI64::new(0),
            failures: AtomicI64::new(0),
            slow: AtomicI64::new(0),
        }
    }

    fn record(&self, failed: bool, slow: bool) -> Snapshot {
        let i = (self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len() as u64) as usize;
        let new = CALL | if failed { FAIL } else { 0 } | if slow { SLOW } else { 0 };
        let old = self.slots[i].swap(new, Ordering::AcqRel);
        let delta = |bit: u8| i64::from(new & bit != 0) - i64::from(old & bit != 0);
        let calls = adjust(&self.calls, delta(CALL));
        let failures = adjust(&self.failures, delta(FAIL));
        let slow = adjust(&self.slow, delta(SLOW));
        Snapshot {
            calls,
            failures,
            slow,
        }
    }

    fn reset(&self) {
        for s in self.slots.iter() {
            s.store(0, Ordering::Relaxed);
        }
        self.calls.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        self.slow.store(0, Ordering::Relaxed);
    }
}

fn adjust(counter: &AtomicI64, delta: i64) -> u64 {
    let v = if delta == 0 {
        counter.load(Ordering::Acquire)
    } else {
        counter.fetch_add(delta, Ordering::AcqRel) + delta
    };
    // A concurrent record may briefly leave a total below its true value.
    v.max(0) as u64
}

/// One bucket per second over the last `n` seconds. A bucket is one
/// `AtomicU64`: valid (1 bit) | second (16) | calls (16) | failures (16) |
/// slow (15); updated by compare-and-swap, counts saturate per second.
pub(crate) struct TimeWindow {
    buckets: Box<[AtomicU64]>,
}

const VALID: u64 = 1 << 63;

fn unpack_bucket(w: u64) -> (bool, u64, u64, u64, u64) {
    (
        w & VALID != 0,
        (w >> 47) & 0xffff,
        (w >> 31) & 0xffff,
        (w >> 15) & 0xffff,
        w & 0x7fff,
    )
}

fn pack_bucket(sec: u64, calls: u64, failures: u64, slow: u64) -> u64 {
    VALID
        | ((sec & 0xffff) << 47)
        | (calls.min(0xffff) << 31)
        | (failures.min(0xffff) << 15)
        | slow.min(0x7fff)
}

impl TimeWindow {
    fn new(n: usize) -> Self {
        TimeWindow {
            buckets: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn record(&self, sec: u64, failed: bool, slow: bool) -> Snapshot {
        let n = self.buckets.len() as u64;
        let bucket = &self.buckets[(sec % n) as usize];
        let mut cur = bucket.load(Ordering::Acquire);
        loop {
            let (valid, s, c, f, sl) = unpack_bucket(cur);
            let (c, f, sl) = if valid && s == sec & 0xffff {
                (c, f, sl)
            } else {
                (0, 0, 0)
            };
            let next = pack_bucket(sec, c + 1, f + u64::from(failed), sl + u64::from(slow));
            match bucket.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(x) => cur = x,
            }
        }
        self.snapshot(sec)
    }

    fn snapshot(&self, sec: u64) -> Snapshot {
        let n = self.buckets.len() as u64;
        let mut snap = Snapshot::default();
        for b in self.buckets.iter() {
            let (valid, s, c, f, sl) = unpack_bucket(b.load(Ordering::Acquire));
            let age = (sec & 0xffff).wrapping_sub(s) & 0xffff;
            if valid && age < n {
                snap.calls += c;
                snap.failures += f;
                snap.slow += sl;
            }
        }
        snap
    }

    fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// The half-open trial bookkeeping of one state generation, in one word:
/// generation (16 bits) | issued (12) | done (12) | failures (12) | slow (12).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HalfOpenWord {
    pub issued: u32,
    pub done: u32,
    pub failures: u32,
    pub slow: u32,
}

impl HalfOpenWord {
    pub(crate) fn same_generation(word: u64, generation: u64) -> bool {
        word >> 48 == generation & 0xffff
    }

    /// The counts of `generation` (zero when the word belongs to another).
    pub(crate) fn unpack(word: u64, generation: u64) -> Self {
        if !Self::same_generation(word, generation) {
            return HalfOpenWord::default();
        }
        HalfOpenWord {
            issued: ((word >> 36) & 0xfff) as u32,
            done: ((word >> 24) & 0xfff) as u32,
            failures: ((word >> 12) & 0xfff) as u32,
            slow: (word & 0xfff) as u32,
        }
    }

    pub(crate) fn pack(self, generation: u64) -> u64 {
        let f = |v: u32| u64::from(v.min(HALF_OPEN_MAX));
        ((generation & 0xffff) << 48)
            | (f(self.issued) << 36)
            | (f(self.done) << 24)
            | (f(self.failures) << 12)
            | f(self.slow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_window_keeps_last_n() {
        let w = CountWindow::new(4);
        for _ in 0..4 {
            w.record(true, false);
        }
        let s = w.record(false, true);
        assert_eq!((s.calls, s.failures, s.slow), (4, 3, 1));
        w.reset();
        assert_eq!(w.record(false, false).calls, 1);
    }

    #[test]
    fn time_window_forgets_old_seconds() {
        let w = TimeWindow::new(3);
        w.record(10, true, false);
        w.record(11, false, false);
        let s = w.record(12, false, true);
        assert_eq!((s.calls, s.failures, s.slow), (3, 1, 1));
        let s = w.record(13, false, false);
        assert_eq!((s.calls, s.failures, s.slow), (3, 0, 1));
        let s = w.record(100, false, false);
        assert_eq!(s.calls, 1);
    }

    #[test]
    fn half_open_word_round_trips() {
        let h = HalfOpenWord {
            issued: 5,
            done: 4,
            failures: 3,
            slow: 2,
        };
        let w = h.pack(7);
        let back = HalfOpenWord::unpack(w, 7);
        assert_eq!(
            (back.issued, back.done, back.failures, back.slow),
            (5, 4, 3, 2)
        );
        assert_eq!(HalfOpenWord::unpack(w, 8).issued, 0);
    }
}
