//! W3C baggage extract over arbitrary header sets: bounded, and format is
//! stable under parse (format ∘ parse ∘ format = format).
//!
//! The body is `otel_fuzz::targets::baggage` (src/targets/baggage.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otel_fuzz::targets::baggage(data));
