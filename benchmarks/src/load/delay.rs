//! A wait of about 100 µs that a handler awaits, standing in for a fast
//! downstream call: Tokio's timer has a 1 ms resolution, so one background
//! thread keeps the deadlines in a heap and wakes each waiter when its
//! deadline passes (precision: the kernel's timer slack, ~50 µs).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Handle to the timer thread; cheap to clone.
#[derive(Clone, Debug)]
pub struct Delay {
    requests: mpsc::Sender<(Instant, oneshot::Sender<()>)>,
}

struct Waiter {
    deadline: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

impl Delay {
    /// Starts the timer thread; it ends when every handle is dropped.
    pub fn start() -> Delay {
        let (tx, rx) = mpsc::channel::<(Instant, oneshot::Sender<()>)>();
        std::thread::Builder::new()
            .name("load-delay".into())
            .spawn(move || run(rx))
            .expect("spawn the delay thread");
        Delay { requests: tx }
    }

    /// Completes about `wait` from now (never earlier).
    pub async fn wait(&self, wait: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.requests.send((Instant::now() + wait, tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn run(rx: mpsc::Receiver<(Instant, oneshot::Sender<()>)>) {
    let mut heap: BinaryHeap<Reverse<Waiter>> = BinaryHeap::new();
    let mut seq = 0u64;
    loop {
        let received = match heap.peek() {
            None => match rx.recv() {
                Ok(r) => Some(r),
                Err(_) => return,
            },
            Some(Reverse(first)) => {
                let now = Instant::now();
                if first.deadline <= now {
                    None
                } else {
                    match rx.recv_timeout(first.deadline - now) {
                        Ok(r) => Some(r),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            }
        };
        if let Some((deadline, wake)) = received {
            seq += 1;
            heap.push(Reverse(Waiter {
                deadline,
                seq,
                wake,
            }));
        }
        let now = Instant::now();
        while heap.peek().is_some_and(|Reverse(w)| w.deadline <= now) {
            if let Some(Reverse(w)) = heap.pop() {
                let _ = w.wake.send(());
            }
        }
    }
}
