//! The span attributes of the request beyond method and scheme: URL,
//! server and client addresses, user agent, protocol, body size, captured
//! headers, the builder's `span_attributes`.

use std::sync::Arc;

use http::request::Parts;
use otel_kit_core::opentelemetry::{KeyValue, Value};
use otel_kit_core::semconv::attribute as sc;

use super::config::ServerConfig;
use super::request::peer_of;
use crate::attributes::{RequestHeaders, old, protocol_version, string_kv};
use crate::content_length::content_length;

/// Appends the request's attributes (built only for a recording span, or
/// for the sampler with `sampling_attributes`).
pub(crate) fn request_attributes(
    config: &ServerConfig,
    parts: &Parts,
    headers: &RequestHeaders<'_>,
    out: &mut Vec<KeyValue>,
) {
    headers.prefetch();
    let dup = config.dup;
    let path = parts.uri.path();
    out.push(string_kv(sc::URL_PATH, path));
    if let Some(q) = parts.uri.query() {
        let q = config.redactor.redact_query(q);
        if dup {
            out.push(KeyValue::new(old::HTTP_TARGET, format!("{path}?{q}")));
        }
        out.push(KeyValue::new(sc::URL_QUERY, q.into_owned()));
    } else if dup {
        out.push(string_kv(old::HTTP_TARGET, path));
    }
    if let Some((host, port)) = headers.server_host(&parts.uri) {
        out.push(string_kv(sc::SERVER_ADDRESS, host));
        if dup {
            out.push(string_kv(old::NET_HOST_NAME, host));
        }
        if let Some(port) = port {
            out.push(KeyValue::new(sc::SERVER_PORT, i64::from(port)));
            if dup {
                out.push(KeyValue::new(old::NET_HOST_PORT, i64::from(port)));
            }
        }
    }
    let peer = peer_of(parts);
    // The peer's IP is formatted once and shared by the attributes using it.
    let peer_ip: Option<Arc<str>> = peer.map(|p| Arc::from(p.ip().to_string()));
    if let (Some(peer), Some(ip)) = (peer, &peer_ip) {
        out.push(KeyValue::new(
            sc::NETWORK_PEER_ADDRESS,
            Value::from(Arc::clone(ip)),
        ));
        out.push(KeyValue::new(sc::NETWORK_PEER_PORT, i64::from(peer.port())));
        if dup {
            out.push(KeyValue::new(
                old::NET_SOCK_PEER_ADDR,
                Value::from(Arc::clone(ip)),
            ));
            out.push(KeyValue::new(
                old::NET_SOCK_PEER_PORT,
                i64::from(peer.port()),
            ));
        }
    }
    let client: Option<Value> = match headers.client() {
        Some(c) => Some(Value::from(c.to_owned())),
        None => peer_ip.map(Value::from),
    };
    if let Some(client) = client {
        if dup {
            out.push(KeyValue::new(old::HTTP_CLIENT_IP, client.clone()));
        }
        out.push(KeyValue::new(sc::CLIENT_ADDRESS, client));
    }
    if let Some(ua) = headers.user_agent() {
        out.push(string_kv(sc::USER_AGENT_ORIGINAL, ua));
    }
    if let Some(v) = protocol_version(parts.version) {
        out.push(KeyValue::new(sc::NETWORK_PROTOCOL_VERSION, v));
        if dup {
            out.push(KeyValue::new(old::NET_PROTOCOL_VERSION, v));
            out.push(KeyValue::new(old::NET_PROTOCOL_NAME, "http"));
        }
    }
    if config.body_sizes()
        && let Some(len) = content_length(&parts.headers)
    {
        out.push(KeyValue::new(sc::HTTP_REQUEST_BODY_SIZE, len as i64));
        if dup {
            out.push(KeyValue::new(old::HTTP_REQUEST_CONTENT_LENGTH, len as i64));
        }
    }
    if !config.request_headers.is_empty() {
        config.request_headers.capture_into(&parts.headers, out);
    }
    if let Some(labeler) = &config.span_labeler {
        out.extend(labeler(parts));
    }
}
