//! The mesh forward-headers propagator over arbitrary header sets: never
//! more than its header and value-length limits, and what it forwards is
//! injected back unchanged.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::header_map;
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
use otel_kit_core::propagation::{
    DEFAULT_MAX_VALUE_LEN, ForwardHeadersPropagator, ForwardedHeaders, HeaderExtractor,
    MAX_FORWARDED_HEADERS, MeshPreset,
};

static PROPAGATORS: LazyLock<[ForwardHeadersPropagator; 3]> = LazyLock::new(|| {
    [
        ForwardHeadersPropagator::new(),
        ForwardHeadersPropagator::builder()
            .preset(MeshPreset::Envoy)
            .header("x-tenant")
            .build()
            .expect("valid configuration"),
        ForwardHeadersPropagator::builder()
            .preset(MeshPreset::Datadog)
            .max_value_len(16)
            .build()
            .expect("valid configuration"),
    ]
});

/// The `forward_headers` fuzz target's body (`fuzz_targets/forward_headers.rs`, replayed over
/// `seeds/forward_headers/` by the workspace test `tests/tests/fuzz_seeds.rs`).
pub fn forward_headers(data: &[u8]) {
    let headers = header_map(data);
    for propagator in PROPAGATORS.iter() {
        let cx = propagator.extract_with_context(&Context::new(), &HeaderExtractor(&headers));
        let Some(forwarded) = ForwardedHeaders::from_context(&cx) else {
            continue;
        };
        assert!(forwarded.len() <= MAX_FORWARDED_HEADERS);
        for (_, value) in forwarded.iter() {
            assert!(value.len() <= DEFAULT_MAX_VALUE_LEN);
        }
        let mut out: HashMap<String, String> = HashMap::new();
        propagator.inject_context(&cx, &mut out);
        for (name, value) in forwarded.iter() {
            assert_eq!(out.get(name).map(String::as_str), Some(value), "{name}");
        }
    }
}
