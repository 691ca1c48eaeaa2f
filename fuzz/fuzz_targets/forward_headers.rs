//! The mesh forward-headers propagator over arbitrary header sets: never
//! more than its header and value-length limits, and what it forwards is
//! injected back unchanged.
//!
//! The body is `otel_fuzz::targets::forward_headers` (src/targets/forward_headers.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otel_fuzz::targets::forward_headers(data));
