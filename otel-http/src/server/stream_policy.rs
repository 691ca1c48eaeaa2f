//! The stream policy: a long streamed response (server-sent events, a
//! download of hours) ends its span at a maximum duration or frame count
//! while the stream goes on; the rest is recorded by a summary span when
//! the stream ends.

use std::task::Context as TaskContext;
use std::time::{Duration, Instant, SystemTime};

use otel_kit_core::instrument::Deadline;
use otel_kit_core::opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt};
use otel_kit_core::opentelemetry::{KeyValue, StringValue};
use otel_kit_core::semconv::attribute as sc;

use super::finish::Finisher;

/// `stream.truncated`: the request span ended before its response stream.
pub(crate) const STREAM_TRUNCATED: &str = "stream.truncated";
/// `stream.frames`: data frames sent (at the request span's end; in the
/// summary, in all).
pub(crate) const STREAM_FRAMES: &str = "stream.frames";

/// When the span of a streamed response ends, if before the stream does.
///
/// By default (no policy) the request span lasts until the response body
/// ends, however long that takes. With a policy, the span ends at
/// `max_duration` (since the request started) or at the `max_frames`-th
/// data frame, with `stream.truncated` = `true` and
/// `stream.frames`; the stream continues untouched, and when it ends a
/// `stream {http.route}` span (INTERNAL, child of the request span, started
/// when the request span ended) records the total `stream.frames`,
/// `http.response.body.size` and the body's error, if any. The duration
/// metric still measures the whole response. Nothing is kept per frame.
///
/// `max_duration` holds for an idle stream too: a server-sent-events
/// connection waiting an hour for its next event ends its span at the
/// deadline, not at that event. While the body waits for its next frame, a
/// timer ([`otel_kit_core::instrument::Deadline`]) is polled alongside it;
/// the timer is created only for a policy with a duration, at the first
/// frame the body has to wait for, so a body that is always ready, and
/// every response without such a policy, cost nothing more. The timer needs
/// no runtime (one shared thread wakes the waiting bodies), so the policy
/// works under any executor, Tokio or not.
///
/// ```
/// use std::time::Duration;
/// use otel_kit_http::server::{ServerLayer, StreamPolicy};
///
/// let layer = ServerLayer::builder()
///     .stream_policy(StreamPolicy::new().max_duration(Duration::from_secs(30)).max_frames(1000))
///     .build();
/// # drop(layer);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamPolicy {
    max_duration: Option<Duration>,
    max_frames: Option<u64>,
}

impl StreamPolicy {
    /// No limit (today's behaviour); set one or both.
    pub fn new() -> Self {
        Self::default()
    }

    /// The span ends `max` after the request started, whether frames flow
    /// or the stream waits for its next one.
    pub fn max_duration(mut self, max: Duration) -> Self {
        self.max_duration = Some(max);
        self
    }

    /// The span ends at the `max`-th data frame.
    pub fn max_frames(mut self, max: u64) -> Self {
        self.max_frames = Some(max);
        self
    }

    fn exceeded(&self, started: Instant, frames: u64) -> bool {
        self.max_frames.is_some_and(|m| frames >= m)
            || self.max_duration.is_some_and(|m| started.elapsed() >= m)
    }
}

/// The progress of one response under a policy.
#[derive(Debug)]
pub(crate) struct StreamProgress {
    policy: StreamPolicy,
    started: Instant,
    frames: u64,
    route: Option<StringValue>,
    /// When the request span ended early.
    truncated_at: Option<SystemTime>,
    /// `max_duration`'s timer, from the first time the body waited.
    deadline: Option<Deadline>,
}

impl StreamProgress {
    pub(crate) fn new(policy: StreamPolicy, route: Option<StringValue>) -> Self {
        StreamProgress {
            policy,
            started: Instant::now(),
            frames: 0,
            route,
            truncated_at: None,
            deadline: None,
        }
    }

    /// Whether the request span ended before the stream.
    pub(crate) fn is_truncated(&self) -> bool {
        self.truncated_at.is_some()
    }
}

impl Finisher {
    /// A data frame was sent: ends the span when the policy says so.
    pub(crate) fn on_frame(&mut self) {
        let Some(p) = self.stream.as_mut() else {
            return;
        };
        p.frames += 1;
        if p.truncated_at.is_some() || !p.policy.exceeded(p.started, p.frames) {
            return;
        }
        self.truncate();
    }

    /// The body waits for its next frame: with a `max_duration`, polls its
    /// timer (registering `cx`'s waker) and ends the span at the deadline.
    pub(crate) fn on_pending(&mut self, cx: &mut TaskContext<'_>) {
        let Some(p) = self.stream.as_mut() else {
            return;
        };
        if p.truncated_at.is_some() {
            return;
        }
        let Some(max) = p.policy.max_duration else {
            return;
        };
        let deadline = match &mut p.deadline {
            Some(deadline) => deadline,
            None => {
                // A maximum beyond what `Instant` holds is never reached.
                let Some(at) = p.started.checked_add(max) else {
                    return;
                };
                p.deadline.insert(Deadline::new(at))
            }
        };
        if deadline.poll_elapsed(cx).is_ready() {
            self.truncate();
        }
    }

    /// Ends the request span now, before the stream.
    fn truncate(&mut self) {
        let Some(p) = self.stream.as_mut() else {
            return;
        };
        let now = SystemTime::now();
        p.truncated_at = Some(now);
        p.deadline = None;
        let frames = p.frames;
        if self.recording {
            let span = self.cx.span();
            span.set_attribute(KeyValue::new(STREAM_TRUNCATED, true));
            span.set_attribute(KeyValue::new(STREAM_FRAMES, frames as i64));
            self.end_request_span(Some(now));
        }
    }

    /// The stream ended after its span did: the summary span.
    pub(crate) fn finish_truncated_stream(&self) {
        let Some(p) = self.stream.as_ref() else {
            return;
        };
        let Some(start) = p.truncated_at else {
            return;
        };
        let name = match &p.route {
            Some(r) => format!("stream {}", r.as_str()),
            None => "stream".to_owned(),
        };
        let mut attrs = Vec::with_capacity(4);
        attrs.push(KeyValue::new(STREAM_FRAMES, p.frames as i64));
        attrs.push(KeyValue::new(
            sc::HTTP_RESPONSE_BODY_SIZE,
            self.response_bytes as i64,
        ));
        if let Some(r) = &p.route {
            attrs.push(KeyValue::new(sc::HTTP_ROUTE, r.clone()));
        }
        if let Some(e) = &self.error_type {
            attrs.push(KeyValue::new(sc::ERROR_TYPE, e.to_string()));
        }
        let mut builder = SpanBuilder::from_name(name);
        builder.span_kind = Some(SpanKind::Internal);
        builder.start_time = Some(start);
        builder.attributes = Some(attrs);
        let cx = self.config.tracer.start(builder, &self.cx, |_| {});
        let span = cx.span();
        if let Some(e) = &self.error_type {
            span.set_status(otel_kit_core::opentelemetry::trace::Status::error(
                e.to_string(),
            ));
        }
        span.end();
    }
}
