//! The full `OTEL_*` environment parse (`Config::from_env`), with
//! `OTEL_EXPORTER_OTLP_HEADERS` and its per-signal variants parsed, over
//! arbitrary values: never panics, and no diagnostic or `Debug` output
//! echoes an OTLP header value (they hold API keys).
//!
//! Input: one variable per line; the first byte picks the variable name
//! from the list in the body, the rest of the line is its value.
//!
//! The body is `otel_fuzz::targets::env_config` (src/targets/env_config.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otel_fuzz::targets::env_config(data));
