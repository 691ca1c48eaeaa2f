//! `service.instance.id` and the `service.name` fallback.

use super::process::ProcessInfo;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use std::sync::OnceLock;

/// This process's `service.instance.id`: a random UUID version 4, generated
/// on first use and the same for the rest of the process's life.
///
/// The 122 random bits come from the SDK's OS-seeded id generator. Setting
/// `service.instance.id` in `OTEL_RESOURCE_ATTRIBUTES` or in code overrides it.
pub fn service_instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| uuid_v4(RandomIdGenerator::default().new_trace_id().to_bytes()))
}

/// Formats 16 random bytes as a UUID version 4 (RFC 9562 §5.4), lower case.
pub(crate) fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10xx
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0f)] as char);
    }
    out
}

/// The `service.name` to use when none is configured anywhere:
/// `unknown_service:<executable name>`, or `unknown_service` when the
/// executable name is not known (per the resource SDK specification).
pub fn default_service_name(process: &ProcessInfo) -> String {
    match process.executable_name() {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v4_sets_version_and_variant() {
        let cases: &[([u8; 16], &str)] = &[
            ([0; 16], "00000000-0000-4000-8000-000000000000"),
            ([0xff; 16], "ffffffff-ffff-4fff-bfff-ffffffffffff"),
            (
                [
                    0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a,
                    0xbc, 0xde, 0xf0,
                ],
                "12345678-9abc-4ef0-9234-56789abcdef0",
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(uuid_v4(*bytes), *expected);
        }
    }

    #[test]
    fn instance_id_is_a_stable_random_uuid_v4() {
        let id = service_instance_id();
        assert_eq!(id.len(), 36);
        for (i, c) in id.chars().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                assert_eq!(c, '-', "{id}");
            } else {
                assert!(c.is_ascii_hexdigit() && !c.is_ascii_uppercase(), "{id}");
            }
        }
        assert_eq!(&id[14..15], "4", "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_eq!(service_instance_id(), id, "same id for the whole process");
        assert_ne!(id, "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn fallback_service_name() {
        let cases = [
            (
                ProcessInfo::new(1).with_executable_path("/usr/bin/shop"),
                "unknown_service:shop",
            ),
            (ProcessInfo::new(1), "unknown_service"),
            (
                ProcessInfo::new(1).with_executable_path("/"),
                "unknown_service",
            ),
        ];
        for (process, expected) in cases {
            assert_eq!(default_service_name(&process), expected, "{process:?}");
        }
    }
}
