//! Propagators (W3C trace context and baggage, B3, Jaeger, mesh header forwarding) and context helpers.

pub(crate) mod hex;
