use super::parse;
use super::{Diagnostics, Environment};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A telemetry signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// The upper-case infix of per-signal variables (`TRACES`, `METRICS`, `LOGS`).
    pub fn env_infix(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
            Signal::Logs => "LOGS",
        }
    }

    /// The OTLP/HTTP path of this signal (`v1/traces`, ...).
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Metrics => "v1/metrics",
            Signal::Logs => "v1/logs",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        })
    }
}

/// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC (`grpc`), default port 4317.
    Grpc,
    /// OTLP over HTTP with protobuf bodies (`http/protobuf`, the default), port 4318.
    #[default]
    HttpProtobuf,
    /// OTLP over HTTP with JSON bodies (`http/json`), port 4318.
    HttpJson,
}

impl Protocol {
    /// Parses the specification's spelling.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "http/json" => Some(Protocol::HttpJson),
            _ => None,
        }
    }

    /// The specification's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    /// The transport used when no `OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL` is
    /// set: the specification's `http/protobuf`, or `grpc` when otel-kit-core is
    /// built with its `otlp-grpc` feature but without `otlp-http`.
    pub fn unset_default() -> Protocol {
        if cfg!(all(feature = "otlp-grpc", not(feature = "otlp-http"))) {
            Protocol::Grpc
        } else {
            Protocol::HttpProtobuf
        }
    }

    /// The otel-kit-core cargo feature that builds exporters of this transport.
    pub fn cargo_feature(self) -> &'static str {
        match self {
            Protocol::Grpc => "otlp-grpc",
            Protocol::HttpProtobuf | Protocol::HttpJson => "otlp-http",
        }
    }

    fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://localhost:4317",
            _ => "http://localhost:4318",
        }
    }
}

/// Payload compression (`OTEL_EXPORTER_OTLP_COMPRESSION`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// No compression (default).
    #[default]
    None,
    /// gzip.
    Gzip,
}

/// Everything the OTLP exporter of one signal needs, resolved from the
/// general and per-signal `OTEL_EXPORTER_OTLP_*` variables (per-signal wins).
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The URL the exporter sends to: for HTTP the full URL including the
    /// signal path, for gRPC the collector's address.
    pub endpoint: String,
    /// Transport.
    pub protocol: Protocol,
    /// The variable `protocol` came from (`None`: the default).
    pub(crate) protocol_variable: Option<String>,
    /// Extra request headers (percent-decoded). Secret: never printed.
    pub headers: Vec<(String, String)>,
    /// Timeout of one export, retries included.
    pub timeout: Duration,
    /// Payload compression.
    pub compression: Compression,
    /// PEM file of the certificate authority to trust.
    pub certificate: Option<PathBuf>,
    /// PEM file of the client's private key (mTLS).
    pub client_key: Option<PathBuf>,
    /// PEM file of the client's certificate chain (mTLS).
    pub client_certificate: Option<PathBuf>,
    /// gRPC without TLS when the endpoint has no scheme.
    pub insecure: bool,
    /// Whether any endpoint variable was set (general or for this signal).
    pub endpoint_configured: bool,
}

impl fmt::Debug for OtlpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpSettings")
            .field("endpoint", &redact_userinfo(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("certificate", &self.certificate)
            .field("client_key", &self.client_key)
            .field("client_certificate", &self.client_certificate)
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// Shows header names only: the values are credentials more often than not.
pub(crate) struct RedactedHeaders<'a>(pub &'a [(String, String)]);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, (k, _)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}=<redacted>")?;
        }
        f.write_str("]")
    }
}

/// Reads the per-signal variable if set, else the general one; returns the
/// name of the variable the value came from.
fn pick<'e>(env: &'e Environment, signal: Signal, suffix: &str) -> Option<(String, &'e str)> {
    let specific = format!("OTEL_EXPORTER_OTLP_{}_{suffix}", signal.env_infix());
    if let Some(v) = env.get(&specific) {
        return Some((specific, v));
    }
    let general = format!("OTEL_EXPORTER_OTLP_{suffix}");
    env.get(&general).map(|v| (general, v))
}

/// Splits `scheme://authority/path?query` into (scheme, authority, rest).
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(cut);
    if authority.is_empty() {
        return None;
    }
    Some((scheme, authority, tail))
}

/// Joins a base URL and a signal path with exactly one `/` between them.
pub(crate) fn join_signal_path(base: &str, path: &str) -> String {
    let (head, query) = match base.find(['?', '#']) {
        Some(i) => base.split_at(i),
        None => (base, ""),
    };
    let head = head.trim_end_matches('/');
    format!("{head}/{path}{query}")
}

/// Parses `k1=v1,k2=v2` (W3C-baggage-like, values percent-decoded). Bad members
/// are reported by position only: a malformed member may hold a secret (for
/// `key:value` typed instead of `key=value`), so none of its text is echoed;
/// a valid name is shown only when the problem is its value.
pub(crate) fn parse_headers(var: &str, raw: &str, diag: &mut Diagnostics) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let members = raw.split(',').map(str::trim).filter(|m| !m.is_empty());
    for (i, member) in members.enumerate() {
        let n = i + 1;
        let Some((k, v)) = member.split_once('=') else {
            diag.push(
                var,
                format!("<member {n} redacted>"),
                format!("member {n} has no `=`"),
                "member ignored",
            );
            continue;
        };
        let key = k.trim();
        if key.is_empty() || http::HeaderName::from_bytes(key.as_bytes()).is_err() {
            diag.push(
                var,
                format!("<member {n} redacted>"),
                format!("member {n} has an invalid header name"),
                "member ignored",
            );
            continue;
        }
        match parse::percent_decode_strict(v.trim()) {
            Ok(value) if http::HeaderValue::from_str(&value).is_ok() => {
                out.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
                out.push((key.to_string(), value));
            }
            Ok(_) => diag.push(
                var,
                format!("{key}=<redacted>"),
                format!("member {n}: the value is not a valid header value"),
                "member ignored",
            ),
            Err(why) => diag.push(
                var,
                format!("{key}=<redacted>"),
                format!("member {n}: {why}"),
                "member ignored",
            ),
        }
    }
    out
}

/// `url` with any userinfo (`user:password@`) replaced by `REDACTED@`, for
/// printing endpoints.
/// A value without a scheme (`user:pw@host:4317`, as a gRPC endpoint may be
/// written) is redacted the same way.
pub(crate) fn redact_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let (prefix, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if let Some(at) = rest[..end].rfind('@') {
        return format!("{prefix}REDACTED@{}", &rest[at + 1..]).into();
    }
    url.into()
}

impl OtlpSettings {
    /// Resolves the settings of `signal` from `env`, reporting every invalid value.
    pub fn from_env(env: &Environment, diag: &mut Diagnostics, signal: Signal) -> Self {
        let (protocol, protocol_variable) = match pick(env, signal, "PROTOCOL") {
            Some((var, raw)) => match Protocol::parse(raw) {
                Some(p) => (p, Some(var)),
                None => {
                    let default = Protocol::unset_default();
                    diag.push(
                        &var,
                        raw,
                        "unknown protocol (grpc, http/protobuf, http/json)",
                        format!("using {}", default.as_str()),
                    );
                    (default, None)
                }
            },
            None => (Protocol::unset_default(), None),
        };

        let insecure = match pick(env, signal, "INSECURE") {
            Some((var, _)) => parse::boolean(env, diag, &var).unwrap_or(false),
            None => false,
        };

        let specific_var = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.env_infix());
        let (endpoint, endpoint_configured) =
            Self::endpoint(env, diag, signal, protocol, insecure, &specific_var);

        let headers = match pick(env, signal, "HEADERS") {
            Some((var, raw)) => parse_headers(&var, raw, diag),
            None => Vec::new(),
        };

        let timeout_default = Duration::from_millis(10_000);
        let timeout = match pick(env, signal, "TIMEOUT") {
            Some((var, _)) => parse::millis(env, diag, &var, timeout_default, true),
            None => timeout_default,
        };

        let compression = match pick(env, signal, "COMPRESSION") {
            Some((var, raw)) => match raw.to_ascii_lowercase().as_str() {
                "gzip" => Compression::Gzip,
                "none" => Compression::None,
                _ => {
                    diag.push(
                        &var,
                        raw,
                        "unknown compression (gzip or none)",
                        "no compression",
                    );
                    Compression::None
                }
            },
            None => Compression::None,
        };

        let path = |suffix: &str| pick(env, signal, suffix).map(|(_, v)| PathBuf::from(v));
        OtlpSettings {
            endpoint,
            protocol,
            protocol_variable,
            headers,
            timeout,
            compression,
            certificate: path("CERTIFICATE"),
            client_key: path("CLIENT_KEY"),
            client_certificate: path("CLIENT_CERTIFICATE"),
            insecure,
            endpoint_configured,
        }
    }

    fn endpoint(
        env: &Environment,
        diag: &mut Diagnostics,
        signal: Signal,
        protocol: Protocol,
        insecure: bool,
        specific_var: &str,
    ) -> (String, bool) {
        let grpc = protocol == Protocol::Grpc;
        let default = || {
            let base = protocol.default_endpoint();
            if grpc {
                base.to_string()
            } else {
                join_signal_path(base, signal.http_path())
            }
        };
        let candidates = [
            (specific_var.to_string(), true),
            ("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), false),
        ];
        let mut configured = false;
        for (var, per_signal) in candidates {
            let Some(raw) = env.get(&var) else { continue };
            configured = true;
            if grpc {
                // gRPC: an http(s) URL, or host:port whose TLS follows INSECURE.
                if let Some((scheme, _, _)) = split_url(raw) {
                    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
                        return (raw.to_string(), true);
                    }
                    diag.push(
                        &var,
                        redact_userinfo(raw),
                        "scheme must be http or https",
                        "variable ignored",
                    );
                    continue;
                }
                let scheme = if insecure { "http" } else { "https" };
                return (format!("{scheme}://{raw}"), true);
            }
            match split_url(raw) {
                Some((scheme, authority, rest))
                    if scheme.eq_ignore_ascii_case("http")
                        || scheme.eq_ignore_ascii_case("https") =>
                {
                    if per_signal {
                        // Used as-is; only an empty path becomes `/`.
                        let url = if rest.is_empty() || rest.starts_with(['?', '#']) {
                            format!("{scheme}://{authority}/{rest}")
                        } else {
                            raw.to_string()
                        };
                        return (url, true);
                    }
                    return (join_signal_path(raw, signal.http_path()), true);
                }
                _ => diag.push(
                    &var,
                    redact_userinfo(raw),
                    "not an http:// or https:// URL",
                    "variable ignored",
                ),
            }
        }
        (default(), configured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)], signal: Signal) -> (OtlpSettings, Diagnostics) {
        let mut d = Diagnostics::default();
        let s = OtlpSettings::from_env(
            &Environment::from_pairs(pairs.iter().copied()),
            &mut d,
            signal,
        );
        (s, d)
    }

    /// (environment, signal, expected endpoint)
    type EndpointCase = (
        &'static [(&'static str, &'static str)],
        Signal,
        &'static str,
    );

    #[test]
    #[cfg_attr(
        all(feature = "otlp-grpc", not(feature = "otlp-http")),
        ignore = "expects the http/protobuf default; this build defaults to grpc"
    )]
    fn endpoint_rules() {
        let cases: &[EndpointCase] = &[
            (&[], Signal::Traces, "http://localhost:4318/v1/traces"),
            (&[], Signal::Metrics, "http://localhost:4318/v1/metrics"),
            (
                &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
                Signal::Traces,
                "http://localhost:4317",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")],
                Signal::Logs,
                "http://c:4318/v1/logs",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")],
                Signal::Traces,
                "http://c:4318/v1/traces",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/mycollector/")],
                Signal::Traces,
                "http://c:4318/mycollector/v1/traces",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/mycollector")],
                Signal::Traces,
                "http://c:4318/mycollector/v1/traces",
            ),
            (
                &[(
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://c:4318/custom/path",
                )],
                Signal::Traces,
                "http://c:4318/custom/path",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318")],
                Signal::Traces,
                "http://c:4318/",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://c")],
                Signal::Metrics,
                "http://localhost:4318/v1/metrics",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:1"),
                    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:2/x"),
                ],
                Signal::Traces,
                "http://b:2/x",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4317"),
                ],
                Signal::Traces,
                "https://c:4317",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"),
                ],
                Signal::Traces,
                "https://c:4317",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"),
                    ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
                ],
                Signal::Traces,
                "http://c:4317",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                    ("OTEL_EXPORTER_OTLP_INSECURE", "false"),
                ],
                Signal::Traces,
                "http://c:4317",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")],
                Signal::Metrics,
                "http://localhost:4318/v1/metrics",
            ),
        ];
        for (env, signal, want) in cases {
            let (s, d) = settings(env, *signal);
            assert_eq!(s.endpoint, *want, "{env:?} {signal}");
            assert!(d.is_empty(), "{env:?}: {d}");
        }
    }

    #[test]
    #[cfg_attr(
        all(feature = "otlp-grpc", not(feature = "otlp-http")),
        ignore = "expects the http/protobuf default; this build defaults to grpc"
    )]
    fn invalid_endpoint_falls_back_and_is_reported() {
        let (s, d) = settings(
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
            Signal::Traces,
        );
        assert_eq!(s.endpoint, "http://localhost:4318/v1/traces");
        assert!(d.mentions("OTEL_EXPORTER_OTLP_ENDPOINT"), "{d}");
        let (s, d) = settings(
            &[
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ok:1"),
            ],
            Signal::Traces,
        );
        assert_eq!(s.endpoint, "http://ok:1/v1/traces");
        assert!(d.mentions("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
    }

    #[test]
    fn per_signal_wins_for_every_option() {
        let (s, d) = settings(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
                ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "2000"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
                ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "GZIP"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
                ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "b=2"),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
                ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", "/key.pem"),
                ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/cert.pem"),
            ],
            Signal::Logs,
        );
        assert!(d.is_empty(), "{d}");
        assert_eq!(s.protocol, Protocol::Grpc);
        assert_eq!(s.timeout, Duration::from_millis(2000));
        assert_eq!(s.compression, Compression::Gzip);
        assert_eq!(s.headers, vec![("b".to_string(), "2".to_string())]);
        assert_eq!(
            s.certificate.as_deref(),
            Some(std::path::Path::new("/ca.pem"))
        );
        assert_eq!(
            s.client_key.as_deref(),
            Some(std::path::Path::new("/key.pem"))
        );
        assert_eq!(
            s.client_certificate.as_deref(),
            Some(std::path::Path::new("/cert.pem"))
        );
    }

    #[test]
    fn unset_protocol_is_a_compiled_transport() {
        let (s, d) = settings(&[], Signal::Traces);
        assert!(d.is_empty(), "{d}");
        assert_eq!(s.protocol, Protocol::unset_default());
        assert_eq!(s.protocol_variable, None);
        if cfg!(all(feature = "otlp-grpc", not(feature = "otlp-http"))) {
            assert_eq!(s.protocol, Protocol::Grpc);
            assert_eq!(s.endpoint, "http://localhost:4317");
        } else {
            assert_eq!(s.protocol, Protocol::HttpProtobuf);
            assert_eq!(s.endpoint, "http://localhost:4318/v1/traces");
        }
        let (s, _) = settings(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")], Signal::Logs);
        assert_eq!(
            s.protocol_variable.as_deref(),
            Some("OTEL_EXPORTER_OTLP_PROTOCOL")
        );
    }

    #[test]
    fn invalid_scalars_warn_and_default() {
        let (s, d) = settings(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
                ("OTEL_EXPORTER_OTLP_INSECURE", "yes"),
            ],
            Signal::Traces,
        );
        assert_eq!(s.protocol, Protocol::unset_default());
        assert_eq!(s.timeout, Duration::from_millis(10_000));
        assert_eq!(s.compression, Compression::None);
        assert!(!s.insecure);
        for var in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "OTEL_EXPORTER_OTLP_INSECURE",
        ] {
            assert!(d.mentions(var), "{var} missing from {d}");
        }
        let (s, _) = settings(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "0")], Signal::Traces);
        assert_eq!(s.timeout, parse::NO_LIMIT);
    }

    #[test]
    fn invalid_endpoints_are_reported_without_their_credentials() {
        for (var, raw) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "user:s3cret@collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "ftp://user:s3cret@collector/x",
            ),
        ] {
            let (_, d) = settings(&[(var, raw)], Signal::Traces);
            assert!(d.mentions(var), "{d}");
            assert!(!format!("{d} {d:?}").contains("s3cret"), "{d}");
        }
        let (_, d) = settings(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://user:s3cret@collector"),
            ],
            Signal::Traces,
        );
        assert!(d.mentions("OTEL_EXPORTER_OTLP_ENDPOINT"), "{d}");
        assert!(!format!("{d} {d:?}").contains("s3cret"), "{d}");
        assert_eq!(redact_userinfo("u:p@h:1/x"), "REDACTED@h:1/x");
    }

    #[test]
    fn headers_parse_decode_and_never_leak() {
        let mut d = Diagnostics::default();
        let h = parse_headers(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=s3cr%3Dt, x-tenant = acme ,authorization:Bearer tok,bad name=x,k=%zz,dup=1,DUP=2",
            &mut d,
        );
        assert_eq!(
            h,
            vec![
                ("api-key".to_string(), "s3cr=t".to_string()),
                ("x-tenant".to_string(), "acme".to_string()),
                ("DUP".to_string(), "2".to_string()),
            ]
        );
        assert_eq!(d.len(), 3, "{d}");
        let text = format!("{d}");
        assert!(
            !text.contains("s3cr") && !text.contains("%zz") && !text.contains("tok"),
            "{text}"
        );
        let (s, _) = settings(
            &[("OTEL_EXPORTER_OTLP_HEADERS", "api-key=topsecret")],
            Signal::Traces,
        );
        assert!(!format!("{s:?}").contains("topsecret"));
    }
}
