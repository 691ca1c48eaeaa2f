//! W3C Baggage: the `baggage` header propagator and its codec.

use std::sync::LazyLock;

use opentelemetry::Context;
use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use percent_encoding::percent_decode;

use super::trace_context::trim_ows;

/// Name of the W3C `baggage` header.
pub const BAGGAGE_HEADER: &str = "baggage";
/// Most list members read from the `baggage` headers of one request; the rest are dropped.
///
/// Note that OpenTelemetry's [`Baggage`] itself holds at most 64 entries
/// (the W3C "must propagate" minimum), so entries past the 64th distinct key
/// are dropped when stored.
pub const MAX_BAGGAGE_MEMBERS: usize = 180;
/// Largest `baggage` header sent, in bytes; whole members are dropped to stay within it.
pub const MAX_BAGGAGE_BYTES: usize = 8192;
/// Largest single list member sent or accepted, in bytes; a larger member is dropped.
pub const MAX_BAGGAGE_MEMBER_BYTES: usize = 4096;

static FIELDS: LazyLock<[String; 1]> = LazyLock::new(|| [BAGGAGE_HEADER.to_owned()]);

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

/// RFC 9110 `tchar`: the characters of a baggage key or property key.
#[inline]
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// A non-empty RFC 9110 `token`.
#[inline]
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// W3C `baggage-octet`: printable ASCII except space, `"`, `,`, `;` and `\`.
#[inline]
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Whether `bytes[i..]` starts with a complete `%XX` escape.
#[inline]
fn is_escape(bytes: &[u8], i: usize) -> bool {
    matches!(bytes.get(i..i + 3), Some([b'%', h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit())
}

/// Appends `bytes` percent-encoded. Values are encoded from their decoded
/// form (`%`, `=` and `+` are escaped too, for lenient parsers); property
/// values are kept in their wire form (`wire == true`): existing `%XX`
/// escapes and `=` pass through, everything outside `baggage-octet` is escaped.
fn push_encoded(out: &mut String, bytes: &[u8], wire: bool) {
    for (i, &b) in bytes.iter().enumerate() {
        let raw = match b {
            b'%' => wire && is_escape(bytes, i),
            b'=' | b'+' => wire,
            _ => is_baggage_octet(b),
        };
        if raw {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(UPPER_HEX[usize::from(b >> 4)]));
            out.push(char::from(UPPER_HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Appends one list member (`key=value;prop;prop=v`). Returns `false`, having
/// written nothing, when the key is not a token. Malformed properties are
/// skipped.
pub(crate) fn push_member(out: &mut String, key: &str, value: &str, metadata: &str) -> bool {
    if !is_token(key) {
        return false;
    }
    out.push_str(key);
    out.push('=');
    push_encoded(out, value.as_bytes(), false);
    for property in metadata.split(';').map(trim_ows) {
        let (name, value) = match property.split_once('=') {
            Some((name, value)) => (trim_ows(name), Some(trim_ows(value))),
            None => (property, None),
        };
        if !is_token(name) {
            continue;
        }
        out.push(';');
        out.push_str(name);
        if let Some(value) = value {
            out.push('=');
            push_encoded(out, value.as_bytes(), true);
        }
    }
    true
}

/// Encoded length of one list member, or `None` when its key is not a token.
pub(crate) fn member_len(
    scratch: &mut String,
    key: &str,
    value: &str,
    metadata: &str,
) -> Option<usize> {
    scratch.clear();
    push_member(scratch, key, value, metadata).then_some(scratch.len())
}

/// Parses the properties after a member's value into the metadata string kept
/// with the entry: properties separated by `;`, whitespace removed, values in
/// their (still percent-encoded) wire form. Malformed properties are dropped.
fn parse_properties(properties: &str) -> String {
    let mut metadata = String::new();
    for property in properties.split(';').map(trim_ows) {
        let (name, value) = match property.split_once('=') {
            Some((name, value)) => (trim_ows(name), Some(trim_ows(value))),
            None => (property, None),
        };
        let value_ok = value.is_none_or(|v| v.bytes().all(is_baggage_octet));
        if !is_token(name) || !value_ok {
            continue;
        }
        if !metadata.is_empty() {
            metadata.push(';');
        }
        metadata.push_str(name);
        if let Some(value) = value {
            metadata.push('=');
            metadata.push_str(value);
        }
    }
    metadata
}

/// Parses one list member (already trimmed, non-empty) into key, decoded value
/// and metadata; `None` when it is malformed.
fn parse_member(member: &str) -> Option<(String, String, String)> {
    let (key_value, properties) = match member.split_once(';') {
        Some((key_value, properties)) => (key_value, Some(properties)),
        None => (member, None),
    };
    let (key, value) = key_value.split_once('=')?;
    let (key, value) = (trim_ows(key), trim_ows(value));
    if !is_token(key) || !value.bytes().all(is_baggage_octet) {
        return None;
    }
    let value = percent_decode(value.as_bytes())
        .decode_utf8_lossy()
        .into_owned();
    let metadata = properties.map(parse_properties).unwrap_or_default();
    Some((key.to_owned(), value, metadata))
}

/// Parses the `baggage` header values of one request (several headers form
/// one list).
///
/// Up to [`MAX_BAGGAGE_MEMBERS`] members are read; malformed members and
/// members longer than [`MAX_BAGGAGE_MEMBER_BYTES`] are dropped; values are
/// percent-decoded (invalid UTF-8 becomes U+FFFD); properties are kept as the
/// entry's metadata; of duplicate keys the later one wins. [`Baggage`] itself
/// then keeps at most 64 entries and 8192 bytes.
///
/// ```
/// use otel_kit_core::propagation::parse_baggage;
///
/// let baggage = parse_baggage(["user=alice%20b, tier = gold;ttl=30", "bad member,user=bob"]);
/// assert_eq!(baggage.get("user").map(|v| v.as_str()), Some("bob"));
/// let (tier, metadata) = baggage.get_with_metadata("tier").unwrap();
/// assert_eq!((tier.as_str(), metadata.as_str()), ("gold", "ttl=30"));
/// ```
pub fn parse_baggage<'a, I>(values: I) -> Baggage
where
    I: IntoIterator<Item = &'a str>,
{
    let mut baggage = Baggage::new();
    let members = values
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(trim_ows)
        .filter(|member| !member.is_empty())
        .take(MAX_BAGGAGE_MEMBERS);
    for member in members {
        if member.len() > MAX_BAGGAGE_MEMBER_BYTES {
            continue;
        }
        if let Some((key, value, metadata)) = parse_member(member) {
            baggage.insert_with_metadata(key, value, metadata);
        }
    }
    baggage
}

/// Formats baggage as a `baggage` header value; `None` when nothing is to be sent.
///
/// Values are percent-encoded, metadata is re-emitted as properties, members
/// are sorted by key, and whole members are dropped so that no member exceeds
/// [`MAX_BAGGAGE_MEMBER_BYTES`] and the header stays within [`MAX_BAGGAGE_BYTES`].
///
/// ```
/// use opentelemetry::baggage::Baggage;
/// use otel_kit_core::propagation::format_baggage;
///
/// let mut baggage = Baggage::new();
/// baggage.insert("user", "alice b");
/// baggage.insert_with_metadata("tier", "gold", "ttl=30");
/// assert_eq!(format_baggage(&baggage).as_deref(), Some("tier=gold;ttl=30,user=alice%20b"));
/// assert_eq!(format_baggage(&Baggage::new()), None);
/// ```
pub fn format_baggage(baggage: &Baggage) -> Option<String> {
    let mut entries: Vec<_> = baggage.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let mut out = String::new();
    for (key, (value, metadata)) in entries {
        let start = out.len();
        if start > 0 {
            out.push(',');
        }
        let member_start = out.len();
        let written = push_member(&mut out, key.as_str(), value.as_str(), metadata.as_str());
        if !written
            || out.len() - member_start > MAX_BAGGAGE_MEMBER_BYTES
            || out.len() > MAX_BAGGAGE_BYTES
        {
            out.truncate(start);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// W3C Baggage propagator: the `baggage` header.
///
/// Extraction follows [`parse_baggage`] and leaves the context unchanged when
/// no valid member is found; injection follows [`format_baggage`].
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::baggage::BaggageExt;
/// use opentelemetry::propagation::TextMapPropagator;
/// use opentelemetry::{Context, KeyValue};
/// use otel_kit_core::propagation::BaggagePropagator;
///
/// let cx = Context::new().with_baggage([KeyValue::new("user", "alice")]);
/// let mut carrier = HashMap::new();
/// BaggagePropagator::new().inject_context(&cx, &mut carrier);
/// assert_eq!(carrier["baggage"], "user=alice");
///
/// let extracted = BaggagePropagator::new().extract_with_context(&Context::new(), &carrier);
/// assert_eq!(extracted.baggage().get("user").map(|v| v.as_str()), Some("alice"));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BaggagePropagator {
    _private: (),
}

impl BaggagePropagator {
    /// Creates the propagator.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl TextMapPropagator for BaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        if let Some(header) = format_baggage(cx.baggage()) {
            injector.set(BAGGAGE_HEADER, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(values) = extractor.get_all(BAGGAGE_HEADER) else {
            return cx.clone();
        };
        let baggage = parse_baggage(values);
        if baggage.is_empty() {
            cx.clone()
        } else {
            cx.with_baggage(baggage)
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(FIELDS.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use opentelemetry::KeyValue;
    use opentelemetry_sdk::propagation::BaggagePropagator as SdkBaggagePropagator;

    use super::*;

    type Entries = BTreeMap<String, (String, String)>;
    /// Name, baggage entries (key, value, metadata), expected header.
    type InjectCase = (
        &'static str,
        Vec<(&'static str, &'static str, &'static str)>,
        Option<&'static str>,
    );

    fn entries(baggage: &Baggage) -> Entries {
        baggage
            .iter()
            .map(|(k, (v, m))| (k.to_string(), (v.to_string(), m.as_str().to_owned())))
            .collect()
    }

    fn expect(list: &[(&str, &str, &str)]) -> Entries {
        list.iter()
            .map(|(k, v, m)| ((*k).to_owned(), ((*v).to_owned(), (*m).to_owned())))
            .collect()
    }

    /// Extracts through the propagator from a carrier holding `headers` as
    /// separate `baggage` headers.
    fn extract(headers: &[&str]) -> Entries {
        let mut map = http::HeaderMap::new();
        for h in headers {
            map.append("baggage", http::HeaderValue::from_str(h).unwrap());
        }
        let cx = BaggagePropagator::new()
            .extract_with_context(&Context::new(), &crate::propagation::HeaderExtractor(&map));
        entries(cx.baggage())
    }

    #[test]
    fn extract_valid_headers() {
        let cases: Vec<(&str, Vec<&str>, Entries)> = vec![
            (
                "two members",
                vec!["key1=val1,key2=val2"],
                expect(&[("key1", "val1", ""), ("key2", "val2", "")]),
            ),
            (
                "optional whitespace",
                vec!["key1 =   val1,  key2 =val2   "],
                expect(&[("key1", "val1", ""), ("key2", "val2", "")]),
            ),
            (
                "tabs",
                vec!["\tkey1\t=\tval1\t"],
                expect(&[("key1", "val1", "")]),
            ),
            (
                "escaped comma",
                vec!["key1=val1,key2=val2%2Cval3"],
                expect(&[("key1", "val1", ""), ("key2", "val2,val3", "")]),
            ),
            (
                "empty value",
                vec!["key1=,key2=val2"],
                expect(&[("key1", "", ""), ("key2", "val2", "")]),
            ),
            (
                "equals in value",
                vec!["k=a=b"],
                expect(&[("k", "a=b", "")]),
            ),
            (
                "utf-8 escapes",
                vec!["k=%E2%9C%93%20ok"],
                expect(&[("k", "\u{2713} ok", "")]),
            ),
            (
                "invalid utf-8 becomes U+FFFD",
                vec!["k=a%FFb"],
                expect(&[("k", "a\u{fffd}b", "")]),
            ),
            (
                "lone percent kept",
                vec!["k=100%"],
                expect(&[("k", "100%", "")]),
            ),
            (
                "plus is not a space",
                vec!["k=a+b"],
                expect(&[("k", "a+b", "")]),
            ),
            (
                "token key characters",
                vec!["!#$%&'*+-.^_`|~Az9=v"],
                expect(&[("!#$%&'*+-.^_`|~Az9", "v", "")]),
            ),
            (
                "properties",
                vec![
                    "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
                ],
                expect(&[
                    ("key1", "value1", "property1;property2"),
                    ("key2", "value2", ""),
                    ("key3", "value3", "propertyKey=propertyValue"),
                ]),
            ),
            (
                "property whitespace removed",
                vec!["k=v ; p = 1 ;\tq"],
                expect(&[("k", "v", "p=1;q")]),
            ),
            (
                "property value kept encoded",
                vec!["k=v;p=a%2Cb"],
                expect(&[("k", "v", "p=a%2Cb")]),
            ),
            (
                "two headers combine",
                vec!["a=1", "b=2,c=3"],
                expect(&[("a", "1", ""), ("b", "2", ""), ("c", "3", "")]),
            ),
            (
                "later duplicate wins",
                vec!["k=1,j=0,k=2"],
                expect(&[("j", "0", ""), ("k", "2", "")]),
            ),
            (
                "later duplicate across headers wins",
                vec!["k=1;p", "k=2"],
                expect(&[("k", "2", "")]),
            ),
            (
                "empty members skipped",
                vec!["a=1,,b=2,"],
                expect(&[("a", "1", ""), ("b", "2", "")]),
            ),
        ];
        for (name, headers, expected) in cases {
            assert_eq!(extract(&headers), expected, "{name}");
        }
    }

    #[test]
    fn extract_drops_invalid_members_only() {
        let long_value = "v".repeat(MAX_BAGGAGE_MEMBER_BYTES);
        let too_long = format!("long={long_value}");
        let cases: Vec<(&str, String, Entries)> = vec![
            ("no equals sign", "novalue".into(), expect(&[])),
            ("empty key", "=v".into(), expect(&[])),
            ("space in key", "k y=v".into(), expect(&[])),
            ("separator in key", "k(=v".into(), expect(&[])),
            ("slash in key", "a/b=v".into(), expect(&[])),
            ("quote in key", "k\"=v".into(), expect(&[])),
            ("space in value", "k=a b".into(), expect(&[])),
            ("quote in value", "k=a\"b".into(), expect(&[])),
            ("backslash in value", "k=a\\b".into(), expect(&[])),
            ("non-ascii value", "k=caf\u{e9}".into(), expect(&[])),
            ("non-ascii key", "caf\u{e9}=1".into(), expect(&[])),
            ("member over 4096 bytes", too_long, expect(&[])),
            (
                "bad property dropped, member kept",
                "k=v;p q;r=1;=x;s=a b".into(),
                expect(&[("k", "v", "r=1")]),
            ),
        ];
        for (name, member, expected) in cases {
            // Alone: nothing valid, the context is returned unchanged.
            let cx = BaggagePropagator::new().extract_with_context(
                &Context::new(),
                &HashMap::from([("baggage".to_owned(), member.clone())]),
            );
            assert_eq!(entries(cx.baggage()), expected, "{name} (alone)");
            // Among valid members: only the bad one goes.
            let mut with_others = expected.clone();
            with_others.insert("before".into(), ("1".into(), String::new()));
            with_others.insert("after".into(), ("2".into(), String::new()));
            let header = format!("before=1,{member},after=2");
            assert_eq!(
                parse_baggage([header.as_str()]).len(),
                with_others.len(),
                "{name}"
            );
            assert_eq!(
                entries(&parse_baggage([header.as_str()])),
                with_others,
                "{name}"
            );
        }
        // A 4096-byte member is still fine.
        let fits = format!("k={}", "v".repeat(MAX_BAGGAGE_MEMBER_BYTES - 2));
        assert_eq!(parse_baggage([fits.as_str()]).len(), 1);
    }

    #[test]
    fn extract_reads_at_most_180_members() {
        let mut members: Vec<String> = (1..=MAX_BAGGAGE_MEMBERS)
            .map(|i| format!("dup={i}"))
            .collect();
        members.push("late=x".into());
        let header = members.join(",");
        let baggage = parse_baggage([header.as_str()]);
        assert_eq!(baggage.get("dup").map(|v| v.as_str()), Some("180"));
        assert_eq!(baggage.get("late"), None);
        // Counted across headers too.
        let (first, second) = members.split_at(100);
        let baggage = parse_baggage([first.join(",").as_str(), second.join(",").as_str()]);
        assert_eq!(baggage.get("dup").map(|v| v.as_str()), Some("180"));
        assert_eq!(baggage.get("late"), None);
        // `Baggage` holds 64 distinct entries: the first 64 are kept.
        let many: Vec<String> = (0..100).map(|i| format!("k{i:03}=v")).collect();
        let baggage = parse_baggage([many.join(",").as_str()]);
        assert_eq!(baggage.len(), 64);
        assert!(baggage.get("k063").is_some() && baggage.get("k064").is_none());
    }

    #[test]
    fn extract_without_valid_members_keeps_the_context() {
        let base = Context::new().with_baggage([KeyValue::new("existing", "1")]);
        for carrier in [
            HashMap::new(),
            HashMap::from([("baggage".to_owned(), "bad member, =x".to_owned())]),
        ] {
            let cx = BaggagePropagator::new().extract_with_context(&base, &carrier);
            assert_eq!(cx.baggage().get("existing").map(|v| v.as_str()), Some("1"));
        }
        // A valid header replaces the baggage.
        let carrier = HashMap::from([("baggage".to_owned(), "new=2".to_owned())]);
        let cx = BaggagePropagator::new().extract_with_context(&base, &carrier);
        assert_eq!(entries(cx.baggage()), expect(&[("new", "2", "")]));
    }

    #[test]
    fn inject_encodes_values_and_properties() {
        let cases: Vec<InjectCase> = vec![
            ("empty baggage", vec![], None),
            ("plain", vec![("k", "v", "")], Some("k=v")),
            (
                "sorted by key",
                vec![("b", "2", ""), ("a", "1", "")],
                Some("a=1,b=2"),
            ),
            ("space", vec![("k", "a b", "")], Some("k=a%20b")),
            (
                "separators",
                vec![("k", ",;\"\\", "")],
                Some("k=%2C%3B%22%5C"),
            ),
            (
                "percent, equals and plus",
                vec![("k", "100%=a+b", "")],
                Some("k=100%25%3Da%2Bb"),
            ),
            (
                "non-ascii",
                vec![("k", "\u{2713}", "")],
                Some("k=%E2%9C%93"),
            ),
            ("control", vec![("k", "a\nb", "")], Some("k=a%0Ab")),
            (
                "other octets kept",
                vec![("k", "!#$&'()*-./:<>?@[]^_`{|}~", "")],
                Some("k=!#$&'()*-./:<>?@[]^_`{|}~"),
            ),
            ("empty value", vec![("k", "", "")], Some("k=")),
            (
                "properties re-emitted",
                vec![("k", "v", "p1;p2=x")],
                Some("k=v;p1;p2=x"),
            ),
            (
                "property escapes kept, others encoded",
                vec![("k", "v", "p=a%2Cb c;q=50%")],
                Some("k=v;p=a%2Cb%20c;q=50%25"),
            ),
            (
                "invalid property names dropped",
                vec![("k", "v", "p q;ok;=x")],
                Some("k=v;ok"),
            ),
        ];
        for (name, list, expected) in cases {
            let mut baggage = Baggage::new();
            for (k, v, m) in &list {
                baggage.insert_with_metadata(k.to_string(), v.to_string(), *m);
            }
            assert_eq!(format_baggage(&baggage).as_deref(), expected, "{name}");
            let mut carrier = HashMap::new();
            BaggagePropagator::new()
                .inject_context(&Context::new().with_baggage(baggage), &mut carrier);
            assert_eq!(
                carrier.get("baggage").map(String::as_str),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn inject_drops_whole_members_to_respect_the_limits() {
        // Each space encodes to 3 bytes: a 1500-space value is a 4502-byte member.
        let mut baggage = Baggage::new();
        baggage.insert("big", " ".repeat(1500));
        baggage.insert("small", "ok");
        assert_eq!(format_baggage(&baggage).as_deref(), Some("small=ok"));

        // Members of 3002 bytes each: only two fit in 8192.
        let mut baggage = Baggage::new();
        for key in ["a", "b", "c", "d"] {
            baggage.insert(key, " ".repeat(1000));
        }
        baggage.insert("z", "tail");
        let header = format_baggage(&baggage).unwrap();
        assert!(header.len() <= MAX_BAGGAGE_BYTES);
        let kept = parse_baggage([header.as_str()]);
        assert_eq!(kept.len(), 3, "{}", &header[..40]);
        assert!(kept.get("a").is_some() && kept.get("b").is_some() && kept.get("z").is_some());
        assert!(
            header
                .split(',')
                .all(|m| m.len() <= MAX_BAGGAGE_MEMBER_BYTES)
        );

        // Exactly at the limits is kept.
        let mut baggage = Baggage::new();
        baggage.insert("k", "v".repeat(MAX_BAGGAGE_MEMBER_BYTES - 2));
        baggage.insert(
            "j",
            "v".repeat(MAX_BAGGAGE_BYTES - MAX_BAGGAGE_MEMBER_BYTES - 3),
        );
        let header = format_baggage(&baggage).unwrap();
        assert_eq!(header.len(), MAX_BAGGAGE_BYTES);
        assert_eq!(parse_baggage([header.as_str()]).len(), 2);
    }

    #[test]
    fn inject_then_extract_is_identity() {
        let values = [
            "",
            "plain",
            "with space",
            "a,b;c=d",
            "100%",
            "\u{2713} \u{1f680}",
            "quote\"back\\slash",
            "tab\tnewline\n",
            "+plus+",
            "%2C literally",
        ];
        let mut baggage = Baggage::new();
        for (i, value) in values.iter().enumerate() {
            let metadata = if i % 3 == 0 { "p=1;flag" } else { "" };
            baggage.insert_with_metadata(format!("key{i}"), value.to_string(), metadata);
        }
        let mut carrier = HashMap::new();
        let cx = Context::new().with_baggage(baggage);
        BaggagePropagator::new().inject_context(&cx, &mut carrier);
        let back = BaggagePropagator::new().extract_with_context(&Context::new(), &carrier);
        assert_eq!(entries(back.baggage()), entries(cx.baggage()));
        // And the header survives a second trip unchanged.
        let mut again = HashMap::new();
        BaggagePropagator::new().inject_context(&back, &mut again);
        assert_eq!(again, carrier);
    }

    #[test]
    fn fields_lists_the_header() {
        assert_eq!(
            BaggagePropagator::new().fields().collect::<Vec<_>>(),
            ["baggage"]
        );
    }

    #[test]
    fn same_results_as_the_sdk_propagator_on_valid_input() {
        let ours = BaggagePropagator::new();
        let sdk = SdkBaggagePropagator::new();
        let headers = [
            "key1=val1,key2=val2",
            "key1 =   val1,  key2 =val2   ",
            "key1=val1,key2=val2%2Cval3",
            "key1=,key2=val2",
            "user=alice%20smith",
            "k=%E2%9C%93",
            "key1=val1,key2=val2;prop=1",
            "key1=val1,key2=val2;prop1",
            "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
        ];
        for header in headers {
            let carrier = HashMap::from([("baggage".to_owned(), header.to_owned())]);
            let a = ours.extract_with_context(&Context::new(), &carrier);
            let b = sdk.extract_with_context(&Context::new(), &carrier);
            assert_eq!(entries(a.baggage()), entries(b.baggage()), "{header}");

            // Each reads what the other writes.
            let (mut from_ours, mut from_sdk) = (HashMap::new(), HashMap::new());
            ours.inject_context(&a, &mut from_ours);
            sdk.inject_context(&b, &mut from_sdk);
            let sdk_reads_ours = sdk.extract_with_context(&Context::new(), &from_ours);
            let ours_reads_sdk = ours.extract_with_context(&Context::new(), &from_sdk);
            assert_eq!(
                entries(sdk_reads_ours.baggage()),
                entries(a.baggage()),
                "{header}"
            );
            assert_eq!(
                entries(ours_reads_sdk.baggage()),
                entries(b.baggage()),
                "{header}"
            );
        }
        // Values the SDK encodes more than needed still decode the same.
        let mut baggage = Baggage::new();
        baggage.insert("k", "a=b c,d;\u{2713}");
        let mut from_sdk = HashMap::new();
        sdk.inject_context(&Context::new().with_baggage(baggage), &mut from_sdk);
        let cx = ours.extract_with_context(&Context::new(), &from_sdk);
        assert_eq!(
            cx.baggage().get("k").map(|v| v.as_str()),
            Some("a=b c,d;\u{2713}")
        );
    }
}
