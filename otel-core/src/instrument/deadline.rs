//! A point in time a future or body can wait for without a runtime: the
//! waker is woken by one shared timer thread. Used by the stream policies
//! (`StreamPolicy::max_duration` in otel-kit-http, `max_span_duration` in
//! otel-kit-grpc) to end a span at its deadline while the stream it
//! measures sits idle.
//!
//! Why a thread and not `tokio::time`: the layers run under any executor
//! (hyper and tonic are usually on Tokio, but nothing in a tower layer
//! requires it), and a Tokio timer panics outside a Tokio runtime with its
//! time driver enabled. One thread, started the first time a deadline has
//! to wait, sleeps until the earliest registered deadline; a deadline that
//! is dropped first is unregistered, so the thread holds only the waiting
//! ones. If the thread cannot be started, a deadline is still checked each
//! time it is polled.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// A deadline: [`poll_elapsed`](Deadline::poll_elapsed) is `Ready` once
/// `at` has passed, and wakes the task that polled it then, on any
/// executor.
///
/// No runtime is needed: one thread (`otel-kit-deadline`), started the
/// first time a deadline has to wait, wakes the waiting tasks; a Tokio
/// timer would panic outside a Tokio runtime, and tower layers run under
/// any executor. A deadline dropped before it passed is unregistered, so
/// the thread holds only the waiting ones. If the thread cannot be
/// started, the deadline is still checked each time it is polled.
///
/// ```
/// use std::task::{Context, Poll, Waker};
/// use std::time::{Duration, Instant};
/// use otel_kit_core::instrument::Deadline;
///
/// let mut deadline = Deadline::new(Instant::now() + Duration::from_secs(3600));
/// let mut cx = Context::from_waker(Waker::noop());
/// assert!(deadline.poll_elapsed(&mut cx).is_pending());
/// assert!(Deadline::new(Instant::now()).poll_elapsed(&mut cx).is_ready());
/// ```
#[derive(Debug)]
pub struct Deadline {
    at: Instant,
    /// The key of this deadline in the timer and the waker registered
    /// under it (registered when a poll had to wait).
    registered: Option<(Key, Waker)>,
}

type Key = (Instant, u64);

impl Deadline {
    /// A deadline at `at`. Registers nothing until a poll has to wait.
    pub fn new(at: Instant) -> Self {
        Deadline {
            at,
            registered: None,
        }
    }

    /// When the deadline is.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// `Ready` when the deadline has passed; else registers `cx`'s waker
    /// (once per waker) to be woken at the deadline, and is `Pending`.
    pub fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            self.unregister();
            return Poll::Ready(());
        }
        if let Some((_, waker)) = &self.registered
            && waker.will_wake(cx.waker())
        {
            return Poll::Pending;
        }
        let Some(timer) = Timer::get() else {
            return Poll::Pending;
        };
        let key = match &self.registered {
            Some((key, _)) => *key,
            None => (self.at, timer.next_id.fetch_add(1, Ordering::Relaxed)),
        };
        timer.insert(key, cx.waker().clone());
        self.registered = Some((key, cx.waker().clone()));
        Poll::Pending
    }

    fn unregister(&mut self) {
        if let Some((key, _)) = self.registered.take()
            && let Some(timer) = Timer::get()
        {
            timer.remove(&key);
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// The shared timer: the waiting deadlines, earliest first, and the
/// thread that wakes them.
struct Timer {
    waiting: Mutex<BTreeMap<Key, Waker>>,
    changed: Condvar,
    next_id: AtomicU64,
}

static TIMER: Timer = Timer {
    waiting: Mutex::new(BTreeMap::new()),
    changed: Condvar::new(),
    next_id: AtomicU64::new(0),
};

/// Whether the timer thread runs.
static STARTED: OnceLock<bool> = OnceLock::new();

impl Timer {
    /// The timer, its thread started on first use; `None` when the thread
    /// cannot be started.
    fn get() -> Option<&'static Timer> {
        let started = *STARTED.get_or_init(|| {
            std::thread::Builder::new()
                .name("otel-kit-deadline".into())
                .spawn(|| TIMER.run())
                .is_ok()
        });
        started.then_some(&TIMER)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Key, Waker>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, key: Key, waker: Waker) {
        let mut waiting = self.lock();
        let earliest = waiting
            .first_key_value()
            .is_none_or(|(first, _)| key < *first);
        waiting.insert(key, waker);
        drop(waiting);
        if earliest {
            self.changed.notify_one();
        }
    }

    fn remove(&self, key: &Key) {
        self.lock().remove(key);
    }

    /// The thread: wakes the deadlines that passed, then sleeps until the
    /// earliest one left (or until one is added).
    fn run(&self) {
        let mut due = Vec::new();
        let mut waiting = self.lock();
        loop {
            let now = Instant::now();
            while let Some(entry) = waiting.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            if !due.is_empty() {
                drop(waiting);
                due.drain(..).for_each(Waker::wake);
                waiting = self.lock();
                continue;
            }
            waiting = match waiting.first_key_value().map(|(key, _)| key.0 - now) {
                Some(wait) => {
                    self.changed
                        .wait_timeout(waiting, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(waiting)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;
    use std::time::Duration;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn wait_for_wake(count: &Count) {
        let give_up = Instant::now() + Duration::from_secs(10);
        while count.0.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < give_up, "the waker was never woken");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn wakes_the_waker_at_the_deadline_and_is_then_ready() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut deadline = Deadline::new(Instant::now() + Duration::from_millis(50));
        assert!(deadline.poll_elapsed(&mut cx).is_pending());
        // The same waker again: registered once.
        assert!(deadline.poll_elapsed(&mut cx).is_pending());
        wait_for_wake(&count);
        assert!(deadline.poll_elapsed(&mut cx).is_ready());
        assert!(Instant::now() >= deadline.at());
    }

    #[test]
    fn a_later_deadline_does_not_delay_an_earlier_one() {
        let late = Arc::new(Count(AtomicUsize::new(0)));
        let early = Arc::new(Count(AtomicUsize::new(0)));
        let (late_waker, early_waker) = (Waker::from(late.clone()), Waker::from(early.clone()));
        let mut far = Deadline::new(Instant::now() + Duration::from_secs(3600));
        assert!(
            far.poll_elapsed(&mut Context::from_waker(&late_waker))
                .is_pending()
        );
        let mut near = Deadline::new(Instant::now() + Duration::from_millis(20));
        assert!(
            near.poll_elapsed(&mut Context::from_waker(&early_waker))
                .is_pending()
        );
        wait_for_wake(&early);
        assert_eq!(late.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_dropped_deadline_is_unregistered() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut deadline = Deadline::new(Instant::now() + Duration::from_secs(3600));
        assert!(
            deadline
                .poll_elapsed(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let key = deadline.registered.as_ref().unwrap().0;
        assert!(TIMER.lock().contains_key(&key));
        drop(deadline);
        assert!(!TIMER.lock().contains_key(&key));
    }
}
