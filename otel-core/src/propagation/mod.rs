//! Propagators (W3C trace context and baggage, B3, Jaeger, mesh header forwarding) and context helpers.
//!
//! - [`TraceContextPropagator`] and [`BaggagePropagator`]: W3C Trace Context
//!   Level 2 and W3C Baggage, implementing OpenTelemetry's `TextMapPropagator`.
//! - [`TraceParent`]: the allocation-free `traceparent` codec behind the
//!   propagator, for layers that read or write the header directly.
//! - [`RawTraceState`]: the received `tracestate` list, byte-exact, when it
//!   has Level 2 keys OpenTelemetry's `TraceState` refuses (kept in the
//!   `Context` by the propagator and sent on).
//! - [`RandomTraceIdGenerator`]: the setup's id generator; traces it starts
//!   go out with the Level 2 `random-trace-id` flag.
//! - Carriers: [`HeaderExtractor`] / [`HeaderInjector`] over `http::HeaderMap`,
//!   [`MapExtractor`] / [`MapInjector`] over any string map.
//! - Helpers over the global propagator: [`inject`], [`extract`],
//!   [`extract_with`], [`inject_headers`], [`extract_headers`];
//!   [`spawn_in_current_context`]; [`baggage_get`] / [`baggage_set`].

mod allow_list;
mod baggage;
mod carrier;
mod context;
pub(crate) mod hex;
mod random_trace_id;
mod raw_trace_state;
mod trace_context;

pub use allow_list::HostAllowList;
pub use baggage::{
    BAGGAGE_HEADER, BaggagePropagator, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBER_BYTES,
    MAX_BAGGAGE_MEMBERS, format_baggage, parse_baggage,
};
pub use carrier::{
    HeaderExtractor, HeaderInjector, MapExtractor, MapInjector, StringMap, StringMapMut,
};
pub use context::{
    baggage_get, baggage_set, extract, extract_headers, extract_with, inject, inject_headers,
    spawn_in_current_context, spawn_with_context,
};
pub use random_trace_id::{RandomTraceIdGenerator, started_here_with_random_id};
pub use raw_trace_state::RawTraceState;
pub use trace_context::{
    MAX_TRACESTATE_HEADER_LEN, MAX_TRACESTATE_MEMBER_KEEP_LEN, MAX_TRACESTATE_MEMBERS,
    TRACEPARENT_HEADER, TRACESTATE_HEADER, TraceContextPropagator, TraceParent, TraceParentBuf,
    format_tracestate, parse_tracestate,
};

mod b3;
mod jaeger;
mod mesh;

pub use b3::{B3Encoding, B3Propagator};
pub use jaeger::JaegerPropagator;
pub use mesh::{
    DEFAULT_MAX_VALUE_LEN, ENVOY_FORCE_TRACE_HEADER, ForwardHeadersBuilder, ForwardHeadersError,
    ForwardHeadersPropagator, ForwardedHeaders, MAX_FORWARDED_HEADERS, MAX_VALUE_LEN_LIMIT,
    MeshPreset, REQUEST_ID_HEADER,
};
