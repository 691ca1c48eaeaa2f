//! Attribute, metric and event names (one constant per name, from the
//! semantic conventions crate where it has them).
#![allow(deprecated)]

use otel_kit_core::semconv::{attribute as a, metric as m};

pub(crate) const RPC_SYSTEM_NAME: &str = a::RPC_SYSTEM_NAME;
pub(crate) const RPC_METHOD: &str = a::RPC_METHOD;
pub(crate) const RPC_METHOD_ORIGINAL: &str = a::RPC_METHOD_ORIGINAL;
pub(crate) const RPC_RESPONSE_STATUS_CODE: &str = a::RPC_RESPONSE_STATUS_CODE;
pub(crate) const SERVER_ADDRESS: &str = a::SERVER_ADDRESS;
pub(crate) const SERVER_PORT: &str = a::SERVER_PORT;
pub(crate) const NETWORK_PEER_ADDRESS: &str = a::NETWORK_PEER_ADDRESS;
pub(crate) const NETWORK_PEER_PORT: &str = a::NETWORK_PEER_PORT;
pub(crate) const ERROR_TYPE: &str = a::ERROR_TYPE;
pub(crate) const HTTP_REQUEST_RESEND_COUNT: &str = a::HTTP_REQUEST_RESEND_COUNT;

/// Prefix of captured request metadata attributes.
pub const REQUEST_METADATA_PREFIX: &str = "rpc.request.metadata.";
/// Prefix of captured response metadata attributes.
pub const RESPONSE_METADATA_PREFIX: &str = "rpc.response.metadata.";

// Old (≤ v1.37) names, emitted only with `OTEL_SEMCONV_STABILITY_OPT_IN=rpc/dup`.
pub(crate) const RPC_SYSTEM: &str = a::RPC_SYSTEM;
pub(crate) const RPC_SERVICE: &str = a::RPC_SERVICE;
pub(crate) const RPC_GRPC_STATUS_CODE: &str = a::RPC_GRPC_STATUS_CODE;
pub(crate) const RPC_MESSAGE_EVENT: &str = "rpc.message";
/// The project's `stream.truncated` (`semconv/model/registry/stream.yaml`).
pub(crate) const STREAM_TRUNCATED: &str = "stream.truncated";
pub(crate) const RPC_MESSAGE_TYPE: &str = a::RPC_MESSAGE_TYPE;
pub(crate) const RPC_MESSAGE_ID: &str = a::RPC_MESSAGE_ID;
pub(crate) const RPC_MESSAGE_COMPRESSED_SIZE: &str = a::RPC_MESSAGE_COMPRESSED_SIZE;
pub(crate) const RPC_MESSAGE_UNCOMPRESSED_SIZE: &str = a::RPC_MESSAGE_UNCOMPRESSED_SIZE;

pub(crate) const RPC_SERVER_CALL_DURATION: &str = m::RPC_SERVER_CALL_DURATION;
pub(crate) const RPC_CLIENT_CALL_DURATION: &str = m::RPC_CLIENT_CALL_DURATION;
pub(crate) const RPC_SERVER_DURATION: &str = m::RPC_SERVER_DURATION;
pub(crate) const RPC_CLIENT_DURATION: &str = m::RPC_CLIENT_DURATION;

/// `rpc.system.name` / `rpc.system` value.
pub(crate) const GRPC: &str = "grpc";
