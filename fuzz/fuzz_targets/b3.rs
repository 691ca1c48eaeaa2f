//! B3 single-header and multi-header extract over arbitrary header sets,
//! with inject ∘ extract = identity for each encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otel_core::propagation::{B3Encoding, B3Propagator, HeaderExtractor};
use otel_fuzz::{extract_and_round_trip, header_map, string_map};

fuzz_target!(|data: &[u8]| {
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
});
