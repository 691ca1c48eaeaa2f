//! Benchmarks against peer crates live in `benches/`; the load harness
//! (servers under real HTTP load, ours and each peer) in [`load`], run by
//! the `load` binary. See BENCHMARKS.md.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod load;
