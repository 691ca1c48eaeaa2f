//! The otel-kit-http server layer driven directly as a tower service with a
//! request built from fuzz input (method, path and any header set): no
//! panic, the request always reaches the inner service with its headers
//! unchanged, and the inner service's response comes back.
//!
//! The body is `otel_fuzz::targets::http_server` (src/targets/http_server.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otel_fuzz::targets::http_server(data));
