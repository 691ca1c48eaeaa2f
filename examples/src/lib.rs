//! Shared code of the examples: the multi-service [`shop`] that the `demo`
//! binary runs and the cross-crate tests (`otel-tests`) drive.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod shop;

// The READMEs' Rust blocks, compiled (and run unless `no_run`) by
// `cargo test -p otel-examples --doc`: what a newcomer copies builds.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct Readme;

#[cfg(doctest)]
#[doc = include_str!("../../otel-core/README.md")]
struct CoreReadme;

#[cfg(doctest)]
#[doc = include_str!("../../otel-http/README.md")]
struct HttpReadme;

#[cfg(doctest)]
#[doc = include_str!("../../otel-grpc/README.md")]
struct GrpcReadme;

#[cfg(doctest)]
#[doc = include_str!("../../otel-messaging/README.md")]
struct MessagingReadme;

#[cfg(doctest)]
#[doc = include_str!("../../otel-patterns/README.md")]
struct PatternsReadme;

#[cfg(doctest)]
#[doc = include_str!("../../otel-db/README.md")]
struct DbReadme;
