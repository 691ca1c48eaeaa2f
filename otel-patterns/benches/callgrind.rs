//! Fixed-iteration drivers of the `patterns` bench scenarios, for repeatable
//! instruction counts under `valgrind --tool=callgrind` (criterion's
//! time-based loop is not repeatable). Does nothing unless a scenario is
//! named, so `cargo bench` runs through it at once:
//!
//! ```text
//! cargo bench -p otel-patterns --bench callgrind --no-run
//! valgrind --tool=callgrind target/release/deps/callgrind-<hash> saga10-unsampled 20000
//! ```
//!
//! Scenarios: `saga0-sampled`, `saga10-sampled`, `saga0-unsampled`,
//! `saga10-unsampled`, `retry-sampled`, `retry-unsampled`, `none`
//! (setup only). Per-step cost = (saga10 − saga0) / (10 × iterations).

mod fixture;

use fixture::{retry_first_try, retry_policy, saga};
use futures_util::FutureExt as _;
use std::hint::black_box;

fn run_saga(steps: usize, sampled: bool, n: u64) {
    let s = saga(steps, sampled);
    for _ in 0..n {
        black_box(s.run_with_id("id", ()).now_or_never().unwrap().unwrap());
    }
}

fn run_retry(sampled: bool, n: u64) {
    let policy = retry_policy(sampled);
    for _ in 0..n {
        black_box(retry_first_try(&policy)).ok();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(scenario) = args.iter().find(|a| !a.starts_with('-')) else {
        return;
    };
    let n: u64 = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    match scenario.as_str() {
        "saga0-sampled" => run_saga(0, true, n),
        "saga10-sampled" => run_saga(10, true, n),
        "saga0-unsampled" => run_saga(0, false, n),
        "saga10-unsampled" => run_saga(10, false, n),
        "retry-sampled" => run_retry(true, n),
        "retry-unsampled" => run_retry(false, n),
        "none" => {}
        // Anything else (e.g. a criterion filter given to `cargo bench`): nothing.
        _ => {}
    }
}
