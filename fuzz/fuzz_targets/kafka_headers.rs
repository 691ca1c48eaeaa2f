//! The rdkafka carrier over arbitrary record headers (any name and value
//! bytes, null values, duplicates): extract with every propagator never
//! panics and stays bounded, and injecting keeps the existing headers'
//! bytes.
//!
//! The body is `otel_fuzz::targets::kafka_headers` (src/targets/kafka_headers.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otel_fuzz::targets::kafka_headers(data));
