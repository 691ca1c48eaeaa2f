//! The async-nats carrier over arbitrary header maps: building the map from
//! any bytes the client would accept, extracting with every propagator
//! never panics and stays bounded.
//!
//! The body is `otel_fuzz::targets::nats_headers` (src/targets/nats_headers.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otel_fuzz::targets::nats_headers(data));
