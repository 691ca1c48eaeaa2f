//! `OTEL_RESOURCE_ATTRIBUTES` parsing: never panics; a value that parses
//! yields non-empty keys, at most one attribute per `,`-member.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otel_core::resource::parse_resource_attributes;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(attributes) = parse_resource_attributes(text) {
        assert!(attributes.len() <= text.split(',').count());
        for attribute in &attributes {
            assert!(!attribute.key.as_str().is_empty());
        }
    }
});
