//! In-memory capture of spans and metrics for tests (in progress).
