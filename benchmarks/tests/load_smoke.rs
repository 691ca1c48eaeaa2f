//! The load harness end to end, small: every variant's server in its own
//! process, a few hundred requests each (open and closed loop, both
//! routes), against the real rotel collector. Checks correctness only:
//! every request succeeds and every span a sampled variant makes reaches
//! the collector (none from `bare` and `ours_unsampled`). Never a timing.
//!
//! Needs `OTEL_TEST_ROTEL` (set by `scripts/test`) or the repo's `.venv`.

use std::process::Command;

#[test]
fn load_harness_smoke_run_succeeds_and_delivers_every_span() {
    let output = Command::new(env!("CARGO_BIN_EXE_load"))
        .arg("--smoke")
        // Each phase waits for its spans: a short batch delay keeps that short.
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .output()
        .expect("run the load binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "load --smoke failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("6 passed, 0 failed"),
        "every variant should pass:\n{stdout}\n{stderr}"
    );
    // A sampled variant really exported (not a vacuous 0 == 0).
    let ours = stdout
        .lines()
        .find(|l| l.starts_with("load smoke: ours_sampled:"))
        .unwrap_or_else(|| panic!("no ours_sampled line:\n{stdout}"));
    assert!(
        !ours.contains("received 0"),
        "ours_sampled exported nothing: {ours}"
    );
}
