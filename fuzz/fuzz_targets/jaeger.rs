//! Jaeger `uber-trace-id` / `uberctx-*` extract over arbitrary header sets,
//! with inject ∘ extract = identity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otel_core::propagation::{HeaderExtractor, JaegerPropagator};
use otel_fuzz::{extract_and_round_trip, header_map, string_map};

fuzz_target!(|data: &[u8]| {
    let propagator = JaegerPropagator::new();
    extract_and_round_trip(&propagator, &HeaderExtractor(&header_map(data)));
    extract_and_round_trip(&propagator, &string_map(data));
});
