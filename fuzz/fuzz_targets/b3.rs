//! B3 single-header and multi-header extract over arbitrary header sets,
//! with inject ∘ extract = identity for each encoding.
//!
//! The body is `otel_fuzz::targets::b3` (src/targets/b3.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otel_fuzz::targets::b3(data));
