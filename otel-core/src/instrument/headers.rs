use http::{HeaderMap, HeaderName};
use opentelemetry::propagation::Extractor;
use opentelemetry::{Array, Key, KeyValue, StringValue, Value};

/// Headers never captured unless explicitly allowed with
/// [`HeaderCapture::allow_sensitive`]: credentials and session cookies.
pub const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

/// An allow-list of headers (HTTP headers, gRPC metadata keys, message
/// headers) recorded as span attributes `{prefix}{lowercased name}` with a
/// string-array value, one element per header value, as the conventions
/// define (`http.request.header.<name>`, `rpc.request.metadata.<key>`,
/// `messaging.header.<name>`). The one sensitive-header rule of the family:
/// every layer's header capture is this type.
///
/// Only listed headers are captured; [`SENSITIVE_HEADERS`] are refused even
/// when listed unless [`allow_sensitive`](Self::allow_sensitive) names them.
/// Attribute keys are built once, at configuration time; non-UTF-8 values
/// are skipped.
///
/// ```
/// use otel_kit_core::instrument::HeaderCapture;
///
/// let capture = HeaderCapture::new("http.request.header.", ["X-Tenant", "Authorization"]);
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-tenant", "acme".parse().unwrap());
/// headers.insert("authorization", "Bearer secret".parse().unwrap());
/// let attrs = capture.capture(&headers);
/// assert_eq!(attrs.len(), 1);
/// assert_eq!(attrs[0].key.as_str(), "http.request.header.x-tenant");
/// ```
#[derive(Clone, Debug, Default)]
pub struct HeaderCapture {
    entries: Vec<(HeaderName, Key)>,
}

/// Whether `name` (any case) is one of the [`SENSITIVE_HEADERS`].
pub fn is_sensitive_header(name: &str) -> bool {
    SENSITIVE_HEADERS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name.trim()))
}

impl HeaderCapture {
    /// Captures `names` (case-insensitive; invalid names and sensitive
    /// headers are ignored) under `prefix`.
    pub fn new<I, S>(prefix: &str, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut c = HeaderCapture::default();
        for name in names {
            c.add(prefix, name.as_ref(), false);
        }
        c
    }

    /// Also captures `names` even if they are in [`SENSITIVE_HEADERS`]: an
    /// explicit decision to record credentials.
    pub fn allow_sensitive<I, S>(mut self, prefix: &str, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for name in names {
            self.add(prefix, name.as_ref(), true);
        }
        self
    }

    /// Captures `names` under `prefix`; names in [`SENSITIVE_HEADERS`] are
    /// captured only when `allowed_sensitive` names them too (what the
    /// builders' `capture_*_headers` and `allow_sensitive_headers` set).
    pub fn with_allowed<I, S, A, T>(prefix: &str, names: I, allowed_sensitive: A) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
        A: IntoIterator<Item = T> + Clone,
        T: AsRef<str>,
    {
        let mut c = HeaderCapture::default();
        for name in names {
            let name = name.as_ref();
            let allowed = allowed_sensitive
                .clone()
                .into_iter()
                .any(|a| a.as_ref().trim().eq_ignore_ascii_case(name.trim()));
            c.add(prefix, name, allowed);
        }
        c
    }

    fn add(&mut self, prefix: &str, name: &str, sensitive_ok: bool) {
        let lower = name.trim().to_ascii_lowercase();
        if !sensitive_ok && SENSITIVE_HEADERS.contains(&lower.as_str()) {
            return;
        }
        let Ok(header) = HeaderName::from_bytes(lower.as_bytes()) else {
            return;
        };
        if self.entries.iter().any(|(h, _)| *h == header) {
            return;
        }
        self.entries
            .push((header, Key::from(format!("{prefix}{lower}"))));
    }

    /// Whether nothing is captured (the hot path can skip the call).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The attributes for the configured headers present in `headers`.
    pub fn capture(&self, headers: &HeaderMap) -> Vec<KeyValue> {
        let mut out = Vec::new();
        self.capture_into(headers, &mut out);
        out
    }

    /// Appends the attributes for the configured headers present in `headers`.
    pub fn capture_into(&self, headers: &HeaderMap, out: &mut Vec<KeyValue>) {
        for (name, key) in &self.entries {
            let values: Vec<StringValue> = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(|v| StringValue::from(v.to_string()))
                .collect();
            if !values.is_empty() {
                out.push(KeyValue::new(
                    key.clone(),
                    Value::Array(Array::String(values)),
                ));
            }
        }
    }
}

impl HeaderCapture {
    /// Appends the attributes for the configured headers present in a
    /// carrier (message headers through the messaging carriers): names
    /// compared case-insensitively, values the carrier can read as text.
    pub fn capture_from(&self, carrier: &dyn Extractor, out: &mut Vec<KeyValue>) {
        if self.entries.is_empty() {
            return;
        }
        let keys = carrier.keys();
        for (name, key) in &self.entries {
            let mut values: Vec<StringValue> = Vec::new();
            for k in keys
                .iter()
                .filter(|k| k.eq_ignore_ascii_case(name.as_str()))
            {
                if let Some(all) = carrier.get_all(k) {
                    values.extend(all.into_iter().map(|v| StringValue::from(v.to_owned())));
                }
            }
            if !values.is_empty() {
                values.dedup();
                out.push(KeyValue::new(
                    key.clone(),
                    Value::Array(Array::String(values)),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_listed_headers_as_arrays() {
        let c = HeaderCapture::new("p.", ["X-A", "x-b", "bad name", "Cookie"]);
        let mut h = HeaderMap::new();
        h.append("x-a", "1".parse().unwrap());
        h.append("x-a", "2".parse().unwrap());
        h.insert("cookie", "session=s3cret".parse().unwrap());
        h.insert("x-b", http::HeaderValue::from_bytes(b"\xff").unwrap());
        let attrs = c.capture(&h);
        assert_eq!(attrs.len(), 1, "{attrs:?}");
        assert_eq!(attrs[0].key.as_str(), "p.x-a");
        assert_eq!(
            attrs[0].value,
            Value::Array(Array::String(vec!["1".into(), "2".into()]))
        );
        let allowed = HeaderCapture::default().allow_sensitive("p.", ["cookie"]);
        assert_eq!(allowed.capture(&h)[0].key.as_str(), "p.cookie");
    }

    #[test]
    fn carriers_get_the_same_sensitive_rule() {
        use std::collections::HashMap;
        let mut m: HashMap<String, String> = HashMap::new();
        m.insert("authorization".into(), "Bearer x".into());
        m.insert("x-tenant".into(), "acme".into());
        let c = HeaderCapture::new("messaging.header.", ["authorization", "x-tenant"]);
        let mut out = Vec::new();
        c.capture_from(&m, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].key.as_str(), "messaging.header.x-tenant");
        let allowed =
            HeaderCapture::with_allowed("messaging.header.", ["authorization"], ["Authorization"]);
        let mut out = Vec::new();
        allowed.capture_from(&m, &mut out);
        assert_eq!(out[0].key.as_str(), "messaging.header.authorization");
        assert!(is_sensitive_header("Cookie"));
    }
}
