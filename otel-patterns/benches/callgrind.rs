//! Fixed-iteration drivers of the `patterns` bench scenarios, for repeatable
//! instruction counts under `valgrind --tool=callgrind` (criterion's
//! time-based loop is not repeatable). Does nothing unless a scenario is
//! named, so `cargo bench` runs through it at once:
//!
//! ```text
//! cargo bench -p otel-kit-patterns --bench callgrind --no-run
//! valgrind --tool=callgrind target/release/deps/callgrind-<hash> saga10-unsampled 20000
//! ```
//!
//! Scenarios: `saga{0,10}-{sampled,unsampled,untraced}`,
//! `retry-{sampled,unsampled,untraced}`, `breaker` (closed check + record
//! success), `sdkspan` (the SDK alone: a sampled child span with the step
//! span's attributes, started and ended; the floor under a sampled step
//! span), `none` (setup only). `untraced` records through
//! opentelemetry's no-op providers: the baseline the span overhead is
//! measured against. Per-step engine cost = (saga10-untraced −
//! saga0-untraced) / (10 × iterations); per-step span overhead =
//! ((saga10-X − saga10-untraced) − (saga0-X − saga0-untraced)) / (10 ×
//! iterations).

mod fixture;

use fixture::{Mode, breaker, breaker_check_and_record, retry_first_try, retry_policy, saga};
use futures_util::FutureExt as _;
use std::hint::black_box;

fn run_saga(steps: usize, mode: Mode, n: u64) {
    let s = saga(steps, mode);
    for _ in 0..n {
        black_box(s.run_with_id("id", ()).now_or_never().unwrap().unwrap());
    }
}

fn run_retry(mode: Mode, n: u64) {
    let policy = retry_policy(mode);
    for _ in 0..n {
        black_box(retry_first_try(&policy)).ok();
    }
}

fn run_breaker(n: u64) {
    let b = breaker(Mode::Sampled);
    for _ in 0..n {
        breaker_check_and_record(&b);
    }
}

fn run_sdk_span(n: u64) {
    let mut span = fixture::sdk_step_span();
    for _ in 0..n {
        span();
    }
}

fn mode(name: &str) -> Option<Mode> {
    match name {
        "sampled" => Some(Mode::Sampled),
        "unsampled" => Some(Mode::Unsampled),
        "untraced" => Some(Mode::Noop),
        _ => None,
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
    let (what, how) = scenario.split_once('-').unwrap_or((scenario, ""));
    match (what, mode(how)) {
        ("saga0", Some(m)) => run_saga(0, m, n),
        ("saga10", Some(m)) => run_saga(10, m, n),
        ("retry", Some(m)) => run_retry(m, n),
        ("breaker", _) => run_breaker(n),
        ("sdkspan", _) => run_sdk_span(n),
        // `none` (setup only), or anything else (e.g. a criterion filter
        // given to `cargo bench`): nothing.
        _ => {}
    }
}
