//! Traced distributed-transaction and resilience patterns: Saga, two-phase commit, retry, circuit breaker. Work in progress: see the otel-patterns issue.
#![forbid(unsafe_code)]
