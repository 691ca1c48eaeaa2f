//! `network.peer.address` / `network.peer.port` over a real loopback
//! connection: the server reads tonic's `TcpConnectInfo`, the client uses
//! its target when that is an IP literal.

mod support;

use std::time::Duration;

use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::testing::{Capture, CapturedSpan};
use support::*;

async fn wait_kind(capture: &Capture, kind: SpanKind) -> CapturedSpan {
    for _ in 0..1000 {
        if let Some(span) = capture.find(|s| s.kind() == kind) {
            return span;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no {kind:?} span: {:?}", capture.spans());
}

#[tokio::test]
async fn server_and_client_spans_name_their_peer() {
    let capture = Capture::new();
    let (addr, mut client) = pair(&capture).await;
    client.unary(req("x")).await.unwrap();
    let s = wait_kind(&capture, SpanKind::Server).await;
    let c = wait_kind(&capture, SpanKind::Client).await;
    // The server's peer is the client's socket: loopback, an ephemeral port
    // (from tonic's connect info: feature `connect-info`).
    if cfg!(feature = "connect-info") {
        s.assert_attr("network.peer.address", "127.0.0.1");
        let client_port = s.attr_i64("network.peer.port").expect("peer port");
        assert!(client_port > 0 && client_port != i64::from(addr.port()));
    } else {
        s.assert_no_attr("network.peer.address");
    }
    // The client's peer is its IP-literal target.
    c.assert_attr("network.peer.address", "127.0.0.1")
        .assert_attr("network.peer.port", i64::from(addr.port()));
}

#[tokio::test]
async fn a_client_target_by_name_has_no_peer() {
    let capture = Capture::new();
    let addr = serve(server_builder(&capture).build()).await;
    let layer = client_builder(&capture, addr)
        .target(&format!("http://localhost:{}", addr.port()))
        .build();
    let mut client = connect(addr, layer).await;
    client.unary(req("x")).await.unwrap();
    let c = wait_kind(&capture, SpanKind::Client).await;
    c.assert_attr("server.address", "localhost")
        .assert_no_attr("network.peer.address")
        .assert_no_attr("network.peer.port");
}

/// A TLS server (`Server::tls_config`): tonic puts the TCP connect info in
/// the extensions next to the TLS one, so the peer is the same.
#[cfg(feature = "connect-info")]
#[tokio::test]
async fn a_tls_server_names_its_peer() {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, ServerTlsConfig};
    use tower::ServiceBuilder;

    // More than one rustls provider is compiled into the workspace's tests.
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let capture = Capture::new();
    let tls = ServerTlsConfig::new().identity(Identity::from_pem(&cert_pem, &key_pem));
    let addr = serve_tls(server_builder(&capture).build(), tls).await;
    let channel = Channel::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&cert_pem))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = EchoClient::new(ServiceBuilder::new().service(channel));
    client.unary(req("x")).await.unwrap();
    let s = wait_kind(&capture, SpanKind::Server).await;
    s.assert_attr("network.peer.address", "127.0.0.1");
    let client_port = s.attr_i64("network.peer.port").expect("peer port");
    assert!(client_port > 0 && client_port != i64::from(addr.port()));
}
