//! Shared code of the examples: the multi-service [`shop`] that the `demo`
//! binary runs and the cross-crate tests (`otel-tests`) drive.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod shop;
