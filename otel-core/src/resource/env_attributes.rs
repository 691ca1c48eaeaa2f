//! Parsing of `OTEL_RESOURCE_ATTRIBUTES`.

use opentelemetry::KeyValue;

/// Why an `OTEL_RESOURCE_ATTRIBUTES` value was rejected as a whole.
///
/// Members are numbered from 1 in the order they appear. The `Display` text
/// names the problem only; the caller adds the variable name and its value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceAttributesError {
    /// A member has no `=` between key and value.
    #[error("member {member} ({text:?}) has no '=' between key and value")]
    MissingEquals {
        /// The member's position, from 1.
        member: usize,
        /// The member as written (trimmed).
        text: String,
    },
    /// A member's key is empty.
    #[error("member {member} has an empty key")]
    EmptyKey {
        /// The member's position, from 1.
        member: usize,
    },
    /// A `%` is not followed by two hexadecimal digits.
    #[error(
        "member {member} has an invalid percent-escape {escape:?} (expected '%' and two hex digits)"
    )]
    InvalidPercentEscape {
        /// The member's position, from 1.
        member: usize,
        /// The `%` and up to two characters after it, as written.
        escape: String,
    },
    /// A key or value is not valid UTF-8 once percent-decoded.
    #[error("member {member} is not valid UTF-8 after percent-decoding")]
    InvalidUtf8 {
        /// The member's position, from 1.
        member: usize,
    },
}

/// Parses an `OTEL_RESOURCE_ATTRIBUTES` value: `key1=value1,key2=value2`.
///
/// - Members are separated by `,`; whitespace around members, keys and values
///   is trimmed; members that are empty (`a=1,,b=2`, a trailing `,`) are skipped.
/// - The key is everything before the first `=`; the value (possibly empty) is
///   the rest. Both are percent-decoded (`%2C` → `,`, `%3D` → `=`, `%20` → space;
///   `+` stays `+`), and every value is a string.
/// - On any error (a member without `=`, an empty key, a `%` not followed by
///   two hex digits, bytes that are not UTF-8 after decoding) the **whole**
///   value is rejected, as the specification requires: nothing from it may be
///   used.
///
/// Later duplicates of a key win when the result is turned into a resource.
pub fn parse_resource_attributes(value: &str) -> Result<Vec<KeyValue>, ResourceAttributesError> {
    let mut attributes = Vec::new();
    for (index, raw) in value.split(',').enumerate() {
        let member = index + 1;
        let text = raw.trim();
        if text.is_empty() {
            continue;
        }
        let Some((raw_key, raw_value)) = text.split_once('=') else {
            return Err(ResourceAttributesError::MissingEquals {
                member,
                text: text.to_owned(),
            });
        };
        let key = percent_decode(raw_key.trim(), member)?;
        if key.is_empty() {
            return Err(ResourceAttributesError::EmptyKey { member });
        }
        let value = percent_decode(raw_value.trim(), member)?;
        attributes.push(KeyValue::new(key, value));
    }
    Ok(attributes)
}

/// Strict percent-decoding: every `%` must start a two-hex-digit escape.
fn percent_decode(text: &str, member: usize) -> Result<String, ResourceAttributesError> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => {
                    // Up to two characters after '%', cut on a char boundary.
                    let escape: String = text[i..].chars().take(3).collect();
                    return Err(ResourceAttributesError::InvalidPercentEscape { member, escape });
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ResourceAttributesError::InvalidUtf8 { member })
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(kvs: &[KeyValue]) -> Vec<(String, String)> {
        kvs.iter()
            .map(|kv| {
                let value = match &kv.value {
                    opentelemetry::Value::String(s) => s.as_str().to_owned(),
                    other => panic!("resource attribute {} is not a string: {other:?}", kv.key),
                };
                (kv.key.as_str().to_owned(), value)
            })
            .collect()
    }

    #[test]
    fn valid_values() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("   ", &[]),
            ("a=1", &[("a", "1")]),
            ("a=1,b=2", &[("a", "1"), ("b", "2")]),
            (" a = 1 ,\tb=2 ", &[("a", "1"), ("b", "2")]),
            ("a=", &[("a", "")]),
            ("a=1,,b=2,", &[("a", "1"), ("b", "2")]),
            ("a=x=y", &[("a", "x=y")]),
            ("k%3Dx=v%2Cw", &[("k=x", "v,w")]),
            ("key=a%20b", &[("key", "a b")]),
            ("key=%20padded%20", &[("key", " padded ")]),
            ("key=a+b", &[("key", "a+b")]),
            ("key=%e2%82%AC", &[("key", "€")]),
            ("key=caf\u{e9}", &[("key", "caf\u{e9}")]),
            ("a=1,a=2", &[("a", "1"), ("a", "2")]),
            (
                "service.name=shop,deployment.environment.name=prod%2Feu",
                &[
                    ("service.name", "shop"),
                    ("deployment.environment.name", "prod/eu"),
                ],
            ),
        ];
        for (input, expected) in cases {
            let got = parse_resource_attributes(input)
                .unwrap_or_else(|e| panic!("{input:?} should parse, got error {e}"));
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(pairs(&got), expected, "input {input:?}");
        }
    }

    #[test]
    fn invalid_values_reject_the_whole_variable() {
        use ResourceAttributesError as E;
        let cases: &[(&str, E, &str)] = &[
            (
                "a=1,novalue",
                E::MissingEquals {
                    member: 2,
                    text: "novalue".into(),
                },
                "member 2 (\"novalue\") has no '='",
            ),
            ("=v", E::EmptyKey { member: 1 }, "member 1 has an empty key"),
            ("a=1, =v", E::EmptyKey { member: 2 }, "empty key"),
            (
                "a=%zz",
                E::InvalidPercentEscape {
                    member: 1,
                    escape: "%zz".into(),
                },
                "invalid percent-escape \"%zz\"",
            ),
            (
                "a=1,b=50%",
                E::InvalidPercentEscape {
                    member: 2,
                    escape: "%".into(),
                },
                "percent-escape",
            ),
            (
                "a=%4",
                E::InvalidPercentEscape {
                    member: 1,
                    escape: "%4".into(),
                },
                "percent-escape",
            ),
            (
                "k%g1=v",
                E::InvalidPercentEscape {
                    member: 1,
                    escape: "%g1".into(),
                },
                "percent-escape",
            ),
            (
                "a=%\u{e9}x",
                E::InvalidPercentEscape {
                    member: 1,
                    escape: "%\u{e9}x".into(),
                },
                "percent-escape",
            ),
            (
                "a=1,b=%ff",
                E::InvalidUtf8 { member: 2 },
                "member 2 is not valid UTF-8",
            ),
            ("%c3=v", E::InvalidUtf8 { member: 1 }, "UTF-8"),
            (
                "a=1,b=2,c",
                E::MissingEquals {
                    member: 3,
                    text: "c".into(),
                },
                "member 3",
            ),
        ];
        for (input, expected, message) in cases {
            let err = parse_resource_attributes(input)
                .expect_err(&format!("{input:?} must be rejected as a whole"));
            assert_eq!(&err, expected, "input {input:?}");
            let text = err.to_string();
            assert!(
                text.contains(message),
                "input {input:?}: message {text:?} should contain {message:?}"
            );
        }
    }
}
