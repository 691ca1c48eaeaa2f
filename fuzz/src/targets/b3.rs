//! B3 single-header and multi-header extract over arbitrary header sets,
//! with inject ∘ extract = identity for each encoding.

use super::{extract_and_round_trip, header_map, string_map};
use otel_kit_core::propagation::{B3Encoding, B3Propagator, HeaderExtractor};

/// The `b3` fuzz target's body (`fuzz_targets/b3.rs`, replayed over
/// `seeds/b3/` by the workspace test `tests/tests/fuzz_seeds.rs`).
pub fn b3(data: &[u8]) {
    let headers = header_map(data);
    let map = string_map(data);
    for encoding in [
        B3Encoding::SingleHeader,
        B3Encoding::MultipleHeaders,
        B3Encoding::SingleAndMultipleHeaders,
    ] {
        let propagator = B3Propagator::with_encoding(encoding);
        extract_and_round_trip(&propagator, &HeaderExtractor(&headers));
        extract_and_round_trip(&propagator, &map);
    }
}
