//! Jaeger `uber-trace-id` / `uberctx-*` extract over arbitrary header sets,
//! with inject ∘ extract = identity.
//!
//! The body is `otel_fuzz::targets::jaeger` (src/targets/jaeger.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otel_fuzz::targets::jaeger(data));
