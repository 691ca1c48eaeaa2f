//! The fuzz targets' bodies, one module per target: each
//! `fuzz_targets/<t>.rs` is a one-line `fuzz_target!` calling `<t>` here, and
//! the workspace test `tests/tests/fuzz_seeds.rs` replays every file of
//! `seeds/<t>/` through it on stable.

// The shared helpers, for the target modules (`super::header_map`, ...).
use super::{
    assert_bounded, extract_and_round_trip, header_map, header_pairs, is_propagation_header,
    string_map,
};

mod amqp_headers;
mod b3;
mod baggage;
mod env_config;
mod forward_headers;
mod http_server;
mod jaeger;
mod kafka_headers;
mod nats_headers;
mod resource_attributes;
mod trace_context;

pub use amqp_headers::amqp_headers;
pub use b3::b3;
pub use baggage::baggage;
pub use env_config::env_config;
pub use forward_headers::forward_headers;
pub use http_server::http_server;
pub use jaeger::jaeger;
pub use kafka_headers::kafka_headers;
pub use nats_headers::nats_headers;
pub use resource_attributes::resource_attributes;
pub use trace_context::trace_context;
