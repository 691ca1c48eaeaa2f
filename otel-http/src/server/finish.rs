//! Step 6: the end of a traced request. [`Finisher`] holds the request's
//! state from the span's start to the end of the response body; dropping
//! it ends the span and records the metrics, whatever path the request
//! took (response sent, error, cancellation, panic unwinding).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use http::request::Parts;
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::semconv::attribute as sc;

use super::config::ServerConfig;
use super::metrics::{Outcome, RequestMetrics};
use super::request::Incoming;
use super::stream_policy::StreamProgress;
use crate::attributes::old;

/// The per-request state from the start to the end of the response body.
pub(crate) struct Finisher {
    pub(super) config: Arc<ServerConfig>,
    pub(super) cx: Context,
    pub(super) recording: bool,
    /// The metric state (metrics on).
    metrics: Option<RequestMetrics>,
    pub(super) status: Option<u16>,
    pub(super) error_type: Option<Cow<'static, str>>,
    pub(crate) response_bytes: u64,
    /// The stream policy's progress (a policy is set).
    pub(super) stream: Option<StreamProgress>,
}

impl Finisher {
    /// Takes over the request's context (holding its span, `recording` or
    /// not) and starts its metrics (`active_requests` +1).
    pub(crate) fn start(
        config: &Arc<ServerConfig>,
        (cx, recording): (Context, bool),
        parts: &Parts,
        incoming: &Incoming<'_>,
    ) -> Self {
        let metrics = config
            .metrics
            .as_ref()
            .map(|m| RequestMetrics::start(config, m, parts, incoming));
        let stream = config.stream_policy.map(|policy| {
            StreamProgress::new(policy, incoming.route.as_ref().map(|r| r.value.clone()))
        });
        Finisher {
            stream,
            config: Arc::clone(config),
            recording,
            cx,
            metrics,
            status: None,
            error_type: None,
            response_bytes: 0,
        }
    }

    /// The request's context (with its span).
    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// Records the metrics, sets the span's last attributes and ends it
    /// (a span that does not record has nothing to end).
    fn finish(&mut self) {
        if let (Some(metrics), Some(state)) = (&self.config.metrics, self.metrics.as_mut()) {
            state.record(
                metrics,
                &Outcome {
                    status: self.status,
                    error_type: self.error_type.as_ref(),
                    response_bytes: self.response_bytes,
                },
            );
        }
        if !self.recording {
            // Ending a span that records nothing does nothing (no processor
            // sees it): skip the lock of the shared span.
            return;
        }
        if self
            .stream
            .as_ref()
            .is_some_and(StreamProgress::is_truncated)
        {
            self.finish_truncated_stream();
            return;
        }
        self.end_request_span(None);
    }

    /// Sets the response size attributes and ends the request span, at
    /// `at` when given (the cut of a truncated stream, where its summary
    /// span starts), else now.
    pub(super) fn end_request_span(&self, at: Option<SystemTime>) {
        let span = self.cx.span();
        if self
            .config
            .metrics
            .as_ref()
            .is_some_and(|m| m.response_size.is_some())
        {
            span.set_attribute(KeyValue::new(
                sc::HTTP_RESPONSE_BODY_SIZE,
                self.response_bytes as i64,
            ));
            if self.config.dup {
                span.set_attribute(KeyValue::new(
                    old::HTTP_RESPONSE_CONTENT_LENGTH,
                    self.response_bytes as i64,
                ));
            }
        }
        match at {
            Some(at) => span.end_with_timestamp(at),
            None => span.end(),
        }
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        self.finish();
    }
}
