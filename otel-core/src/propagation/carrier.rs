//! `Injector` / `Extractor` adapters: `http::HeaderMap` and any string map.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector};

/// The prebuilt header name for the keys the W3C propagators use most, so
/// the hot paths skip parsing and lowercasing the name.
fn known_header_name(key: &str) -> Option<HeaderName> {
    match key {
        "traceparent" => Some(const { HeaderName::from_static("traceparent") }),
        "tracestate" => Some(const { HeaderName::from_static("tracestate") }),
        "baggage" => Some(const { HeaderName::from_static("baggage") }),
        _ => None,
    }
}

/// Header name for `key` (any case); `None` when it is not a valid name.
fn header_name(key: &str) -> Option<HeaderName> {
    known_header_name(key).or_else(|| HeaderName::from_bytes(key.as_bytes()).ok())
}

/// Every value of the header named `key`, looked up case-insensitively.
fn values<'a>(headers: &'a HeaderMap, key: &str) -> http::header::ValueIter<'a, HeaderValue> {
    match known_header_name(key) {
        Some(name) => headers.get_all(name).into_iter(),
        None => headers.get_all(key).into_iter(),
    }
}

/// Reads propagation headers from an [`http::HeaderMap`].
///
/// Lookups are case-insensitive; [`get`](Extractor::get) returns the first
/// value, [`get_all`](Extractor::get_all) every value in order. Values that
/// are not UTF-8 are skipped.
///
/// ```
/// use http::HeaderMap;
/// use opentelemetry::propagation::Extractor;
/// use otel_kit_core::propagation::HeaderExtractor;
///
/// let mut headers = HeaderMap::new();
/// headers.append("baggage", "a=1".parse().unwrap());
/// headers.append("baggage", "b=2".parse().unwrap());
/// let extractor = HeaderExtractor(&headers);
/// assert_eq!(extractor.get("Baggage"), Some("a=1"));
/// assert_eq!(extractor.get_all("baggage"), Some(vec!["a=1", "b=2"]));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl<'a> HeaderExtractor<'a> {
    /// Wraps a header map.
    pub fn new(headers: &'a HeaderMap) -> Self {
        Self(headers)
    }
}

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        values(self.0, key).find_map(|value| std::str::from_utf8(value.as_bytes()).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = values(self.0, key)
            .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// Writes propagation headers into an [`http::HeaderMap`], replacing any
/// previous value of the same header.
///
/// Names are sent lowercase. A name or value that is not a valid HTTP header
/// is skipped silently (nothing panics).
///
/// ```
/// use http::HeaderMap;
/// use opentelemetry::propagation::Injector;
/// use otel_kit_core::propagation::HeaderInjector;
///
/// let mut headers = HeaderMap::new();
/// let mut injector = HeaderInjector(&mut headers);
/// injector.set("TraceParent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
/// injector.set("bad name", "x".into()); // skipped
/// injector.set("x-ok", "line\nbreak".into()); // skipped
/// assert_eq!(headers.len(), 1);
/// assert!(headers.contains_key("traceparent"));
/// ```
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl<'a> HeaderInjector<'a> {
    /// Wraps a header map.
    pub fn new(headers: &'a mut HeaderMap) -> Self {
        Self(headers)
    }
}

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let (Some(name), Ok(value)) = (header_name(key), HeaderValue::try_from(value)) else {
            return;
        };
        // `try_insert` only fails when the map is full (capacity overflow): skip the header then.
        let _ = self.0.try_insert(name, value);
    }

    fn reserve(&mut self, additional: usize) {
        // Same reasoning: a map that cannot grow simply receives fewer headers.
        let _ = self.0.try_reserve(additional);
    }
}

/// A string-keyed, string-valued collection a [`MapExtractor`] can read.
///
/// Implemented for `HashMap` and `BTreeMap` (keys `String`, `&str`, … and
/// values `String`, `&str`, …), and for slices and vectors of pairs.
pub trait StringMap {
    /// Every `(key, value)` pair, in the collection's order.
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_;

    /// The value stored under exactly `key`, when the collection can look it
    /// up without a scan. The default scans [`pairs`](StringMap::pairs).
    fn get_exact(&self, key: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl<K, V, S> StringMap for HashMap<K, V, S>
where
    K: Borrow<str> + Eq + Hash,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.iter().map(|(k, v)| (k.borrow(), v.as_ref()))
    }

    fn get_exact(&self, key: &str) -> Option<&str> {
        self.get(key).map(AsRef::as_ref)
    }
}

impl<K, V> StringMap for BTreeMap<K, V>
where
    K: Borrow<str> + Ord,
    V: AsRef<str>,
{
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.iter().map(|(k, v)| (k.borrow(), v.as_ref()))
    }

    fn get_exact(&self, key: &str) -> Option<&str> {
        self.get(key).map(AsRef::as_ref)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> StringMap for [(K, V)] {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }
}

impl<K: AsRef<str>, V: AsRef<str>> StringMap for Vec<(K, V)> {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.as_slice().pairs()
    }
}

/// A string-keyed collection a [`MapInjector`] can write into.
///
/// Implemented for `HashMap<String, String>`, `BTreeMap<String, String>` and
/// `Vec<(String, String)>`.
pub trait StringMapMut {
    /// Stores `value` under `key` (case kept), removing every other key equal
    /// to it ignoring ASCII case, so a later case-insensitive read sees one value.
    fn set_value(&mut self, key: &str, value: String);
}

impl<S: BuildHasher> StringMapMut for HashMap<String, String, S> {
    fn set_value(&mut self, key: &str, value: String) {
        self.retain(|k, _| k == key || !k.eq_ignore_ascii_case(key));
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                self.insert(key.to_owned(), value);
            }
        }
    }
}

impl StringMapMut for BTreeMap<String, String> {
    fn set_value(&mut self, key: &str, value: String) {
        self.retain(|k, _| k == key || !k.eq_ignore_ascii_case(key));
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                self.insert(key.to_owned(), value);
            }
        }
    }
}

impl StringMapMut for Vec<(String, String)> {
    fn set_value(&mut self, key: &str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        self.push((key.to_owned(), value));
    }
}

/// Reads propagation fields from any [`StringMap`]: `HashMap`, `BTreeMap`,
/// or a slice / vector of pairs, with `String` or `&str` keys and values.
///
/// Lookups are case-insensitive (an exact match is tried first, then a scan);
/// [`get_all`](Extractor::get_all) returns every matching value, which matters
/// for pair lists that repeat a key.
///
/// ```
/// use opentelemetry::propagation::Extractor;
/// use otel_kit_core::propagation::MapExtractor;
///
/// let pairs = [("Baggage", "a=1"), ("baggage", "b=2")];
/// let extractor = MapExtractor(&pairs[..]);
/// assert_eq!(extractor.get("BAGGAGE"), Some("a=1"));
/// assert_eq!(extractor.get_all("baggage"), Some(vec!["a=1", "b=2"]));
/// ```
#[derive(Debug)]
pub struct MapExtractor<'a, M: ?Sized>(pub &'a M);

impl<M: ?Sized> Clone for MapExtractor<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: ?Sized> Copy for MapExtractor<'_, M> {}

impl<'a, M: StringMap + ?Sized> MapExtractor<'a, M> {
    /// Wraps a map.
    pub fn new(map: &'a M) -> Self {
        Self(map)
    }
}

impl<M: StringMap + ?Sized> Extractor for MapExtractor<'_, M> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get_exact(key).or_else(|| {
            self.0
                .pairs()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
    }

    fn keys(&self) -> Vec<&str> {
        self.0.pairs().map(|(k, _)| k).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .0
            .pairs()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// Writes propagation fields into any [`StringMapMut`], keeping the key's case
/// and replacing earlier values of the same key in any case.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::propagation::Injector;
/// use otel_kit_core::propagation::MapInjector;
///
/// let mut map = HashMap::from([("TraceParent".to_string(), "old".to_string())]);
/// MapInjector(&mut map).set("traceparent", "new".to_string());
/// assert_eq!(map.len(), 1);
/// assert_eq!(map["traceparent"], "new");
/// ```
#[derive(Debug)]
pub struct MapInjector<'a, M: ?Sized>(pub &'a mut M);

impl<'a, M: StringMapMut + ?Sized> MapInjector<'a, M> {
    /// Wraps a map.
    pub fn new(map: &'a mut M) -> Self {
        Self(map)
    }
}

impl<M: StringMapMut + ?Sized> Injector for MapInjector<'_, M> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set_value(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key, expected `get`, expected `get_all`.
    type ReadCase = (
        &'static str,
        Option<&'static str>,
        Option<Vec<&'static str>>,
    );

    fn header_map(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn header_extractor_reads_case_insensitively_and_skips_non_utf8() {
        let map = header_map(&[
            ("traceparent", b"tp"),
            ("baggage", b"\xff\xfe"),
            ("baggage", b"a=1"),
            ("baggage", b"b=\xc3\xa9"),
            ("x-other", b"o"),
        ]);
        let ex = HeaderExtractor::new(&map);
        let cases: &[ReadCase] = &[
            ("traceparent", Some("tp"), Some(vec!["tp"])),
            ("TraceParent", Some("tp"), Some(vec!["tp"])),
            ("BAGGAGE", Some("a=1"), Some(vec!["a=1", "b=\u{e9}"])),
            ("missing", None, None),
            ("not a header name", None, None),
            ("", None, None),
        ];
        for (key, first, all) in cases {
            assert_eq!(ex.get(key), *first, "{key}");
            assert_eq!(ex.get_all(key), *all, "{key}");
        }
        let only_binary = header_map(&[("baggage", b"\xff")]);
        assert_eq!(HeaderExtractor(&only_binary).get("baggage"), None);
        assert_eq!(HeaderExtractor(&only_binary).get_all("baggage"), None);
        let mut keys = ex.keys();
        keys.sort_unstable();
        assert_eq!(keys, ["baggage", "traceparent", "x-other"]);
    }

    #[test]
    fn header_injector_replaces_lowercases_and_skips_invalid_input() {
        let mut map = header_map(&[("traceparent", b"old"), ("traceparent", b"older")]);
        let mut inj = HeaderInjector::new(&mut map);
        inj.reserve(4);
        let cases: &[(&str, &str, bool)] = &[
            ("traceparent", "new", true),
            ("TraceState", "a=1", true),
            ("baggage", "k=v", true),
            ("X-Custom", "c", true),
            ("bad name", "x", false),
            ("", "x", false),
            ("x-newline", "a\r\nb", false),
            ("x-nul", "a\0b", false),
            ("caf\u{e9}", "x", false),
        ];
        for (key, value, _) in cases {
            inj.set(key, (*value).to_owned());
        }
        for (key, value, stored) in cases {
            let got = HeaderName::from_bytes(key.as_bytes())
                .ok()
                .and_then(|name| map.get(name))
                .map(|v| v.to_str().unwrap());
            assert_eq!(got, stored.then_some(*value), "{key}");
        }
        assert_eq!(map.get_all("traceparent").iter().count(), 1);
        assert_eq!(map.len(), 4);
        let mut names: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["baggage", "traceparent", "tracestate", "x-custom"]);
    }

    #[test]
    fn header_injector_skips_headers_when_the_map_is_full() {
        let mut map = HeaderMap::new();
        let mut i = 0u32;
        while map
            .try_insert(
                HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            )
            .is_ok()
        {
            i += 1;
        }
        let len = map.len();
        let mut inj = HeaderInjector(&mut map);
        inj.reserve(10);
        inj.set("traceparent", "tp".into()); // `HeaderMap::insert` would panic here
        assert_eq!(map.len(), len);
        assert!(!map.contains_key("traceparent"));
    }

    fn check_extractor(ex: &dyn Extractor, name: &str) {
        assert_eq!(ex.get("traceparent"), Some("tp"), "{name}");
        assert_eq!(ex.get("TRACEPARENT"), Some("tp"), "{name}");
        assert_eq!(ex.get("baggage"), Some("b"), "{name}");
        assert_eq!(ex.get("missing"), None, "{name}");
        assert_eq!(ex.get_all("Baggage"), Some(vec!["b"]), "{name}");
        assert_eq!(ex.get_all("missing"), None, "{name}");
        let mut keys = ex.keys();
        keys.sort_unstable();
        assert_eq!(keys, ["Baggage", "traceparent"], "{name}");
    }

    #[test]
    fn map_extractor_over_every_supported_collection() {
        let owned: HashMap<String, String> = HashMap::from([
            ("traceparent".into(), "tp".into()),
            ("Baggage".into(), "b".into()),
        ]);
        let borrowed: HashMap<&str, &str> =
            HashMap::from([("traceparent", "tp"), ("Baggage", "b")]);
        let btree: BTreeMap<String, &str> =
            BTreeMap::from([("traceparent".into(), "tp"), ("Baggage".into(), "b")]);
        let vec: Vec<(String, String)> = vec![
            ("traceparent".into(), "tp".into()),
            ("Baggage".into(), "b".into()),
        ];
        let slice: &[(&str, &str)] = &[("traceparent", "tp"), ("Baggage", "b")];
        check_extractor(&MapExtractor(&owned), "HashMap<String, String>");
        check_extractor(&MapExtractor(&borrowed), "HashMap<&str, &str>");
        check_extractor(&MapExtractor(&btree), "BTreeMap<String, &str>");
        check_extractor(&MapExtractor(&vec), "Vec<(String, String)>");
        check_extractor(&MapExtractor::new(slice), "[(&str, &str)]");
    }

    #[test]
    fn map_extractor_prefers_exact_key_and_returns_every_value() {
        let pairs = [
            ("TraceState", "a=1"),
            ("tracestate", "b=2"),
            ("TRACESTATE", "c=3"),
        ];
        let ex = MapExtractor(&pairs[..]);
        assert_eq!(ex.get("tracestate"), Some("b=2"));
        assert_eq!(ex.get("Tracestate"), Some("a=1"));
        assert_eq!(ex.get_all("tracestate"), Some(vec!["a=1", "b=2", "c=3"]));
    }

    #[test]
    fn map_injector_keeps_case_and_replaces_case_variants() {
        let mut hash: HashMap<String, String> = HashMap::from([
            ("TraceParent".into(), "old".into()),
            ("other".into(), "o".into()),
        ]);
        let mut btree: BTreeMap<String, String> = hash.clone().into_iter().collect();
        let mut vec: Vec<(String, String)> = vec![
            ("TraceParent".into(), "old".into()),
            ("other".into(), "o".into()),
            ("TRACEPARENT".into(), "old2".into()),
        ];
        MapInjector(&mut hash).set("traceparent", "new".into());
        MapInjector(&mut btree).set("traceparent", "new".into());
        MapInjector::new(&mut vec).set("traceparent", "new".into());
        let expected = [("other", "o"), ("traceparent", "new")];
        let mut got: Vec<(&str, &str)> =
            hash.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        got.sort_unstable();
        assert_eq!(got, expected);
        let got: Vec<(&str, &str)> = btree
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, expected);
        let got: Vec<(&str, &str)> = vec.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expected);
        // Setting the exact key again replaces it in place; case is kept.
        MapInjector(&mut hash).set("X-Mixed", "1".into());
        MapInjector(&mut hash).set("X-Mixed", "2".into());
        assert_eq!(hash.get("X-Mixed").map(String::as_str), Some("2"));
        assert_eq!(hash.len(), 3);
    }
}
