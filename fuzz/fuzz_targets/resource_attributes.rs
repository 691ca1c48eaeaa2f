//! `OTEL_RESOURCE_ATTRIBUTES` parsing: never panics; a value that parses
//! yields non-empty keys, at most one attribute per `,`-member.
//!
//! The body is `otel_fuzz::targets::resource_attributes` (src/targets/resource_attributes.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otel_fuzz::targets::resource_attributes(data));
