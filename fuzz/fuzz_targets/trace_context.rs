//! W3C `traceparent` / `tracestate` extract over arbitrary header sets, the
//! raw-bytes `TraceParent` codec, and inject ∘ extract = identity.
//!
//! The body is `otel_fuzz::targets::trace_context` (src/targets/trace_context.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otel_fuzz::targets::trace_context(data));
