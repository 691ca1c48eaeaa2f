//! HTTP instrumentation for tower services: server and client layers (axum, hyper, reqwest). Work in progress: see the otel-http issue.
#![forbid(unsafe_code)]
