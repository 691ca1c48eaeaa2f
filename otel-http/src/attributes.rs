//! Request → semantic-convention attributes, shared by the server and client
//! layers: method normalisation, `Forwarded` / `X-Forwarded-*` parsing,
//! protocol version, the old attribute names of `http/dup`.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::{Arc, OnceLock};

use http::header::{AsHeaderName, FORWARDED, HOST, USER_AGENT};
use http::{HeaderMap, HeaderName, Method, Version};
use otel_kit_core::instrument::OTHER;
use otel_kit_core::opentelemetry::{Key, KeyValue, StringValue, Value};
use otel_kit_core::semconv::attribute as sc;

/// Attribute names of the conventions before HTTP stabilisation, emitted in
/// addition to the stable ones when `OTEL_SEMCONV_STABILITY_OPT_IN=http/dup`.
pub(crate) mod old {
    pub(crate) const HTTP_METHOD: &str = "http.method";
    pub(crate) const HTTP_STATUS_CODE: &str = "http.status_code";
    pub(crate) const HTTP_URL: &str = "http.url";
    pub(crate) const HTTP_TARGET: &str = "http.target";
    pub(crate) const HTTP_SCHEME: &str = "http.scheme";
    pub(crate) const HTTP_CLIENT_IP: &str = "http.client_ip";
    pub(crate) const NET_PEER_NAME: &str = "net.peer.name";
    pub(crate) const NET_PEER_PORT: &str = "net.peer.port";
    pub(crate) const NET_HOST_NAME: &str = "net.host.name";
    pub(crate) const NET_HOST_PORT: &str = "net.host.port";
    pub(crate) const NET_SOCK_PEER_ADDR: &str = "net.sock.peer.addr";
    pub(crate) const NET_SOCK_PEER_PORT: &str = "net.sock.peer.port";
    pub(crate) const NET_PROTOCOL_NAME: &str = "net.protocol.name";
    pub(crate) const NET_PROTOCOL_VERSION: &str = "net.protocol.version";
    pub(crate) const HTTP_REQUEST_CONTENT_LENGTH: &str = "http.request_content_length";
    pub(crate) const HTTP_RESPONSE_CONTENT_LENGTH: &str = "http.response_content_length";
    pub(crate) const HTTP_RESEND_COUNT: &str = "http.resend_count";
    pub(crate) const HTTP_SERVER_DURATION: &str = "http.server.duration";
    pub(crate) const HTTP_CLIENT_DURATION: &str = "http.client.duration";
}

/// The environment variable that replaces the list of known HTTP methods.
pub const KNOWN_METHODS_ENV: &str = "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS";

/// The HTTP methods recorded as themselves; any other becomes `_OTHER`
/// ([`otel_kit_core::instrument::OTHER`]) with
/// the original in `http.request.method_original`.
///
/// The default is the conventions' list (`CONNECT DELETE GET HEAD OPTIONS
/// PATCH POST PUT TRACE QUERY`), replaced by
/// `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` (comma-separated,
/// case-sensitive) when that is set. Matching is case-sensitive: `get` is
/// `_OTHER`.
///
/// ```
/// use otel_kit_http::KnownMethods;
///
/// let methods = KnownMethods::new(["GET", "PURGE"]);
/// assert!(methods.is_known(&http::Method::from_bytes(b"PURGE").unwrap()));
/// assert!(!methods.is_known(&http::Method::POST));
/// ```
#[derive(Clone, Debug, Default)]
pub struct KnownMethods(Option<Arc<[Box<str>]>>);

const DEFAULT_METHODS: [&str; 10] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY",
];

impl KnownMethods {
    /// Exactly `methods` (case-sensitive, surrounding spaces trimmed, empty
    /// entries ignored).
    pub fn new<I, S>(methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list: Vec<Box<str>> = methods
            .into_iter()
            .map(|m| m.as_ref().trim().to_owned())
            .filter(|m| !m.is_empty())
            .map(String::into_boxed_str)
            .collect();
        KnownMethods(Some(list.into()))
    }

    /// The conventions' default list.
    pub fn standard() -> Self {
        KnownMethods(None)
    }

    /// The list from `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`, else the
    /// default; read once per process.
    pub fn from_env() -> Self {
        static ENV: OnceLock<KnownMethods> = OnceLock::new();
        ENV.get_or_init(|| match std::env::var(KNOWN_METHODS_ENV) {
            Ok(v) if !v.trim().is_empty() => KnownMethods::new(v.split(',')),
            _ => KnownMethods::standard(),
        })
        .clone()
    }

    /// Whether `method` is recorded as itself.
    pub fn is_known(&self, method: &Method) -> bool {
        match &self.0 {
            None => DEFAULT_METHODS.contains(&method.as_str()),
            Some(list) => list.iter().any(|m| &**m == method.as_str()),
        }
    }
}

/// The method's name without allocation for the standard methods.
pub(crate) fn static_method(method: &Method) -> Cow<'static, str> {
    let s: &'static str = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => return Cow::Owned(method.as_str().to_owned()),
    };
    Cow::Borrowed(s)
}

/// The recorded method of a request: `http.request.method` value and the
/// span-name prefix (`HTTP` for `_OTHER`).
#[derive(Clone, Debug)]
pub(crate) struct MethodAttr {
    pub value: Cow<'static, str>,
    pub other: bool,
}

impl MethodAttr {
    pub(crate) fn new(known: &KnownMethods, method: &Method) -> Self {
        if known.is_known(method) {
            MethodAttr {
                value: static_method(method),
                other: false,
            }
        } else {
            MethodAttr {
                value: Cow::Borrowed(OTHER),
                other: true,
            }
        }
    }

    /// The method part of a span name.
    pub(crate) fn name_part(&self) -> Cow<'static, str> {
        if self.other {
            Cow::Borrowed("HTTP")
        } else {
            self.value.clone()
        }
    }

    pub(crate) fn push(&self, method: &Method, dup: bool, out: &mut Vec<KeyValue>) {
        out.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, self.value.clone()));
        if self.other {
            out.push(KeyValue::new(
                sc::HTTP_REQUEST_METHOD_ORIGINAL,
                method.as_str().to_owned(),
            ));
        }
        if dup {
            let v = if self.other {
                Cow::Owned(method.as_str().to_owned())
            } else {
                self.value.clone()
            };
            out.push(KeyValue::new(old::HTTP_METHOD, v));
        }
    }
}

/// `network.protocol.version` of an HTTP version (`1.0`, `1.1`, `2`, `3`).
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    Some(match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// A string attribute from a borrowed string (one allocation).
pub(crate) fn string_kv(key: &'static str, value: &str) -> KeyValue {
    KeyValue::new(
        Key::from_static_str(key),
        Value::String(StringValue::from(value.to_owned())),
    )
}

/// The first value of a header as UTF-8 (non-UTF-8 values are ignored).
/// Pass a `HeaderName` (not a `&str`) on hot paths: no parsing.
pub(crate) fn header_str<K: AsHeaderName>(headers: &HeaderMap, name: K) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The largest header map [`RequestHeaders::prefetch`] scans.
const PREFETCH_MAX_HEADERS: usize = 8;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Splits `host[:port]` (IPv6 in brackets) into host and port. The host is
/// returned without brackets.
pub(crate) fn split_host_port(value: &str) -> Option<(&str, Option<u16>)> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if let Some(rest) = value.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((host, port));
    }
    // A plain byte search: host values are short, `memrchr` costs more.
    match value.bytes().rposition(|b| b == b':') {
        // A bare IPv6 address has several colons: no port.
        Some(i) if value.as_bytes()[..i].contains(&b':') => Some((value, None)),
        Some(i) => Some((&value[..i], value[i + 1..].parse().ok())),
        None => Some((value, None)),
    }
}

/// The request headers the server layer reads (`Forwarded`,
/// `X-Forwarded-For/-Proto/-Host`, `Host`, `User-Agent`), each looked up at
/// most once per request and only when needed (`Forwarded` serves the
/// scheme, the server address and the client address). Each is the first
/// value of its name as UTF-8 (`None` when absent or not UTF-8), exactly what
/// [`header_str`] returns.
#[derive(Debug)]
pub(crate) struct RequestHeaders<'a> {
    headers: &'a HeaderMap,
    forwarded: Cell<Option<Option<&'a str>>>,
    x_forwarded_for: Cell<Option<Option<&'a str>>>,
    x_forwarded_proto: Cell<Option<Option<&'a str>>>,
    x_forwarded_host: Cell<Option<Option<&'a str>>>,
    host: Cell<Option<Option<&'a str>>>,
    user_agent: Cell<Option<Option<&'a str>>>,
}

impl<'a> RequestHeaders<'a> {
    pub(crate) fn new(headers: &'a HeaderMap) -> Self {
        RequestHeaders {
            headers,
            forwarded: Cell::new(None),
            x_forwarded_for: Cell::new(None),
            x_forwarded_proto: Cell::new(None),
            x_forwarded_host: Cell::new(None),
            host: Cell::new(None),
            user_agent: Cell::new(None),
        }
    }

    /// Reads every header not read yet in one pass over a small header map
    /// (cheaper than the hashed lookups then); a large map keeps the lazy
    /// lookups. Call it when most of the headers are about to be needed.
    pub(crate) fn prefetch(&self) {
        if self.headers.len() > PREFETCH_MAX_HEADERS {
            return;
        }
        let mut found: [Option<Option<&'a str>>; 6] = [None; 6];
        for (name, value) in self.headers {
            let i = if *name == HOST {
                0
            } else if *name == USER_AGENT {
                1
            } else if *name == FORWARDED {
                2
            } else if *name == X_FORWARDED_FOR {
                3
            } else if *name == X_FORWARDED_PROTO {
                4
            } else if *name == X_FORWARDED_HOST {
                5
            } else {
                continue;
            };
            // Only the first value of a name counts, as with `get`.
            if found[i].is_none() {
                found[i] = Some(value.to_str().ok());
            }
        }
        let slots = [
            &self.host,
            &self.user_agent,
            &self.forwarded,
            &self.x_forwarded_for,
            &self.x_forwarded_proto,
            &self.x_forwarded_host,
        ];
        for (slot, v) in slots.into_iter().zip(found) {
            if slot.get().is_none() {
                slot.set(Some(v.unwrap_or(None)));
            }
        }
    }

    fn cached(&self, slot: &Cell<Option<Option<&'a str>>>, name: &HeaderName) -> Option<&'a str> {
        if let Some(v) = slot.get() {
            return v;
        }
        let v = header_str(self.headers, name);
        slot.set(Some(v));
        v
    }

    fn forwarded(&self) -> Option<&'a str> {
        self.cached(&self.forwarded, &FORWARDED)
    }

    /// `User-Agent`.
    pub(crate) fn user_agent(&self) -> Option<&'a str> {
        self.cached(&self.user_agent, &USER_AGENT)
    }

    /// The original client address: `Forwarded: for=`, then the first
    /// `X-Forwarded-For` entry. Ports and IPv6 brackets are removed.
    pub(crate) fn client(&self) -> Option<&'a str> {
        if let Some(v) = self.forwarded().and_then(|f| forwarded_param_of(f, "for")) {
            // `for=unknown` and obfuscated identifiers (`_hidden`) are kept as
            // given: they are what the proxy chose to say.
            return split_host_port(v).map(|(h, _)| h);
        }
        let first = self
            .cached(&self.x_forwarded_for, &X_FORWARDED_FOR)?
            .split(',')
            .next()?
            .trim();
        split_host_port(first).map(|(h, _)| h)
    }

    /// The original scheme: `Forwarded: proto=`, then `X-Forwarded-Proto`.
    pub(crate) fn scheme(&self) -> Option<&'static str> {
        let v = self
            .forwarded()
            .and_then(|f| forwarded_param_of(f, "proto"))
            .or_else(|| {
                self.cached(&self.x_forwarded_proto, &X_FORWARDED_PROTO)
                    .map(|v| v.split(',').next().unwrap_or(v).trim())
            })?;
        if v.eq_ignore_ascii_case("https") {
            Some("https")
        } else if v.eq_ignore_ascii_case("http") {
            Some("http")
        } else {
            None
        }
    }

    /// `server.address` / `server.port` of a server request: `Forwarded:
    /// host=` or `X-Forwarded-Host`, then the URI authority (`:authority`),
    /// then `Host`.
    pub(crate) fn server_host<'u>(&self, uri: &'u http::Uri) -> Option<(&'u str, Option<u16>)>
    where
        'a: 'u,
    {
        if let Some(v) = self
            .forwarded()
            .and_then(|f| forwarded_param_of(f, "host"))
            .or_else(|| {
                self.cached(&self.x_forwarded_host, &X_FORWARDED_HOST)
                    .map(|v| v.split(',').next().unwrap_or(v))
            })
        {
            return split_host_port(v);
        }
        if let Some(auth) = uri.authority() {
            return Some((
                auth.host().trim_start_matches('[').trim_end_matches(']'),
                auth.port_u16(),
            ));
        }
        self.cached(&self.host, &HOST).and_then(split_host_port)
    }
}

/// A parameter (`for`, `proto`, `host`) of the first element of a
/// `Forwarded` header value (RFC 7239), unquoted.
fn forwarded_param_of<'a>(value: &'a str, param: &str) -> Option<&'a str> {
    let first = value.split(',').next()?;
    for pair in first.split(';') {
        let (k, v) = pair.split_once('=')?;
        if k.trim().eq_ignore_ascii_case(param) {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            return (!v.is_empty()).then_some(v);
        }
    }
    None
}

/// The original client address (see [`RequestHeaders::client`]).
#[cfg(test)]
pub(crate) fn forwarded_client(headers: &HeaderMap) -> Option<&str> {
    RequestHeaders::new(headers).client()
}

/// The original scheme (see [`RequestHeaders::scheme`]).
#[cfg(test)]
pub(crate) fn forwarded_scheme(headers: &HeaderMap) -> Option<&'static str> {
    RequestHeaders::new(headers).scheme()
}

/// `server.address` / `server.port` (see [`RequestHeaders::server_host`]).
#[cfg(test)]
pub(crate) fn server_host<'a>(
    uri: &'a http::Uri,
    headers: &'a HeaderMap,
) -> Option<(&'a str, Option<u16>)> {
    RequestHeaders::new(headers).server_host(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("a.com:8080"), Some(("a.com", Some(8080))));
        assert_eq!(split_host_port("a.com"), Some(("a.com", None)));
        assert_eq!(split_host_port("[::1]:80"), Some(("::1", Some(80))));
        assert_eq!(split_host_port("::1"), Some(("::1", None)));
        assert_eq!(split_host_port("a.com:x"), Some(("a.com", None)));
        assert_eq!(split_host_port(""), None);
    }

    #[test]
    fn forwarded_headers() {
        let h = headers(&[(
            "forwarded",
            "For=\"[2001:db8:cafe::17]:4711\";proto=HTTPS;host=shop.example:8443, for=10.0.0.1",
        )]);
        assert_eq!(forwarded_client(&h), Some("2001:db8:cafe::17"));
        assert_eq!(forwarded_scheme(&h), Some("https"));
        let uri: http::Uri = "/x".parse().unwrap();
        assert_eq!(server_host(&uri, &h), Some(("shop.example", Some(8443))));

        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7, 10.0.0.1"),
            ("x-forwarded-proto", "http"),
            ("host", "api.local:3000"),
        ]);
        assert_eq!(forwarded_client(&h), Some("203.0.113.7"));
        assert_eq!(forwarded_scheme(&h), Some("http"));
        assert_eq!(server_host(&uri, &h), Some(("api.local", Some(3000))));

        // Garbage never panics.
        let h = headers(&[("forwarded", ";;=;for"), ("x-forwarded-for", ",,")]);
        let _ = forwarded_client(&h);
        let _ = forwarded_scheme(&h);
    }

    #[test]
    fn prefetch_matches_lookups() {
        let mut h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "10.0.0.9"),
            ("x-forwarded-proto", "https"),
            ("host", "api.local:3000"),
            ("user-agent", "ua/1"),
            ("user-agent", "ua/2"),
        ]);
        h.append(
            "x-forwarded-host",
            http::HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        let uri: http::Uri = "/x".parse().unwrap();
        let lazy = RequestHeaders::new(&h);
        let eager = RequestHeaders::new(&h);
        eager.prefetch();
        assert_eq!(lazy.client(), eager.client());
        assert_eq!(eager.client(), Some("203.0.113.7"));
        assert_eq!(lazy.scheme(), eager.scheme());
        assert_eq!(lazy.server_host(&uri), eager.server_host(&uri));
        assert_eq!(eager.server_host(&uri), Some(("api.local", Some(3000))));
        assert_eq!(lazy.user_agent(), eager.user_agent());
        assert_eq!(eager.user_agent(), Some("ua/1"));
    }

    #[test]
    fn methods() {
        let std = KnownMethods::standard();
        assert!(std.is_known(&Method::GET));
        assert!(std.is_known(&Method::from_bytes(b"QUERY").unwrap()));
        assert!(!std.is_known(&Method::from_bytes(b"get").unwrap()));
        let m = MethodAttr::new(&std, &Method::from_bytes(b"PURGE").unwrap());
        assert_eq!(m.value, OTHER);
        assert_eq!(m.name_part(), "HTTP");
        let custom = KnownMethods::new(["GET", " PURGE "]);
        assert!(custom.is_known(&Method::from_bytes(b"PURGE").unwrap()));
        assert!(!custom.is_known(&Method::POST));
    }
}
