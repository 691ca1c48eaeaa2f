//! gRPC instrumentation for tonic clients and servers. Work in progress: see the otel-grpc issue.
#![forbid(unsafe_code)]
