//! Replays the committed fuzz seeds (`fuzz/seeds/<target>/*`: hand-written
//! inputs and the inputs of past findings) through every fuzz target's body
//! on stable, so a regression shows up in `cargo test` without nightly or
//! cargo-fuzz.
//!
//! The bodies are the fuzz crate's library (`fuzz/src/lib.rs`, one plain
//! function per target in `fuzz/src/targets/`), included here as a module:
//! the fuzz crate is outside the workspace and its binaries need
//! libfuzzer-sys, its library does not.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_bodies;

use fuzz_bodies::targets;

/// A fuzz target's body: one input, panics on a failed check.
type Body = fn(&[u8]);

/// Every fuzz target and its body. `every_fuzz_target_is_replayed` checks
/// this against `fuzz/fuzz_targets/`.
const TARGETS: &[(&str, Body)] = &[
    ("amqp_headers", targets::amqp_headers),
    ("b3", targets::b3),
    ("baggage", targets::baggage),
    ("env_config", targets::env_config),
    ("forward_headers", targets::forward_headers),
    ("http_server", targets::http_server),
    ("jaeger", targets::jaeger),
    ("kafka_headers", targets::kafka_headers),
    ("nats_headers", targets::nats_headers),
    ("resource_attributes", targets::resource_attributes),
    ("trace_context", targets::trace_context),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8 file name")
        })
        .collect()
}

/// Runs every file of `fuzz/seeds/<target>/` through the target's body and
/// fails naming each seed that panicked (all of them, not just the first).
fn replay(target: &str) {
    let body = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, body)| *body)
        .unwrap_or_else(|| panic!("no body for {target}"));
    let dir = fuzz_dir().join("seeds").join(target);
    let seeds = file_names(&dir);
    assert!(!seeds.is_empty(), "no seed in {}", dir.display());
    let mut failures = Vec::new();
    for seed in &seeds {
        let data = std::fs::read(dir.join(seed)).expect("seed readable");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(non-string panic)");
            failures.push(format!("fuzz/seeds/{target}/{seed}: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fuzz_target_is_replayed() {
    let bins: BTreeSet<String> = file_names(&fuzz_dir().join("fuzz_targets"))
        .into_iter()
        .filter_map(|f| f.strip_suffix(".rs").map(str::to_owned))
        .collect();
    let replayed: BTreeSet<String> = TARGETS.iter().map(|(t, _)| (*t).to_owned()).collect();
    assert_eq!(bins, replayed, "fuzz/fuzz_targets/ and TARGETS differ");
    let seeded = file_names(&fuzz_dir().join("seeds"));
    assert_eq!(seeded, replayed, "fuzz/seeds/ and TARGETS differ");
}

macro_rules! replay_tests {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                replay(stringify!($target));
            }
        )*
    };
}

replay_tests!(
    amqp_headers,
    b3,
    baggage,
    env_config,
    forward_headers,
    http_server,
    jaeger,
    kafka_headers,
    nats_headers,
    resource_attributes,
    trace_context,
);
