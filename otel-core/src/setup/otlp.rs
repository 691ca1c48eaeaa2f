//! Building the OTLP exporters of each signal from resolved [`OtlpSettings`].

use crate::config::{
    Compression, Diagnostics, OtlpSettings, Protocol, Signal, TemporalityPreference,
};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use std::collections::HashMap;
use tokio::runtime::Handle;

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

#[cfg(feature = "tls")]
fn tonic_tls(tls: &TlsFiles) -> tonic::transport::ClientTlsConfig {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let mut cfg = ClientTlsConfig::new().with_native_roots();
    if let Some(ca) = &tls.ca {
        cfg = cfg.ca_certificate(Certificate::from_pem(ca));
    }
    if let Some((cert, key)) = &tls.identity {
        cfg = cfg.identity(Identity::from_pem(cert, key));
    }
    cfg
}

fn http_client(
    s: &OtlpSettings,
    tls: &TlsFiles,
    signal: Signal,
    diag: &mut Diagnostics,
) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().timeout(s.timeout);
    #[cfg(feature = "tls")]
    {
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
    }
    #[cfg(not(feature = "tls"))]
    if tls.ca.is_some() || tls.identity.is_some() {
        diag.push(
            format!("OTEL_EXPORTER_OTLP_[{}_]CERTIFICATE", signal.env_infix()),
            "<file>",
            "otel-core was built without its `tls` feature",
            "TLS files ignored",
        );
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

fn metadata(s: &OtlpSettings) -> tonic::metadata::MetadataMap {
    let mut md = tonic::metadata::MetadataMap::new();
    for (k, v) in &s.headers {
        let key = k.to_ascii_lowercase();
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(v.as_str()),
        ) {
            md.insert(k, v);
        }
    }
    md
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
    ($builder:expr, $s:expr, $signal:expr, $rt:expr, $diag:expr) => {{
        let s: &OtlpSettings = $s;
        let tls = read_tls(s, $signal, $diag);
        match s.protocol {
            Protocol::Grpc => {
                let _entered = $rt.enter();
                let mut b = $builder
                    .with_tonic()
                    .with_endpoint(s.endpoint.clone())
                    .with_timeout(s.timeout)
                    .with_metadata(metadata(s));
                if let Some(c) = otlp_compression(s) {
                    b = b.with_compression(c);
                }
                #[cfg(feature = "tls")]
                if s.endpoint.starts_with("https://") {
                    b = b.with_tls_config(tonic_tls(&tls));
                }
                #[cfg(not(feature = "tls"))]
                let _ = &tls;
                b.build().map_err(|e| e.to_string())
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                let client = http_client(s, &tls, $signal, $diag)?;
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
                    .with_http_client(client)
                    .with_headers(s.headers.iter().cloned().collect::<HashMap<_, _>>());
                if let Some(c) = otlp_compression(s) {
                    b = b.with_compression(c);
                }
                b.build().map_err(|e| e.to_string())
            }
        }
    }};
}

pub(crate) fn span_exporter(
    s: &OtlpSettings,
    rt: &Handle,
    diag: &mut Diagnostics,
) -> Result<opentelemetry_otlp::SpanExporter, String> {
    build_exporter!(
        opentelemetry_otlp::SpanExporter::builder(),
        s,
        Signal::Traces,
        rt,
        diag
    )
}

pub(crate) fn log_exporter(
    s: &OtlpSettings,
    rt: &Handle,
    diag: &mut Diagnostics,
) -> Result<opentelemetry_otlp::LogExporter, String> {
    build_exporter!(
        opentelemetry_otlp::LogExporter::builder(),
        s,
        Signal::Logs,
        rt,
        diag
    )
}

pub(crate) fn metric_exporter(
    s: &OtlpSettings,
    temporality: TemporalityPreference,
    rt: &Handle,
    diag: &mut Diagnostics,
) -> Result<opentelemetry_otlp::MetricExporter, String> {
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
        diag
    )
}
