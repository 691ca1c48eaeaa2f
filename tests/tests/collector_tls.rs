//! OTLP to the collector over TLS, configured only through the standard
//! variables: `OTEL_EXPORTER_OTLP_CERTIFICATE` (the CA to trust) and, for
//! mutual TLS, `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` / `_CLIENT_KEY`.
//!
//! The certificates are generated here (rcgen); a small TLS-terminating
//! proxy (tokio-rustls) sits in front of rotel's plain gRPC and HTTP ports.
//! Proven: spans arrive over gRPC and HTTPS with a custom CA and with mTLS;
//! a wrong CA fails with an error that says it is the certificate; an mTLS
//! endpoint rejects an exporter without a client certificate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use otel_kit_core::Telemetry;
use otel_kit_core::config::Environment;
use otel_kit_core::opentelemetry::trace::{Span as _, Tracer as _};
use otel_tests::collector::Collector;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const WAIT: Duration = Duration::from_secs(20);

/// A CA, a server certificate for 127.0.0.1 signed by it, a client
/// certificate signed by it, and an unrelated CA; PEM files in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = KeyPair::generate().expect("key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "otel-tests CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().expect("key");
        let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
            .expect("params")
            .signed_by(&server_key, &issuer)
            .expect("server certificate");

        let client_key = KeyPair::generate().expect("key");
        let mut client_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        client_params
            .distinguished_name
            .push(DnType::CommonName, "otel-tests exporter");
        let client = client_params
            .signed_by(&client_key, &issuer)
            .expect("client certificate");

        let other_key = KeyPair::generate().expect("key");
        let mut other_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        other_params
            .distinguished_name
            .push(DnType::CommonName, "some other CA");
        let other = other_params.self_signed(&other_key).expect("other CA");

        let write = |name: &str, text: String| {
            std::fs::write(dir.path().join(name), text).expect("write PEM");
        };
        write("ca.pem", ca.pem());
        write("other-ca.pem", other.pem());
        write("client.pem", client.pem());
        write("client-key.pem", client_key.serialize_pem());
        Pki {
            ca_der: ca.der().clone(),
            server_der: server.der().clone(),
            server_key: server_key.serialize_der(),
            dir,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A TLS-terminating TCP proxy on a free port in front of `upstream`;
/// handshake errors are recorded.
struct TlsProxy {
    port: u16,
    handshake_errors: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_proxy(
    pki: &Pki,
    upstream: u16,
    alpn: &[&[u8]],
    require_client_cert: bool,
) -> TlsProxy {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).expect("CA");
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(
            vec![pki.server_der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone())),
        )
        .expect("server config");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handshake_errors = Arc::new(Mutex::new(Vec::new()));
    let errors = handshake_errors.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let errors = errors.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        if let Ok(mut up) =
                            tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                        {
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                        }
                    }
                    Err(e) => errors.lock().unwrap().push(e.to_string()),
                }
            });
        }
    });
    TlsProxy {
        port,
        handshake_errors,
        task,
    }
}

/// Exports one span named `name` through `port` with the given TLS files;
/// returns the shutdown result and the export stats.
async fn export_one(
    protocol: &str,
    port: u16,
    name: &str,
    ca: &Path,
    client: Option<(&Path, &Path)>,
) -> (Result<(), String>, otel_kit_core::ExportStats) {
    let endpoint = format!("https://127.0.0.1:{port}");
    let mut env = vec![
        ("OTEL_SERVICE_NAME".to_string(), "tls".to_string()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL".into(), protocol.into()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT".into(), "3000".into()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE".into(),
            ca.display().to_string(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "600000".into()),
        ("OTEL_METRICS_EXPORTER".into(), "none".into()),
        ("OTEL_LOGS_EXPORTER".into(), "none".into()),
    ];
    if let Some((cert, key)) = client {
        env.push((
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE".into(),
            cert.display().to_string(),
        ));
        env.push((
            "OTEL_EXPORTER_OTLP_CLIENT_KEY".into(),
            key.display().to_string(),
        ));
    }
    let telemetry = Telemetry::builder()
        .environment(Environment::from_pairs(env))
        .install_global(false)
        .strict(true)
        .install()
        .unwrap_or_else(|e| panic!("{protocol}: TLS setup: {e}"));
    telemetry.tracer("tls").start(name.to_string()).end();
    let stats_before = telemetry.export_stats();
    assert_eq!(stats_before.spans_failed, 0);
    // Shut down on a thread of its own and read the stats from the guard
    // afterwards: `shutdown` consumes it, so flush first.
    let telemetry = tokio::task::spawn_blocking(move || {
        let r = telemetry.force_flush().map_err(|e| e.to_string());
        (r, telemetry)
    })
    .await
    .expect("flush");
    let (result, telemetry) = telemetry;
    let stats = telemetry.export_stats();
    let shutdown = telemetry.shutdown().await.map_err(|e| e.to_string());
    (result.and(shutdown), stats)
}

fn ports(collector: &Collector, protocol: &str) -> (u16, &'static [&'static [u8]]) {
    if protocol == "grpc" {
        (collector.grpc_port(), &[b"h2"])
    } else {
        (collector.http_port(), &[b"http/1.1"])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_arrive_over_tls_with_a_custom_ca() {
    let pki = Pki::new();
    let collector = Collector::start();
    let mut expected = 0;
    for protocol in ["grpc", "http/protobuf"] {
        let (upstream, alpn) = ports(&collector, protocol);
        let proxy = tls_proxy(&pki, upstream, alpn, false).await;
        let name = format!("over TLS {protocol}");
        let (result, stats) =
            export_one(protocol, proxy.port, &name, &pki.file("ca.pem"), None).await;
        assert_eq!(result, Ok(()), "{protocol}: {stats:?}");
        expected += 1;
        let spans = collector.wait_for_spans_async(expected, WAIT).await;
        assert!(
            spans.iter().any(|s| s.name == name),
            "{protocol}: {spans:?}"
        );
        assert!(
            proxy.handshake_errors.lock().unwrap().is_empty(),
            "{protocol}: {:?}",
            proxy.handshake_errors.lock().unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_with_a_certificate_error() {
    let pki = Pki::new();
    let collector = Collector::start();
    for protocol in ["grpc", "http/protobuf"] {
        let (upstream, alpn) = ports(&collector, protocol);
        let proxy = tls_proxy(&pki, upstream, alpn, false).await;
        let (result, stats) = export_one(
            protocol,
            proxy.port,
            "never",
            &pki.file("other-ca.pem"),
            None,
        )
        .await;
        assert!(result.is_err(), "{protocol}: {result:?}");
        assert_eq!(stats.spans_failed, 1, "{protocol}: {stats:?}");
        let error = stats.first_error.clone().unwrap_or_default();
        assert!(
            error.to_ascii_lowercase().contains("certificate"),
            "{protocol}: the error should name the certificate problem: {error}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(collector.spans().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_accepts_the_client_certificate_and_rejects_its_absence() {
    let pki = Pki::new();
    let collector = Collector::start();
    let mut expected = 0;
    for protocol in ["grpc", "http/protobuf"] {
        let (upstream, alpn) = ports(&collector, protocol);
        let proxy = tls_proxy(&pki, upstream, alpn, true).await;

        let name = format!("over mTLS {protocol}");
        let (result, stats) = export_one(
            protocol,
            proxy.port,
            &name,
            &pki.file("ca.pem"),
            Some((&pki.file("client.pem"), &pki.file("client-key.pem"))),
        )
        .await;
        assert_eq!(result, Ok(()), "{protocol}: {stats:?}");
        expected += 1;
        let spans = collector.wait_for_spans_async(expected, WAIT).await;
        assert!(
            spans.iter().any(|s| s.name == name),
            "{protocol}: {spans:?}"
        );

        let (result, stats) = export_one(
            protocol,
            proxy.port,
            "no client cert",
            &pki.file("ca.pem"),
            None,
        )
        .await;
        assert!(
            result.is_err(),
            "{protocol}: accepted without a client certificate"
        );
        assert_eq!(stats.spans_failed, 1, "{protocol}: {stats:?}");
        let errors = proxy.handshake_errors.lock().unwrap().clone();
        assert!(
            errors
                .iter()
                .any(|e| e.to_ascii_lowercase().contains("certificate")),
            "{protocol}: the server should have refused the handshake for want of a client \
             certificate: {errors:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !collector.spans().iter().any(|s| s.name == "no client cert"),
        "a span got through without a client certificate"
    );
}
