//! Recovery claims held while a recovery runs, renewed by a timer thread
//! of their own: renewal needs no async runtime's timer, so a recovery
//! keeps its claim on any executor, including a Tokio runtime built
//! without `enable_time`.

use super::SagaLog;
use futures_util::future::{Either, select};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

/// Runs `work` (the recovery of claimed instance `id`) while renewing
/// `owner`'s claim every third of `lease`, so a recovery that outlasts one
/// lease (long compensation retries, a slow participant) is not resumed a
/// second time by a recovery that sees the claim expire. Renewal is
/// [`SagaLog::claim`] again by the same owner; `statuses` must hold every
/// status the instance passes through while `work` runs. Renewal stops
/// when a claim is refused (the instance reached a final status, or the
/// claim was lost after all); a failed renewal is tried again a period
/// later.
///
/// The period is kept by a [`Ticker`] thread, not by an async runtime's
/// timer: renewal works on any executor. When no thread can be started,
/// `work` runs without renewal, holding the claim for one lease.
pub(crate) async fn renewing_claim<F: Future>(
    log: &dyn SagaLog,
    id: &str,
    owner: &str,
    statuses: &[&str],
    lease: Duration,
    work: F,
) -> F::Output {
    let period = (lease / 3).max(Duration::from_millis(1));
    let Some(ticker) = Ticker::start(period) else {
        return work.await;
    };
    let renew = async {
        loop {
            ticker.tick().await;
            if let Ok(false) = log.claim(id, owner, statuses, lease).await {
                break;
            }
        }
        // Never completes: only `work` ends the race.
        std::future::pending::<()>().await
    };
    match select(pin!(work), pin!(renew)).await {
        Either::Left((out, _)) => out,
        Either::Right(((), _)) => unreachable!("renewal never completes"),
    }
}

/// A tick every `period`, kept by a thread of its own that wakes the task
/// waiting in [`tick`](Ticker::tick). The thread ends as soon as the ticker
/// is dropped.
#[derive(Debug)]
pub(crate) struct Ticker {
    state: Arc<Mutex<TickState>>,
    /// Dropping it disconnects the thread's channel: the thread ends at once.
    _stop: mpsc::Sender<()>,
}

#[derive(Debug, Default)]
struct TickState {
    /// A tick happened that `tick` has not returned yet.
    due: bool,
    /// The task waiting in `tick`.
    waker: Option<Waker>,
}

impl Ticker {
    /// Starts the thread; `None` when the system refuses one.
    pub(crate) fn start(period: Duration) -> Option<Self> {
        let state = Arc::new(Mutex::new(TickState::default()));
        let (stop, stopped) = mpsc::channel::<()>();
        let shared = state.clone();
        std::thread::Builder::new()
            .name("otel-patterns-claim".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    let waker = {
                        let mut s = lock(&shared);
                        s.due = true;
                        s.waker.take()
                    };
                    if let Some(w) = waker {
                        w.wake();
                    }
                }
            })
            .ok()?;
        Some(Ticker { state, _stop: stop })
    }

    /// Waits for the next tick (at once when one happened since the last
    /// call).
    pub(crate) async fn tick(&self) {
        poll_fn(|cx| {
            let mut s = lock(&self.state);
            if std::mem::take(&mut s.due) {
                Poll::Ready(())
            } else {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt as _;

    #[test]
    fn ticks_without_a_runtime() {
        let ticker = Ticker::start(Duration::from_millis(1)).unwrap();
        // Not due before the first period has passed on the thread.
        std::thread::sleep(Duration::from_millis(20));
        assert!(ticker.tick().now_or_never().is_some());
    }
}
