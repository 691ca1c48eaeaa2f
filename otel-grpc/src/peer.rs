//! `network.peer.address` / `network.peer.port` of a call: the other end of
//! the connection, as the RPC conventions recommend it.
//!
//! - Server: the connection tonic's transport put in the request extensions:
//!   `TcpConnectInfo::remote_addr` (IP and port), or for a Unix domain socket
//!   `UdsConnectInfo::peer_addr` when the client's socket has a path (client
//!   sockets are usually unnamed: then nothing). Needs the `connect-info`
//!   feature (on by default). A TLS server (`Server::tls_config`) gets the
//!   same: tonic puts the TCP connect info in the extensions next to the
//!   TLS one. A server behind another transport gets no peer attributes.
//! - Client: the layer never sees the socket, so the peer is the
//!   [target](crate::LayerBuilder::target) when it is an IP literal
//!   (`http://10.0.0.7:50051`, `[::1]:50051`); a target that is a name is
//!   resolved by the channel and its peer stays unknown: no attributes.

use std::net::IpAddr;

use otel_kit_core::opentelemetry::KeyValue;

use crate::names;
use crate::target::ServerAddress;

/// The peer of a call's connection.
pub(crate) enum Peer {
    /// An IP peer and its port, when known.
    Ip(IpAddr, Option<u16>),
    /// A Unix domain socket peer with a path.
    #[cfg(all(unix, feature = "connect-info"))]
    Unix(String),
}

impl Peer {
    /// Server: the peer tonic's transport recorded for the connection.
    #[cfg(feature = "connect-info")]
    pub(crate) fn of_connection(extensions: &http::Extensions) -> Option<Peer> {
        use tonic::transport::server::TcpConnectInfo;
        if let Some(tcp) = extensions.get::<TcpConnectInfo>() {
            return tcp
                .remote_addr()
                .map(|addr| Peer::Ip(addr.ip().to_canonical(), Some(addr.port())));
        }
        #[cfg(unix)]
        if let Some(uds) = extensions.get::<tonic::transport::server::UdsConnectInfo>() {
            return uds
                .peer_addr
                .as_ref()
                .and_then(|addr| addr.as_pathname())
                .map(|path| Peer::Unix(path.display().to_string()));
        }
        None
    }

    /// Server without the `connect-info` feature: unknown.
    #[cfg(not(feature = "connect-info"))]
    pub(crate) fn of_connection(_extensions: &http::Extensions) -> Option<Peer> {
        None
    }

    /// Client: the target, when it is an IP literal.
    pub(crate) fn of_target(server: &ServerAddress) -> Option<Peer> {
        server
            .address()
            .parse::<IpAddr>()
            .ok()
            .map(|ip| Peer::Ip(ip, server.port()))
    }

    /// Appends `network.peer.address` (and `network.peer.port`).
    pub(crate) fn attributes(self, out: &mut Vec<KeyValue>) {
        match self {
            Peer::Ip(ip, port) => {
                out.push(KeyValue::new(names::NETWORK_PEER_ADDRESS, ip.to_string()));
                if let Some(port) = port {
                    out.push(KeyValue::new(names::NETWORK_PEER_PORT, i64::from(port)));
                }
            }
            #[cfg(all(unix, feature = "connect-info"))]
            Peer::Unix(path) => out.push(KeyValue::new(names::NETWORK_PEER_ADDRESS, path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(peer: Option<Peer>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(p) = peer {
            p.attributes(&mut out);
        }
        out.into_iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect()
    }

    #[test]
    fn client_peer_only_from_ip_literal_targets() {
        let v4 = ServerAddress::parse("http://10.0.0.7:50051");
        assert_eq!(
            attrs(Peer::of_target(&v4)),
            [
                ("network.peer.address".into(), "10.0.0.7".into()),
                ("network.peer.port".into(), "50051".into())
            ]
        );
        let v6 = ServerAddress::parse("ipv6:[::1]:50051");
        assert_eq!(attrs(Peer::of_target(&v6))[0].1, "::1");
        assert!(Peer::of_target(&ServerAddress::parse("dns:///orders:50051")).is_none());
        assert!(Peer::of_target(&ServerAddress::parse("unix:///run/x.sock")).is_none());
    }

    #[cfg(feature = "connect-info")]
    #[test]
    fn server_peer_from_tcp_connect_info() {
        let mut ext = http::Extensions::new();
        assert!(Peer::of_connection(&ext).is_none());
        ext.insert(tonic::transport::server::TcpConnectInfo {
            local_addr: None,
            remote_addr: Some("[::ffff:127.0.0.1]:4000".parse().unwrap()),
        });
        assert_eq!(
            attrs(Peer::of_connection(&ext)),
            [
                ("network.peer.address".into(), "127.0.0.1".into()),
                ("network.peer.port".into(), "4000".into())
            ]
        );
    }
}
