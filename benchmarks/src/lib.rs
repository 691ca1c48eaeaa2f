//! Benchmarks against peer crates live in `benches/`; see BENCHMARKS.md.
#![forbid(unsafe_code)]
