//! Cross-crate end-to-end tests live in `tests/`; this library holds shared helpers for them.
#![forbid(unsafe_code)]
