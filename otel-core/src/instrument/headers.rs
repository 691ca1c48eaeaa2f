use http::{HeaderMap, HeaderName};
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

/// An allow-list of headers (or gRPC metadata keys) recorded as span
/// attributes `{prefix}{lowercased name}` with a string-array value, one
/// element per header value, as the HTTP and RPC conventions define
/// (`http.request.header.<name>`, `rpc.request.metadata.<key>`).
///
/// Only listed headers are captured; [`SENSITIVE_HEADERS`] are refused even
/// when listed unless [`allow_sensitive`](Self::allow_sensitive) names them.
/// Attribute keys are built once, at configuration time; non-UTF-8 values
/// are skipped.
///
/// ```
/// use otel_core::instrument::HeaderCapture;
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
}
