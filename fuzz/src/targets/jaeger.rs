//! Jaeger `uber-trace-id` / `uberctx-*` extract over arbitrary header sets,
//! with inject ∘ extract = identity.

use super::{extract_and_round_trip, header_map, string_map};
use otel_kit_core::propagation::{HeaderExtractor, JaegerPropagator};

/// The `jaeger` fuzz target's body (`fuzz_targets/jaeger.rs`, replayed over
/// `seeds/jaeger/` by the workspace test `tests/tests/fuzz_seeds.rs`).
pub fn jaeger(data: &[u8]) {
    let propagator = JaegerPropagator::new();
    extract_and_round_trip(&propagator, &HeaderExtractor(&header_map(data)));
    extract_and_round_trip(&propagator, &string_map(data));
}
