//! The lapin carrier over arbitrary AMQP header tables (string, long-string
//! with any bytes, and non-string values): extract with every propagator
//! never panics and stays bounded; inject keeps the other headers.
//!
//! The body is `otel_fuzz::targets::amqp_headers` (src/targets/amqp_headers.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otel_fuzz::targets::amqp_headers(data));
