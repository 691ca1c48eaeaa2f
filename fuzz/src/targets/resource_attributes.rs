//! `OTEL_RESOURCE_ATTRIBUTES` parsing: never panics; a value that parses
//! yields non-empty keys, at most one attribute per `,`-member.

use otel_kit_core::resource::parse_resource_attributes;

/// The `resource_attributes` fuzz target's body (`fuzz_targets/resource_attributes.rs`, replayed over
/// `seeds/resource_attributes/` by the workspace test `tests/tests/fuzz_seeds.rs`).
pub fn resource_attributes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(attributes) = parse_resource_attributes(text) {
        assert!(attributes.len() <= text.split(',').count());
        for attribute in &attributes {
            assert!(!attribute.key.as_str().is_empty());
        }
    }
}
