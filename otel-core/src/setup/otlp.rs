//! Building the OTLP exporters of each signal from resolved [`OtlpSettings`].
//!
//! Each transport is behind its cargo feature: gRPC (tonic) behind
//! `otlp-grpc`, HTTP (reqwest; protobuf and JSON) behind `otlp-http`. A
//! protocol whose feature is off is a diagnostic naming the variable that
//! asked for it and the feature, never a panic.

use super::runtime::RuntimeHandle;
use super::span_pipeline::SpanPipeline;
use crate::config::{
    Compression, Diagnostics, OtlpSettings, Protocol, Signal, TemporalityPreference,
};
use opentelemetry_otlp::WithExportConfig;
#[cfg(feature = "otlp-http")]
use opentelemetry_otlp::WithHttpConfig;
#[cfg(feature = "otlp-grpc")]
use opentelemetry_otlp::WithTonicConfig;
use std::sync::Arc;

/// Why a signal's OTLP exporter was not built.
#[derive(Debug)]
pub(crate) enum ExporterError {
    /// The configured protocol's cargo feature is off; the diagnostic saying
    /// so is already recorded.
    TransportMissing,
    /// The exporter (or its HTTP client) could not be built.
    Build(String),
}

/// Records that `s.protocol` cannot be used: otel-kit-core was built without the
/// feature of that transport.
fn transport_missing(s: &OtlpSettings, signal: Signal, diag: &mut Diagnostics) -> ExporterError {
    let compiled: Vec<&str> = [Protocol::Grpc, Protocol::HttpProtobuf, Protocol::HttpJson]
        .into_iter()
        .filter(|p| transport_compiled(*p))
        .map(Protocol::as_str)
        .collect();
    diag.push(
        s.protocol_variable
            .clone()
            .unwrap_or_else(|| "OTEL_EXPORTER_OTLP_PROTOCOL".into()),
        s.protocol.as_str(),
        format!(
            "otel-kit-core was built without its `{}` cargo feature",
            s.protocol.cargo_feature()
        ),
        format!(
            "{signal} are not exported over OTLP (enable the feature, or use {})",
            compiled.join(" or ")
        ),
    );
    ExporterError::TransportMissing
}

/// Whether this build can export over `protocol`.
fn transport_compiled(protocol: Protocol) -> bool {
    match protocol {
        Protocol::Grpc => cfg!(feature = "otlp-grpc"),
        Protocol::HttpProtobuf | Protocol::HttpJson => cfg!(feature = "otlp-http"),
    }
}

/// TLS material read from the configured PEM files.
#[derive(Default)]
struct TlsFiles {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

fn read_tls(s: &OtlpSettings, signal: Signal, diag: &mut Diagnostics) -> TlsFiles {
    let read =
        |diag: &mut Diagnostics, suffix: &str, path: &std::path::Path| match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                diag.push(
                    format!("OTEL_EXPORTER_OTLP_[{}_]{suffix}", signal.env_infix()),
                    path.display().to_string(),
                    format!("cannot read the file: {e}"),
                    "TLS file ignored",
                );
                None
            }
        };
    let mut out = TlsFiles::default();
    if let Some(p) = &s.certificate {
        out.ca = read(diag, "CERTIFICATE", p);
    }
    match (&s.client_certificate, &s.client_key) {
        (Some(c), Some(k)) => {
            if let (Some(c), Some(k)) = (
                read(diag, "CLIENT_CERTIFICATE", c),
                read(diag, "CLIENT_KEY", k),
            ) {
                out.identity = Some((c, k));
            }
        }
        (Some(c), None) | (None, Some(c)) => diag.push(
            format!(
                "OTEL_EXPORTER_OTLP_[{}_]CLIENT_KEY/CLIENT_CERTIFICATE",
                signal.env_infix()
            ),
            c.display().to_string(),
            "mTLS needs both the client key and the client certificate",
            "client authentication disabled",
        ),
        (None, None) => {}
    }
    out
}

#[cfg(all(feature = "tls", feature = "otlp-grpc"))]
fn tonic_tls(tls: &TlsFiles) -> tonic::transport::ClientTlsConfig {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    // The system roots only when no CA file is configured: tonic fails when
    // asked for native roots on a system without any (distroless images).
    let mut cfg = match &tls.ca {
        Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)),
        None => ClientTlsConfig::new().with_native_roots(),
    };
    if let Some((cert, key)) = &tls.identity {
        cfg = cfg.identity(Identity::from_pem(cert, key));
    }
    cfg
}

/// The channel to an `https://` gRPC endpoint, with [`tonic_tls`]. Built here
/// rather than with opentelemetry-otlp's `with_tls_config`: that method only
/// exists with opentelemetry-otlp's own TLS features, which enable tonic even
/// in a build that exports over HTTP only.
#[cfg(all(feature = "tls", feature = "otlp-grpc"))]
fn tls_channel(s: &OtlpSettings, tls: &TlsFiles) -> Result<tonic::transport::Channel, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(s.endpoint.clone())
        .map_err(|e| format!("invalid endpoint: {e}"))?;
    let endpoint = endpoint.tls_config(tonic_tls(tls)).map_err(|e| {
        let mut text = e.to_string();
        let mut next = std::error::Error::source(&e);
        while let Some(cause) = next {
            text = format!("{text}: {cause}");
            next = cause.source();
        }
        format!("invalid TLS configuration: {text}")
    })?;
    Ok(endpoint.timeout(s.timeout).connect_lazy())
}

#[cfg(feature = "otlp-http")]
fn http_client(
    s: &OtlpSettings,
    tls: &TlsFiles,
    signal: Signal,
    diag: &mut Diagnostics,
) -> Result<reqwest::Client, String> {
    let b = reqwest::Client::builder().timeout(s.timeout);
    #[cfg(feature = "tls")]
    let b = {
        let mut b = b;
        if let Some(ca) = &tls.ca {
            match reqwest::Certificate::from_pem(ca) {
                Ok(c) => b = b.add_root_certificate(c),
                Err(e) => diag.push(
                    format!("OTEL_EXPORTER_OTLP_[{}_]CERTIFICATE", signal.env_infix()),
                    s.certificate
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    format!("not a PEM certificate: {e}"),
                    "file ignored",
                ),
            }
        }
        if let Some((cert, key)) = &tls.identity {
            let mut pem = cert.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key);
            match reqwest::Identity::from_pem(&pem) {
                Ok(id) => b = b.identity(id),
                Err(e) => diag.push(
                    format!(
                        "OTEL_EXPORTER_OTLP_[{}_]CLIENT_KEY/CLIENT_CERTIFICATE",
                        signal.env_infix()
                    ),
                    s.client_certificate
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    format!("not a PEM key and certificate: {e}"),
                    "client authentication disabled",
                ),
            }
        }
        b
    };
    #[cfg(not(feature = "tls"))]
    if tls.ca.is_some() || tls.identity.is_some() {
        diag.push(
            format!("OTEL_EXPORTER_OTLP_[{}_]CERTIFICATE", signal.env_infix()),
            "<file>",
            "otel-kit-core was built without its `tls` feature",
            "TLS files ignored",
        );
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Names of the headers opentelemetry-otlp reads from the *process*
/// environment (`OTEL_EXPORTER_OTLP_[SIGNAL_]HEADERS`) and merges over the
/// ones given in code. The exporters below remove them again before sending,
/// so exactly the resolved headers (environment snapshot plus builder) go out.
fn process_env_header_names(signal: Signal) -> Vec<http::HeaderName> {
    let specific = format!("OTEL_EXPORTER_OTLP_{}_HEADERS", signal.env_infix());
    let raw = std::env::var(&specific)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_HEADERS").ok())
        .unwrap_or_default();
    raw.split(',')
        .filter_map(|m| m.split_once('='))
        .filter_map(|(k, _)| {
            http::HeaderName::from_bytes(k.trim().to_ascii_lowercase().as_bytes()).ok()
        })
        .collect()
}

/// The exact header set of one signal's exporter requests.
#[derive(Clone, Debug, Default)]
struct ExactHeaders {
    remove: Vec<http::HeaderName>,
    set: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl ExactHeaders {
    fn new(s: &OtlpSettings, signal: Signal) -> Self {
        let set = s
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).ok()?,
                    http::HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        ExactHeaders {
            remove: process_env_header_names(signal),
            set,
        }
    }

    fn apply(&self, headers: &mut http::HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// The reqwest client with [`ExactHeaders`] applied to every request. A
/// transport error's cause (refused connection, TLS failure) is handed to the
/// span pipeline: the OTLP exporter reduces it to "network error".
#[cfg(feature = "otlp-http")]
#[derive(Debug)]
struct HttpClientWithHeaders {
    client: reqwest::Client,
    headers: ExactHeaders,
    errors: Option<Arc<SpanPipeline>>,
}

/// The cause chain of a transport error, without the request URL (it may
/// carry credentials).
#[cfg(feature = "otlp-http")]
fn transport_error_detail(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut next = error.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() {
        if let Some(e) = error.downcast_ref::<reqwest::Error>() {
            return if e.is_timeout() {
                "timed out".into()
            } else {
                "transport error".into()
            };
        }
        return crate::config::redact_userinfo(&error.to_string()).into_owned();
    }
    parts.join(": ")
}

#[cfg(feature = "otlp-http")]
#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for HttpClientWithHeaders {
    async fn send_bytes(
        &self,
        mut request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        self.headers.apply(request.headers_mut());
        let result = self.client.send_bytes(request).await;
        if let (Err(e), Some(errors)) = (&result, &self.errors) {
            errors.set_transport_error(transport_error_detail(e.as_ref()));
        }
        result
    }
}

/// A tonic interceptor applying [`ExactHeaders`] as gRPC metadata (it runs
/// after the exporter has added the process environment's headers).
#[cfg(feature = "otlp-grpc")]
fn metadata_interceptor(
    headers: ExactHeaders,
) -> impl tonic::service::Interceptor + Clone + Send + Sync + 'static {
    let headers = std::sync::Arc::new(headers);
    move |mut req: tonic::Request<()>| {
        let mut map = std::mem::take(req.metadata_mut()).into_headers();
        headers.apply(&mut map);
        *req.metadata_mut() = tonic::metadata::MetadataMap::from_headers(map);
        Ok(req)
    }
}

fn otlp_compression(s: &OtlpSettings) -> Option<opentelemetry_otlp::Compression> {
    match s.compression {
        Compression::Gzip => Some(opentelemetry_otlp::Compression::Gzip),
        Compression::None => None,
    }
}

/// Builds one signal's OTLP exporter. `$builder` is e.g.
/// `opentelemetry_otlp::SpanExporter::builder()`; tonic exporters are built
/// with the export runtime entered so their channel lives there.
macro_rules! build_exporter {
    ($builder:expr, $s:expr, $signal:expr, $rt:expr, $diag:expr, $errors:expr) => {{
        let s: &OtlpSettings = $s;
        #[cfg_attr(not(feature = "otlp-grpc"), allow(unused_variables))]
        let rt: &RuntimeHandle = $rt;
        #[cfg_attr(not(feature = "otlp-http"), allow(unused_variables))]
        let errors: Option<Arc<SpanPipeline>> = $errors;
        if !transport_compiled(s.protocol) {
            return Err(transport_missing(s, $signal, $diag));
        }
        let tls = read_tls(s, $signal, $diag);
        match s.protocol {
            #[cfg(feature = "otlp-grpc")]
            Protocol::Grpc => {
                let _entered = rt.enter();
                let mut b = $builder
                    .with_tonic()
                    .with_endpoint(s.endpoint.clone())
                    .with_timeout(s.timeout)
                    .with_interceptor(metadata_interceptor(ExactHeaders::new(s, $signal)));
                if let Some(c) = otlp_compression(s) {
                    b = b.with_compression(c);
                }
                let https = s
                    .endpoint
                    .get(..8)
                    .is_some_and(|p| p.eq_ignore_ascii_case("https://"));
                #[cfg(feature = "tls")]
                if https {
                    b = b.with_channel(tls_channel(s, &tls).map_err(ExporterError::Build)?);
                }
                #[cfg(not(feature = "tls"))]
                if https {
                    return Err(ExporterError::Build(
                        "the endpoint is https:// but otel-kit-core was built without its `tls` feature"
                            .into(),
                    ));
                }
                if !https && (tls.ca.is_some() || tls.identity.is_some()) {
                    $diag.push(
                        format!("OTEL_EXPORTER_OTLP_[{}_]CERTIFICATE", $signal.env_infix()),
                        crate::config::redact_userinfo(&s.endpoint).into_owned(),
                        "TLS files are set but the gRPC endpoint is not https://",
                        "TLS files ignored",
                    );
                }
                #[cfg(not(feature = "tls"))]
                let _ = &tls;
                b.build().map_err(|e| ExporterError::Build(e.to_string()))
            }
            #[cfg(feature = "otlp-http")]
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                let client = http_client(s, &tls, $signal, $diag).map_err(ExporterError::Build)?;
                let protocol = if s.protocol == Protocol::HttpJson {
                    opentelemetry_otlp::Protocol::HttpJson
                } else {
                    opentelemetry_otlp::Protocol::HttpBinary
                };
                let mut b = $builder
                    .with_http()
                    .with_endpoint(s.endpoint.clone())
                    .with_protocol(protocol)
                    .with_timeout(s.timeout)
                    .with_http_client(HttpClientWithHeaders {
                        client,
                        headers: ExactHeaders::new(s, $signal),
                        errors,
                    });
                if let Some(c) = otlp_compression(s) {
                    b = b.with_compression(c);
                }
                b.build().map_err(|e| ExporterError::Build(e.to_string()))
            }
            #[allow(unreachable_patterns, reason = "a transport whose feature is off")]
            _ => Err(transport_missing(s, $signal, $diag)),
        }
    }};
}

pub(crate) fn span_exporter(
    s: &OtlpSettings,
    rt: &RuntimeHandle,
    diag: &mut Diagnostics,
    pipeline: &Arc<SpanPipeline>,
) -> Result<opentelemetry_otlp::SpanExporter, ExporterError> {
    build_exporter!(
        opentelemetry_otlp::SpanExporter::builder(),
        s,
        Signal::Traces,
        rt,
        diag,
        Some(pipeline.clone())
    )
}

pub(crate) fn log_exporter(
    s: &OtlpSettings,
    rt: &RuntimeHandle,
    diag: &mut Diagnostics,
) -> Result<opentelemetry_otlp::LogExporter, ExporterError> {
    build_exporter!(
        opentelemetry_otlp::LogExporter::builder(),
        s,
        Signal::Logs,
        rt,
        diag,
        None
    )
}

pub(crate) fn metric_exporter(
    s: &OtlpSettings,
    temporality: TemporalityPreference,
    rt: &RuntimeHandle,
    diag: &mut Diagnostics,
) -> Result<opentelemetry_otlp::MetricExporter, ExporterError> {
    use opentelemetry_sdk::metrics::Temporality;
    let t = match temporality {
        TemporalityPreference::Cumulative => Temporality::Cumulative,
        TemporalityPreference::Delta => Temporality::Delta,
        TemporalityPreference::LowMemory => Temporality::LowMemory,
    };
    build_exporter!(
        opentelemetry_otlp::MetricExporter::builder().with_temporality(t),
        s,
        Signal::Metrics,
        rt,
        diag,
        None
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;

    #[test]
    fn a_protocol_without_its_feature_names_variable_value_and_feature() {
        let env = Environment::from_pairs([("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]);
        let mut diag = Diagnostics::default();
        let s = OtlpSettings::from_env(&env, &mut diag, Signal::Traces);
        assert!(diag.is_empty(), "{diag}");
        let e = transport_missing(&s, Signal::Traces, &mut diag);
        assert!(matches!(e, ExporterError::TransportMissing));
        let d = diag.iter().next().expect("a diagnostic");
        assert_eq!(d.variable, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
        assert_eq!(d.value, "grpc");
        assert!(d.problem.contains("`otlp-grpc` cargo feature"), "{d}");
        assert!(d.action.starts_with("traces are not exported"), "{d}");
    }

    #[test]
    fn exact_headers_replace_what_the_process_environment_added() {
        let headers = ExactHeaders {
            remove: vec![
                http::HeaderName::from_static("x-api-key"),
                http::HeaderName::from_static("x-env-only"),
            ],
            set: vec![(
                http::HeaderName::from_static("x-api-key"),
                http::HeaderValue::from_static("from-code"),
            )],
        };
        let mut map = http::HeaderMap::new();
        map.insert("x-api-key", http::HeaderValue::from_static("from-env"));
        map.insert("x-env-only", http::HeaderValue::from_static("leak"));
        map.insert(
            "content-type",
            http::HeaderValue::from_static("application/x-protobuf"),
        );
        headers.apply(&mut map);
        assert_eq!(map.get("x-api-key").unwrap(), "from-code");
        assert!(map.get("x-env-only").is_none());
        assert_eq!(map.get("content-type").unwrap(), "application/x-protobuf");
    }
}
