//! Forwarding of service-mesh headers (`x-request-id` and friends) from a
//! request to the outgoing calls its handler makes.
//!
//! Istio and Envoy keep a trace together only if the application copies a set
//! of headers from every inbound request to every outbound request it makes
//! while handling it. [`ForwardHeadersPropagator`] does that through the
//! ordinary propagation path: on extract it captures the configured headers
//! into the [`Context`] (as [`ForwardedHeaders`]); on inject it writes them
//! back. Outgoing calls made in the request's context (the context of any span
//! started under it) therefore carry them.

use std::sync::Arc;

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
};

use super::b3::B3_FAMILY;
use crate::sampling::with_force_keep;

/// Envoy's request id, always forwarded.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Envoy's force-trace header, the default force-trace header.
pub const ENVOY_FORCE_TRACE_HEADER: &str = "x-envoy-force-trace";

/// At most this many headers can be configured for forwarding.
pub const MAX_FORWARDED_HEADERS: usize = 64;
/// Default cap on a forwarded value, in bytes.
pub const DEFAULT_MAX_VALUE_LEN: usize = 1024;
/// Upper bound for [`ForwardHeadersBuilder::max_value_len`], in bytes.
pub const MAX_VALUE_LEN_LIMIT: usize = 16 * 1024;
/// Longest accepted header name.
const MAX_NAME_LEN: usize = 128;

const TRACE_CONTEXT_FAMILY: [&str; 2] = ["traceparent", "tracestate"];

/// Headers that are never forwarded: credentials (forwarding them would leak
/// them to every downstream service) and connection-specific headers
/// (forwarding them would corrupt the outgoing request).
const FORBIDDEN: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// Named sets of headers that meshes and tracing backends expect to be
/// forwarded (Istio "how to support tracing", Envoy tracing overview).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MeshPreset {
    /// W3C trace context: `traceparent`, `tracestate`.
    TraceContext,
    /// Zipkin B3: `b3`, `x-b3-traceid`, `x-b3-spanid`, `x-b3-parentspanid`,
    /// `x-b3-sampled`, `x-b3-flags`.
    B3,
    /// Lightstep: `x-ot-span-context`.
    Lightstep,
    /// Datadog: `x-datadog-trace-id`, `x-datadog-parent-id`,
    /// `x-datadog-sampling-priority`.
    Datadog,
    /// Apache SkyWalking: `sw8`.
    SkyWalking,
    /// Google Cloud Trace (Stackdriver): `x-cloud-trace-context`, `grpc-trace-bin`.
    Stackdriver,
    /// Envoy's own: `x-client-trace-id`, `x-envoy-force-trace`.
    Envoy,
    /// Everything Istio documents as to be forwarded: [`TraceContext`],
    /// [`B3`], [`Lightstep`], [`Datadog`], [`SkyWalking`], [`Stackdriver`]
    /// (and `x-request-id`, which is always forwarded).
    ///
    /// [`TraceContext`]: MeshPreset::TraceContext
    /// [`B3`]: MeshPreset::B3
    /// [`Lightstep`]: MeshPreset::Lightstep
    /// [`Datadog`]: MeshPreset::Datadog
    /// [`SkyWalking`]: MeshPreset::SkyWalking
    /// [`Stackdriver`]: MeshPreset::Stackdriver
    Istio,
}

impl MeshPreset {
    /// The header names of this preset, in lower case.
    pub fn headers(self) -> &'static [&'static str] {
        match self {
            MeshPreset::TraceContext => &TRACE_CONTEXT_FAMILY,
            MeshPreset::B3 => &B3_FAMILY,
            MeshPreset::Lightstep => &["x-ot-span-context"],
            MeshPreset::Datadog => &[
                "x-datadog-trace-id",
                "x-datadog-parent-id",
                "x-datadog-sampling-priority",
            ],
            MeshPreset::SkyWalking => &["sw8"],
            MeshPreset::Stackdriver => &["x-cloud-trace-context", "grpc-trace-bin"],
            MeshPreset::Envoy => &["x-client-trace-id", ENVOY_FORCE_TRACE_HEADER],
            MeshPreset::Istio => &[
                "traceparent",
                "tracestate",
                "b3",
                "x-b3-traceid",
                "x-b3-spanid",
                "x-b3-parentspanid",
                "x-b3-sampled",
                "x-b3-flags",
                "x-ot-span-context",
                "x-datadog-trace-id",
                "x-datadog-parent-id",
                "x-datadog-sampling-priority",
                "sw8",
                "x-cloud-trace-context",
                "grpc-trace-bin",
            ],
        }
    }
}

/// Why a [`ForwardHeadersBuilder`] configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardHeadersError {
    /// Not an HTTP header name (RFC 9110 token) of 1 to 128 characters.
    #[error("invalid header name {0:?}: expected an HTTP token of 1 to 128 characters")]
    InvalidName(String),
    /// A credential or connection-specific header, which must not be forwarded.
    #[error("header {0:?} must not be forwarded (credential or connection-specific header)")]
    Forbidden(String),
    /// More headers than [`MAX_FORWARDED_HEADERS`].
    #[error("{count} headers configured for forwarding, at most {max} are allowed")]
    TooMany {
        /// Headers configured.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// The headers captured from an inbound request by a
/// [`ForwardHeadersPropagator`], stored in the request's [`Context`].
///
/// Handlers can read them, e.g. to log the request id:
/// `ForwardedHeaders::from_context(&cx).and_then(ForwardedHeaders::request_id)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardedHeaders {
    /// Lower-case name and value, in configuration order, names unique.
    entries: Vec<(Arc<str>, String)>,
}

impl ForwardedHeaders {
    /// The headers captured into `cx`, if any were.
    pub fn from_context(cx: &Context) -> Option<&ForwardedHeaders> {
        cx.get::<ForwardedHeaders>()
    }

    /// The captured value of a header (name compared case-insensitively).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The captured `x-request-id`.
    pub fn request_id(&self) -> Option<&str> {
        self.get(REQUEST_ID_HEADER)
    }

    /// The captured `(name, value)` pairs; names in lower case.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (&**n, v.as_str()))
    }

    /// Number of captured headers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no header was captured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A [`TextMapPropagator`] that forwards mesh headers from the inbound
/// request to the handler's outbound requests.
///
/// * **Extract** reads each configured header (first value, through the
///   carrier's case-insensitive lookup) and stores those present in the
///   context as [`ForwardedHeaders`]. Values that are empty, longer than the
///   configured cap (1024 bytes by default), or not printable ASCII (control
///   characters, non-ASCII) are skipped, never truncated; non-UTF-8 values
///   never reach a propagator. At most [`MAX_FORWARDED_HEADERS`] names are
///   configured, so the captured data is bounded.
///   If the force-trace header (`x-envoy-force-trace` by default, any value)
///   is present, [`ForceKeep`](crate::sampling::ForceKeep) is set too. Any
///   client can send that header: on a public edge service, turn it off with
///   [`ForwardHeadersBuilder::without_force_trace`].
/// * **Inject** writes the captured headers back, names in lower case.
///   The force-trace header is re-sent only when it is in the forwarded set
///   ([`MeshPreset::Envoy`]).
///
/// `x-request-id` is always forwarded (unless explicitly excluded).
///
/// # Headers that another propagator writes
///
/// Trace headers such as `traceparent` or `x-b3-spanid` must *not* be copied
/// verbatim when this service traces: the W3C or B3 propagator writes fresh
/// values naming the current span, and a stale copy would point downstream
/// spans at the wrong parent. Exclude them with
/// [`ForwardHeadersBuilder::exclude_fields_of`] for every other propagator in
/// the composite (or [`exclude`](ForwardHeadersBuilder::exclude)). Exclusion
/// works per family: excluding any B3 header excludes all of `b3`, `x-b3-*`
/// (including `x-b3-parentspanid`, which no propagator writes but which would
/// then be stale), and excluding `traceparent` or `tracestate` excludes both.
/// Excluded headers are neither captured nor written, so the composite order
/// does not matter. Without exclusion the order decides, for carriers whose
/// `set` replaces (`HashMap`, `http::HeaderMap::insert`): the propagator
/// listed last wins.
#[derive(Clone, Debug)]
pub struct ForwardHeadersPropagator {
    names: Vec<Arc<str>>,
    fields: Vec<String>,
    force_trace: Option<String>,
    max_value_len: usize,
}

impl Default for ForwardHeadersPropagator {
    fn default() -> Self {
        Self::new()
    }
}

impl ForwardHeadersPropagator {
    /// Forwards `x-request-id` only, and honours `x-envoy-force-trace`.
    pub fn new() -> Self {
        Self {
            names: vec![Arc::from(REQUEST_ID_HEADER)],
            fields: vec![REQUEST_ID_HEADER.to_owned()],
            force_trace: Some(ENVOY_FORCE_TRACE_HEADER.to_owned()),
            max_value_len: DEFAULT_MAX_VALUE_LEN,
        }
    }

    /// A builder starting from [`new`](Self::new)'s configuration.
    pub fn builder() -> ForwardHeadersBuilder {
        ForwardHeadersBuilder::default()
    }

    /// The header whose presence sets force-keep, if any.
    pub fn force_trace_header(&self) -> Option<&str> {
        self.force_trace.as_deref()
    }

    fn accepts(&self, value: &str) -> bool {
        !value.is_empty()
            && value.len() <= self.max_value_len
            && value
                .bytes()
                .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b))
    }
}

impl TextMapPropagator for ForwardHeadersPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        if let Some(headers) = ForwardedHeaders::from_context(cx) {
            for (name, value) in &headers.entries {
                injector.set(name, value.clone());
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut entries = Vec::new();
        for name in &self.names {
            if let Some(value) = extractor.get(name).filter(|v| self.accepts(v)) {
                entries.push((Arc::clone(name), value.to_owned()));
            }
        }
        let force = self
            .force_trace
            .as_deref()
            .is_some_and(|h| extractor.get(h).is_some());
        let cx = if entries.is_empty() {
            cx.clone()
        } else {
            cx.with_value(ForwardedHeaders { entries })
        };
        if force { with_force_keep(&cx) } else { cx }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

/// Builder of a [`ForwardHeadersPropagator`]. Names are case-insensitive
/// and validated by [`build`](Self::build).
#[derive(Clone, Debug)]
pub struct ForwardHeadersBuilder {
    names: Vec<String>,
    excluded: Vec<String>,
    force_trace: Option<String>,
    max_value_len: usize,
}

impl Default for ForwardHeadersBuilder {
    fn default() -> Self {
        Self {
            names: vec![REQUEST_ID_HEADER.to_owned()],
            excluded: Vec::new(),
            force_trace: Some(ENVOY_FORCE_TRACE_HEADER.to_owned()),
            max_value_len: DEFAULT_MAX_VALUE_LEN,
        }
    }
}

impl ForwardHeadersBuilder {
    /// Also forwards the headers of `preset`.
    pub fn preset(mut self, preset: MeshPreset) -> Self {
        self.names
            .extend(preset.headers().iter().map(|h| (*h).to_owned()));
        self
    }

    /// Also forwards `name`.
    pub fn header(mut self, name: impl Into<String>) -> Self {
        self.names.push(name.into());
        self
    }

    /// Also forwards each of `names`.
    pub fn headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.names.extend(names.into_iter().map(Into::into));
        self
    }

    /// Never forwards `name` (and its family, see [`ForwardHeadersPropagator`]).
    pub fn exclude(mut self, name: impl Into<String>) -> Self {
        self.excluded.push(name.into());
        self
    }

    /// Never forwards the headers `propagator` writes (its
    /// [`fields`](TextMapPropagator::fields)), nor their families.
    pub fn exclude_fields_of(mut self, propagator: &dyn TextMapPropagator) -> Self {
        self.excluded.extend(propagator.fields().map(str::to_owned));
        self
    }

    /// Sets force-keep when `name` is present on extract (instead of
    /// `x-envoy-force-trace`).
    pub fn force_trace_header(mut self, name: impl Into<String>) -> Self {
        self.force_trace = Some(name.into());
        self
    }

    /// No header sets force-keep (for services exposed to untrusted clients).
    pub fn without_force_trace(mut self) -> Self {
        self.force_trace = None;
        self
    }

    /// Skips values longer than `bytes` (default 1024, at most
    /// [`MAX_VALUE_LEN_LIMIT`]; larger values are clamped).
    pub fn max_value_len(mut self, bytes: usize) -> Self {
        self.max_value_len = bytes.min(MAX_VALUE_LEN_LIMIT);
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    /// A name that is not an HTTP token of 1–128 characters, a credential or
    /// connection-specific header, or more than [`MAX_FORWARDED_HEADERS`]
    /// distinct forwarded headers.
    pub fn build(self) -> Result<ForwardHeadersPropagator, ForwardHeadersError> {
        let mut excluded = Vec::with_capacity(self.excluded.len());
        for name in &self.excluded {
            let name = normalize(name)?;
            if B3_FAMILY.contains(&name.as_str()) {
                excluded.extend(B3_FAMILY.iter().map(|h| (*h).to_owned()));
            } else if TRACE_CONTEXT_FAMILY.contains(&name.as_str()) {
                excluded.extend(TRACE_CONTEXT_FAMILY.iter().map(|h| (*h).to_owned()));
            }
            excluded.push(name);
        }
        let mut fields: Vec<String> = Vec::new();
        for name in &self.names {
            let name = normalize(name)?;
            if FORBIDDEN.contains(&name.as_str()) {
                return Err(ForwardHeadersError::Forbidden(name));
            }
            if !excluded.contains(&name) && !fields.contains(&name) {
                fields.push(name);
            }
        }
        if fields.len() > MAX_FORWARDED_HEADERS {
            return Err(ForwardHeadersError::TooMany {
                count: fields.len(),
                max: MAX_FORWARDED_HEADERS,
            });
        }
        let force_trace = self.force_trace.as_deref().map(normalize).transpose()?;
        Ok(ForwardHeadersPropagator {
            names: fields.iter().map(|n| Arc::from(n.as_str())).collect(),
            fields,
            force_trace,
            max_value_len: self.max_value_len,
        })
    }
}

/// Lower-cases a header name after checking it is an RFC 9110 token.
fn normalize(name: &str) -> Result<String, ForwardHeadersError> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(is_tchar) {
        return Err(ForwardHeadersError::InvalidName(name.to_owned()));
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::propagation::TraceContextPropagator;
    use opentelemetry::propagation::TextMapCompositePropagator;
    use opentelemetry::trace::{Span, SpanContext, TraceContextExt, Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

    use super::*;
    use crate::propagation::b3::{B3Encoding, B3Propagator};
    use crate::propagation::jaeger::JaegerPropagator;
    use crate::sampling::is_force_keep;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn carrier(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect()
    }

    fn forward(
        p: &ForwardHeadersPropagator,
        incoming: &HashMap<String, String>,
    ) -> HashMap<String, String> {
        let cx = p.extract_with_context(&Context::new(), incoming);
        let mut out = HashMap::new();
        p.inject_context(&cx, &mut out);
        out
    }

    fn inbound() -> HashMap<String, String> {
        carrier(&[
            ("X-Request-Id", "5f1c-42"),
            ("traceparent", TRACEPARENT),
            ("tracestate", "congo=t61rcWkgMzE"),
            ("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"),
            ("X-B3-TraceId", "4bf92f3577b34da6a3ce929d0e0e4736"),
            ("X-B3-SpanId", "00f067aa0ba902b7"),
            ("X-B3-ParentSpanId", "05e3ac9a4f6e3b90"),
            ("X-B3-Sampled", "1"),
            ("x-ot-span-context", "ot-ctx"),
            ("x-datadog-trace-id", "1234"),
            ("x-datadog-parent-id", "5678"),
            ("x-datadog-sampling-priority", "1"),
            (
                "sw8",
                "1-TRACEID-SEGMENT-3-PARENT-SERVICE-INSTANCE-ENDPOINT",
            ),
            (
                "x-cloud-trace-context",
                "105445aa7843bc8bf206b12000100000/1;o=1",
            ),
            ("grpc-trace-bin", "AABL+S81d7NNpqPOkp0ODkc2AQDwZ6oLqQK3AgE="),
            ("x-client-trace-id", "client-1"),
            ("authorization", "Bearer secret"),
            ("x-unrelated", "nope"),
        ])
    }

    #[test]
    fn default_forwards_only_the_request_id() {
        let p = ForwardHeadersPropagator::new();
        assert_eq!(
            forward(&p, &inbound()),
            carrier(&[("x-request-id", "5f1c-42")])
        );
        assert_eq!(p.fields().collect::<Vec<_>>(), ["x-request-id"]);
        let built = ForwardHeadersPropagator::builder().build().unwrap();
        assert_eq!(built.fields().collect::<Vec<_>>(), ["x-request-id"]);
        assert_eq!(built.force_trace_header(), Some("x-envoy-force-trace"));
    }

    #[test]
    fn presets_forward_their_headers() {
        let incoming = inbound();
        // (preset, headers expected besides x-request-id)
        let cases: [(MeshPreset, &[&str]); 8] = [
            (MeshPreset::TraceContext, &["traceparent", "tracestate"]),
            (
                MeshPreset::B3,
                &[
                    "b3",
                    "x-b3-traceid",
                    "x-b3-spanid",
                    "x-b3-parentspanid",
                    "x-b3-sampled",
                ],
            ),
            (MeshPreset::Lightstep, &["x-ot-span-context"]),
            (
                MeshPreset::Datadog,
                &[
                    "x-datadog-trace-id",
                    "x-datadog-parent-id",
                    "x-datadog-sampling-priority",
                ],
            ),
            (MeshPreset::SkyWalking, &["sw8"]),
            (
                MeshPreset::Stackdriver,
                &["x-cloud-trace-context", "grpc-trace-bin"],
            ),
            (MeshPreset::Envoy, &["x-client-trace-id"]),
            (
                MeshPreset::Istio,
                &[
                    "traceparent",
                    "tracestate",
                    "b3",
                    "x-b3-traceid",
                    "x-b3-spanid",
                    "x-b3-parentspanid",
                    "x-b3-sampled",
                    "x-ot-span-context",
                    "x-datadog-trace-id",
                    "x-datadog-parent-id",
                    "x-datadog-sampling-priority",
                    "sw8",
                    "x-cloud-trace-context",
                    "grpc-trace-bin",
                ],
            ),
        ];
        for (preset, expected) in cases {
            let p = ForwardHeadersPropagator::builder()
                .preset(preset)
                .build()
                .unwrap();
            let out = forward(&p, &incoming);
            let mut want: HashMap<String, String> = expected
                .iter()
                .map(|h| ((*h).to_owned(), incoming[*h].clone()))
                .collect();
            want.insert("x-request-id".into(), "5f1c-42".into());
            assert_eq!(out, want, "{preset:?}");
            assert!(!out.contains_key("authorization"));
        }
    }

    #[test]
    fn custom_headers_are_case_insensitive_and_deduplicated() {
        let p = ForwardHeadersPropagator::builder()
            .header("X-Tenant")
            .headers(["x-tenant", "X-REQUEST-ID", "x-debug-user"])
            .build()
            .unwrap();
        assert_eq!(
            p.fields().collect::<Vec<_>>(),
            ["x-request-id", "x-tenant", "x-debug-user"]
        );
        let incoming = carrier(&[("x-tenant", "acme"), ("x-request-id", "r1")]);
        let cx = p.extract_with_context(&Context::new(), &incoming);
        let fh = ForwardedHeaders::from_context(&cx).unwrap();
        assert_eq!(fh.request_id(), Some("r1"));
        assert_eq!(fh.get("X-Tenant"), Some("acme"));
        assert_eq!(fh.get("x-debug-user"), None);
        assert_eq!(fh.len(), 2);
        assert_eq!(
            fh.iter().collect::<Vec<_>>(),
            [("x-request-id", "r1"), ("x-tenant", "acme")]
        );
    }

    #[test]
    fn skips_bad_values() {
        let p = ForwardHeadersPropagator::builder()
            .header("x-a")
            .max_value_len(8)
            .build()
            .unwrap();
        // (value, forwarded)
        let cases = [
            ("12345678", true),
            ("a b\tc", true),
            ("123456789", false), // too long
            ("", false),
            ("caf\u{e9}", false), // non-ASCII
            ("a\r\nx: y", false), // header injection
            ("a\0", false),
            ("\u{7f}", false),
        ];
        for (value, forwarded) in cases {
            let out = forward(&p, &carrier(&[("x-a", value)]));
            assert_eq!(
                out.get("x-a").map(String::as_str),
                forwarded.then_some(value),
                "{value:?}"
            );
            let cx = p.extract_with_context(&Context::new(), &carrier(&[("x-a", value)]));
            assert_eq!(
                ForwardedHeaders::from_context(&cx).is_some(),
                forwarded,
                "{value:?}"
            );
        }
    }

    #[test]
    fn nothing_captured_leaves_the_context_alone() {
        #[derive(Debug, PartialEq)]
        struct Marker;
        let p = ForwardHeadersPropagator::builder()
            .preset(MeshPreset::Istio)
            .build()
            .unwrap();
        let cx = p.extract_with_context(
            &Context::new().with_value(Marker),
            &carrier(&[("x-other", "1")]),
        );
        assert_eq!(cx.get::<Marker>(), Some(&Marker));
        assert!(ForwardedHeaders::from_context(&cx).is_none());
        assert!(!is_force_keep(&cx));
        let mut out = HashMap::new();
        p.inject_context(&cx, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn force_trace_header_sets_force_keep() {
        // (propagator, headers, force-keep expected)
        let default = ForwardHeadersPropagator::new();
        let custom = ForwardHeadersPropagator::builder()
            .force_trace_header("X-Force-Trace")
            .build()
            .unwrap();
        let off = ForwardHeadersPropagator::builder()
            .without_force_trace()
            .build()
            .unwrap();
        type Case<'a> = (&'a ForwardHeadersPropagator, &'a [(&'a str, &'a str)], bool);
        let cases: [Case<'_>; 7] = [
            (&default, &[("x-envoy-force-trace", "true")], true),
            (&default, &[("X-Envoy-Force-Trace", "")], true),
            (&default, &[("x-force-trace", "1")], false),
            (&default, &[], false),
            (&custom, &[("x-force-trace", "1")], true),
            (&custom, &[("x-envoy-force-trace", "1")], false),
            (&off, &[("x-envoy-force-trace", "1")], false),
        ];
        for (p, headers, expected) in cases {
            let cx = p.extract_with_context(&Context::new(), &carrier(headers));
            assert_eq!(is_force_keep(&cx), expected, "{p:?} {headers:?}");
        }
        assert_eq!(off.force_trace_header(), None);
        // Re-sent only when forwarded (Envoy preset).
        assert!(
            !forward(&default, &carrier(&[("x-envoy-force-trace", "1")]))
                .contains_key("x-envoy-force-trace")
        );
        let envoy = ForwardHeadersPropagator::builder()
            .preset(MeshPreset::Envoy)
            .build()
            .unwrap();
        assert_eq!(
            forward(&envoy, &carrier(&[("x-envoy-force-trace", "1")]))["x-envoy-force-trace"],
            "1"
        );
    }

    #[test]
    fn exclusion_removes_whole_families() {
        let w3c = TraceContextPropagator::new();
        // (propagators excluded, headers still forwarded from the Istio preset)
        let all_b3 = [
            "b3",
            "x-b3-traceid",
            "x-b3-spanid",
            "x-b3-parentspanid",
            "x-b3-sampled",
            "x-b3-flags",
        ];
        let others = [
            "x-request-id",
            "x-ot-span-context",
            "x-datadog-trace-id",
            "x-datadog-parent-id",
            "x-datadog-sampling-priority",
            "sw8",
            "x-cloud-trace-context",
            "grpc-trace-bin",
        ];
        let single = B3Propagator::single();
        let multi = B3Propagator::multi();
        let jaeger = JaegerPropagator::new();
        let cases: [(Vec<&dyn TextMapPropagator>, Vec<&str>); 5] = [
            (
                vec![],
                [&["traceparent", "tracestate"][..], &all_b3, &others].concat(),
            ),
            (vec![&w3c], [&all_b3[..], &others].concat()),
            (
                vec![&single],
                [&["traceparent", "tracestate"][..], &others].concat(),
            ),
            (vec![&multi, &w3c], others.to_vec()),
            (
                vec![&jaeger],
                [&["traceparent", "tracestate"][..], &all_b3, &others].concat(),
            ),
        ];
        for (excluded, expected) in cases {
            let mut b = ForwardHeadersPropagator::builder().preset(MeshPreset::Istio);
            for p in &excluded {
                b = b.exclude_fields_of(*p);
            }
            let p = b.build().unwrap();
            let mut fields: Vec<&str> = p.fields().collect();
            fields.sort_unstable();
            let mut expected = expected;
            expected.sort_unstable();
            assert_eq!(fields, expected, "{excluded:?}");
        }
        let p = ForwardHeadersPropagator::builder()
            .preset(MeshPreset::TraceContext)
            .exclude("TraceState")
            .exclude("x-request-id")
            .build()
            .unwrap();
        assert_eq!(p.fields().count(), 0);
    }

    #[test]
    fn builder_rejects_bad_configuration() {
        let cases: Vec<(ForwardHeadersBuilder, ForwardHeadersError)> = vec![
            (
                ForwardHeadersPropagator::builder().header(""),
                ForwardHeadersError::InvalidName(String::new()),
            ),
            (
                ForwardHeadersPropagator::builder().header("bad name"),
                ForwardHeadersError::InvalidName("bad name".into()),
            ),
            (
                ForwardHeadersPropagator::builder().header("x-a:"),
                ForwardHeadersError::InvalidName("x-a:".into()),
            ),
            (
                ForwardHeadersPropagator::builder().header(":path"),
                ForwardHeadersError::InvalidName(":path".into()),
            ),
            (
                ForwardHeadersPropagator::builder().header("x-é"),
                ForwardHeadersError::InvalidName("x-é".into()),
            ),
            (
                ForwardHeadersPropagator::builder().header("x".repeat(129)),
                ForwardHeadersError::InvalidName("x".repeat(129)),
            ),
            (
                ForwardHeadersPropagator::builder().exclude("a b"),
                ForwardHeadersError::InvalidName("a b".into()),
            ),
            (
                ForwardHeadersPropagator::builder().force_trace_header("a\n"),
                ForwardHeadersError::InvalidName("a\n".into()),
            ),
            (
                ForwardHeadersPropagator::builder().header("Authorization"),
                ForwardHeadersError::Forbidden("authorization".into()),
            ),
            (
                ForwardHeadersPropagator::builder().header("cookie"),
                ForwardHeadersError::Forbidden("cookie".into()),
            ),
            (
                ForwardHeadersPropagator::builder().header("Host"),
                ForwardHeadersError::Forbidden("host".into()),
            ),
            (
                ForwardHeadersPropagator::builder().header("content-length"),
                ForwardHeadersError::Forbidden("content-length".into()),
            ),
            (
                ForwardHeadersPropagator::builder().headers((0..64).map(|i| format!("x-h{i}"))),
                ForwardHeadersError::TooMany {
                    count: 65,
                    max: MAX_FORWARDED_HEADERS,
                },
            ),
        ];
        for (builder, expected) in cases {
            assert_eq!(builder.build().unwrap_err(), expected);
        }
        // 63 custom + x-request-id is exactly the limit; duplicates do not count.
        let p = ForwardHeadersPropagator::builder()
            .headers((0..63).map(|i| format!("x-h{i}")))
            .headers((0..63).map(|i| format!("X-H{i}")))
            .build()
            .unwrap();
        assert_eq!(p.fields().count(), MAX_FORWARDED_HEADERS);
        assert!(
            ForwardHeadersError::Forbidden("cookie".into())
                .to_string()
                .contains("cookie")
        );
    }

    #[test]
    fn max_value_len_is_clamped() {
        let p = ForwardHeadersPropagator::builder()
            .header("x-big")
            .max_value_len(usize::MAX)
            .build()
            .unwrap();
        let ok = "a".repeat(MAX_VALUE_LEN_LIMIT);
        let too_big = "a".repeat(MAX_VALUE_LEN_LIMIT + 1);
        assert_eq!(forward(&p, &carrier(&[("x-big", &ok)])).len(), 1);
        assert!(forward(&p, &carrier(&[("x-big", &too_big)])).is_empty());
        let default = ForwardHeadersPropagator::builder()
            .header("x-big")
            .build()
            .unwrap();
        assert!(
            forward(
                &default,
                &carrier(&[("x-big", &"a".repeat(DEFAULT_MAX_VALUE_LEN + 1))])
            )
            .is_empty()
        );
    }

    /// Deterministic fuzzing: arbitrary values built from the characters that
    /// matter to the parsers never panic any of this module's propagators, and
    /// whatever they extract re-injects.
    #[test]
    fn arbitrary_input_never_panics() {
        const ALPHABET: &[&str] = &[
            "0",
            "1",
            "d",
            "a",
            "f",
            "F",
            "g",
            "-",
            ":",
            "%",
            "%3A",
            "%FF",
            ",",
            " ",
            "\t",
            "+",
            "é",
            "\u{7f}",
            "4bf92f3577b34da6",
            "00f067aa0ba902b7",
            "true",
        ];
        let names = [
            "b3",
            "x-b3-traceid",
            "x-b3-spanid",
            "x-b3-parentspanid",
            "x-b3-sampled",
            "x-b3-flags",
            "uber-trace-id",
            "uberctx-k",
            "uberctx-",
            "x-request-id",
            "x-envoy-force-trace",
        ];
        let mesh = ForwardHeadersPropagator::builder()
            .preset(MeshPreset::Istio)
            .build()
            .unwrap();
        let propagators: [&dyn TextMapPropagator; 4] = [
            &B3Propagator::single(),
            &B3Propagator::multi(),
            &JaegerPropagator::new(),
            &mesh,
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut incoming = HashMap::new();
            for name in names {
                if next() % 3 == 0 {
                    continue;
                }
                let len = next() % 12;
                let value: String = (0..len)
                    .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                    .collect();
                incoming.insert(name.to_owned(), value);
            }
            for p in propagators {
                let cx = p.extract_with_context(&Context::new(), &incoming);
                let mut out = HashMap::new();
                p.inject_context(&cx, &mut out);
                for (k, v) in &out {
                    assert!(
                        v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)),
                        "{p:?} {k}: {v:?}"
                    );
                }
            }
        }
    }

    /// The whole path: inbound headers → composite extract → server span →
    /// client span → composite inject into the outbound request.
    #[test]
    fn handler_outgoing_calls_forward_mesh_headers_with_fresh_trace_headers() {
        let w3c = TraceContextPropagator::new();
        let b3 = B3Propagator::with_encoding(B3Encoding::MultipleHeaders);
        let mesh = ForwardHeadersPropagator::builder()
            .preset(MeshPreset::Istio)
            .preset(MeshPreset::Envoy)
            .exclude_fields_of(&w3c)
            .exclude_fields_of(&b3)
            .build()
            .unwrap();
        // The mesh propagator first: with exclusion, the order does not matter.
        let composite =
            TextMapCompositePropagator::new(vec![Box::new(mesh), Box::new(w3c), Box::new(b3)]);

        let mut incoming = inbound();
        incoming.insert("x-envoy-force-trace".into(), "1".into());
        let server_cx = composite.extract_with_context(&Context::new(), &incoming);
        assert!(is_force_keep(&server_cx));

        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .build();
        let tracer = provider.tracer("mesh-test");
        let server = tracer.start_with_context("GET /orders", &server_cx);
        let handler_cx = server_cx.with_span(server);
        let client = tracer.start_with_context("GET", &handler_cx);
        let client_sc: SpanContext = client.span_context().clone();
        let client_cx = handler_cx.with_span(client);

        let mut outgoing = HashMap::new();
        composite.inject_context(&client_cx, &mut outgoing);

        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let span_id = client_sc.span_id().to_string();
        assert_eq!(
            outgoing["traceparent"],
            format!("00-{trace_id}-{span_id}-01")
        );
        assert_eq!(outgoing["tracestate"], "congo=t61rcWkgMzE");
        assert_eq!(outgoing["x-b3-traceid"], trace_id);
        assert_eq!(outgoing["x-b3-spanid"], span_id);
        assert_eq!(outgoing["x-b3-flags"], "1", "force-trace → debug");
        for stale in ["b3", "x-b3-parentspanid", "x-b3-sampled"] {
            assert!(
                !outgoing.contains_key(stale),
                "{stale} must not be forwarded"
            );
        }
        for forwarded in [
            "x-request-id",
            "x-ot-span-context",
            "x-datadog-trace-id",
            "x-datadog-parent-id",
            "x-datadog-sampling-priority",
            "sw8",
            "x-cloud-trace-context",
            "grpc-trace-bin",
            "x-client-trace-id",
            "x-envoy-force-trace",
        ] {
            assert_eq!(
                outgoing.get(forwarded),
                incoming.get(forwarded),
                "{forwarded}"
            );
        }
        assert!(!outgoing.contains_key("authorization"));
        assert!(!outgoing.contains_key("x-unrelated"));
        assert_eq!(outgoing.len(), 15, "{outgoing:?}");
    }
}
