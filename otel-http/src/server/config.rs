//! What a built [`ServerLayer`](super::ServerLayer) keeps: the resolved
//! shared options and the HTTP-specific ones, read by every step.

use http::request::Parts;
use otel_kit_core::instrument::{ExceptionEvents, Filter, HeaderCapture, Propagation, SpanStarter};
use otel_kit_core::opentelemetry::KeyValue;

use super::metrics::ServerMetrics;
use super::stream_policy::StreamPolicy;
use crate::attributes::KnownMethods;
use crate::redact::Redactor;

pub(crate) type SpanNameFn = dyn Fn(&Parts, Option<&str>) -> String + Send + Sync;
pub(crate) type LabelFn = dyn Fn(&Parts) -> Vec<KeyValue> + Send + Sync;
pub(crate) type DecideFn = dyn Fn(&Parts) -> bool + Send + Sync;

pub(crate) struct ServerConfig {
    pub tracer: SpanStarter,
    pub metrics: Option<ServerMetrics>,
    pub propagation: Propagation,
    pub filter: Option<Box<dyn Filter<Parts>>>,
    pub public_endpoint: Option<Box<DecideFn>>,
    pub span_name: Option<Box<SpanNameFn>>,
    pub span_labeler: Option<Box<LabelFn>>,
    pub metric_labeler: Option<Box<LabelFn>>,
    pub request_headers: HeaderCapture,
    pub response_headers: HeaderCapture,
    pub known_methods: KnownMethods,
    pub redactor: Redactor,
    pub trace_response: bool,
    pub catch_panic: bool,
    pub dup: bool,
    pub sampling_attributes: bool,
    pub metric_server_address: bool,
    pub exceptions: ExceptionEvents,
    pub stream_policy: Option<StreamPolicy>,
}

impl ServerConfig {
    /// Whether the filter lets `parts` be traced (no filter: every request).
    pub(crate) fn traces(&self, parts: &Parts) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(parts))
    }

    /// Whether `parts` is served as a public endpoint (a new root linked to
    /// the incoming context).
    pub(crate) fn is_public(&self, parts: &Parts) -> bool {
        self.public_endpoint
            .as_ref()
            .is_some_and(|decide| decide(parts))
    }

    /// Whether the opt-in body-size histograms (and attributes) are on.
    pub(crate) fn body_sizes(&self) -> bool {
        self.metrics
            .as_ref()
            .is_some_and(|m| m.request_size.is_some())
    }
}
