//! The state of one traced connection, from the `101` to the close: its
//! upgrade span, message counters, sampler, and the spans of its messages
//! and of its close.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use otel_kit_core::instrument::{ErrorRecord, record_error, type_error_type};
use otel_kit_core::opentelemetry::trace::{
    Link, SpanBuilder, SpanContext, SpanKind, TraceContextExt, TraceFlags,
};
use otel_kit_core::opentelemetry::{Context, KeyValue};

use super::close::{ABNORMAL, CloseEvent, bounded_reason};
use super::envelope;
use super::instrumentation::WsConfig;
use super::message::{MessageKind, WsMessage};
use super::message_span::{MessageSpan, TracedMessage};
use super::names;
use super::sampling::MessageSampler;
use super::side::Side;

/// The direction of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Receive,
    Send,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Receive => "receive",
            Direction::Send => "send",
        }
    }
}

/// One connection's instrumentation state.
pub(crate) struct Connection {
    config: Arc<WsConfig>,
    side: Side,
    /// The upgrade span (ended at `101`).
    upgrade: SpanContext,
    /// `http.route` (server) or `url.template` (client).
    route: Option<KeyValue>,
    receive_name: Cow<'static, str>,
    send_name: Cow<'static, str>,
    close_name: Cow<'static, str>,
    sampler: MessageSampler,
    received: u64,
    sent: u64,
    untraced: u64,
    opened: Instant,
    closed: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("side", &self.side)
            .field("received", &self.received)
            .field("sent", &self.sent)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection opened after the upgrade span `upgrade`; `route` is
    /// the route template (server) or URL template (client).
    pub(crate) fn open(
        config: Arc<WsConfig>,
        side: Side,
        upgrade: SpanContext,
        route: Option<KeyValue>,
    ) -> Self {
        let name = |op: &'static str| match &route {
            Some(r) => Cow::Owned(format!("{op} {}", r.value.as_str())),
            None => Cow::Borrowed(op),
        };
        let (receive_name, send_name, close_name) = (name("receive"), name("send"), name("close"));
        let sampler = MessageSampler::new(
            config.sampling,
            config.per_second,
            &upgrade,
            config.clock.now(),
        );
        if let Some(m) = config.metrics(side) {
            m.opened(route.as_slice());
        }
        Connection {
            config,
            side,
            upgrade,
            route,
            receive_name,
            send_name,
            close_name,
            sampler,
            received: 0,
            sent: 0,
            untraced: 0,
            opened: Instant::now(),
            closed: false,
        }
    }

    /// The parent of the connection's own spans: the upgrade span with
    /// `messages_in_upgrade_trace`, else none (a new trace linked to it).
    fn base_parent(&self) -> Context {
        if self.config.in_upgrade_trace && self.upgrade.is_valid() {
            Context::new().with_remote_span_context(self.upgrade.clone())
        } else {
            Context::new()
        }
    }

    /// The context of a message without a span of its own: the upgrade
    /// span's context, marked unsampled, so what the handler calls is
    /// not sampled either (under a parent-based sampler).
    fn untraced_context(&self) -> Context {
        if !self.upgrade.is_valid() {
            return Context::new();
        }
        let u = &self.upgrade;
        let flags = u.trace_flags() & !TraceFlags::SAMPLED;
        Context::new().with_remote_span_context(SpanContext::new(
            u.trace_id(),
            u.span_id(),
            flags,
            true,
            u.trace_state().clone(),
        ))
    }

    fn links(&self) -> Option<Vec<Link>> {
        (self.upgrade.is_valid() && !self.config.in_upgrade_trace)
            .then(|| vec![Link::with_context(self.upgrade.clone())])
    }

    /// Counts a message and starts its span: data messages only, when the
    /// sampler admits it. A received message's span is a new root (or a
    /// child of the upgrade span); a sent one is a child of the current
    /// span when there is one (the received message being handled).
    fn message(
        &mut self,
        direction: Direction,
        kind: MessageKind,
        size: usize,
        text: Option<&str>,
    ) -> MessageSpan {
        if let Some(m) = self.config.metrics(self.side) {
            m.message(self.route.as_ref(), direction.as_str(), kind.as_str(), size);
        }
        let untraced = |this: &Self| MessageSpan {
            cx: match direction {
                Direction::Receive => this.untraced_context(),
                Direction::Send => Context::new(),
            },
            recording: false,
        };
        if !kind.is_data() || self.closed {
            return untraced(self);
        }
        let sequence = match direction {
            Direction::Receive => {
                self.received += 1;
                self.received
            }
            Direction::Send => {
                self.sent += 1;
                self.sent
            }
        };
        let parent = match direction {
            Direction::Receive => match text
                .filter(|_| self.config.envelope)
                .and_then(envelope::extract)
            {
                // The sender's context, from the message's envelope.
                Some(sender) => Context::new().with_remote_span_context(sender),
                None => self.base_parent(),
            },
            Direction::Send => {
                let current = Context::current();
                if !current.has_active_span() {
                    self.base_parent()
                } else if current.span().span_context().is_sampled() {
                    current
                } else {
                    // Sent while handling an untraced message: no span, and
                    // no token spent on one.
                    self.untraced += 1;
                    return untraced(self);
                }
            }
        };
        if !self.config.message_spans || !self.sampler.admit(self.config.clock.now()) {
            self.untraced += 1;
            return untraced(self);
        }
        let (name, span_kind) = match direction {
            Direction::Receive => (self.receive_name.clone(), SpanKind::Consumer),
            Direction::Send => (self.send_name.clone(), SpanKind::Producer),
        };
        let mut attrs = Vec::with_capacity(4);
        attrs.push(KeyValue::new(names::MESSAGE_TYPE, kind.as_str()));
        attrs.push(KeyValue::new(names::MESSAGE_SIZE, size as i64));
        attrs.push(KeyValue::new(names::MESSAGE_SEQUENCE, sequence as i64));
        if let Some(r) = &self.route {
            attrs.push(r.clone());
        }
        let mut builder = SpanBuilder::from_name(name);
        builder.span_kind = Some(span_kind);
        builder.attributes = Some(attrs);
        builder.links = self.links();
        let mut recording = false;
        let cx = self
            .config
            .tracer
            .start(builder, &parent, |_| recording = true);
        if !recording {
            self.untraced += 1;
        }
        MessageSpan { cx, recording }
    }

    /// Records the close (once): the `close` span with the code, reason,
    /// initiator and the connection's totals (an error for an abnormal
    /// close), the duration and active-connection metrics.
    pub(crate) fn close(&mut self, event: CloseEvent<'_>) {
        if self.closed {
            return;
        }
        self.closed = true;
        if let Some(m) = self.config.metrics(self.side) {
            m.closed(
                self.route.as_slice(),
                self.opened.elapsed().as_secs_f64(),
                event.error_type.as_deref(),
            );
        }
        let mut attrs = Vec::with_capacity(8);
        attrs.push(KeyValue::new(names::CLOSE_CODE, i64::from(event.code)));
        let reason = bounded_reason(event.reason);
        if !reason.is_empty() {
            attrs.push(KeyValue::new(names::CLOSE_REASON, reason.to_owned()));
        }
        if let Some(side) = event.initiator {
            attrs.push(KeyValue::new(names::CLOSE_INITIATOR, side.as_str()));
        }
        attrs.push(KeyValue::new(
            names::RECEIVED_MESSAGES,
            self.received as i64,
        ));
        attrs.push(KeyValue::new(names::SENT_MESSAGES, self.sent as i64));
        attrs.push(KeyValue::new(
            names::UNTRACED_MESSAGES,
            self.untraced as i64,
        ));
        if let Some(r) = &self.route {
            attrs.push(r.clone());
        }
        let mut builder = SpanBuilder::from_name(self.close_name.clone());
        builder.span_kind = Some(SpanKind::Internal);
        builder.attributes = Some(attrs);
        builder.links = self.links();
        builder.start_time = Some(SystemTime::now());
        let cx = self
            .config
            .tracer
            .start(builder, &self.base_parent(), |_| {});
        let span = cx.span();
        if let Some(error_type) = event.error_type {
            record_error(
                &span,
                &ErrorRecord {
                    error_type,
                    message: (!reason.is_empty()).then(|| Cow::Owned(reason.to_owned())),
                    exception: event.exception,
                },
            );
        }
        span.end();
    }

    /// The connection went away without a close frame (`1006`): the
    /// transport ended (`initiator`: the peer) or the socket was dropped
    /// (this side).
    pub(crate) fn close_abnormal(&mut self, initiator: Side, error_type: Option<&'static str>) {
        let mut event = CloseEvent::with_code(ABNORMAL, "", Some(initiator));
        if let Some(e) = error_type {
            event.error_type = Some(Cow::Borrowed(e));
            event.exception = true;
        }
        self.close(event);
    }
}

impl Connection {
    /// What the stream yielded: a message gets its span (a close frame
    /// records the close, by the peer unless this side closed first); an
    /// error or the end of the stream is an abnormal close.
    pub(crate) fn on_received<M: WsMessage, E>(
        &mut self,
        item: Option<Result<M, E>>,
    ) -> Option<Result<TracedMessage<M>, E>> {
        let peer = self.side.peer();
        match item {
            Some(Ok(message)) => {
                let kind = message.kind();
                if kind == MessageKind::Close {
                    let (code, reason) = message.close_frame().unwrap_or((1005, ""));
                    self.close(CloseEvent::with_code(code, reason, Some(peer)));
                }
                let span = self.message(
                    Direction::Receive,
                    kind,
                    message.payload_len(),
                    message.text(),
                );
                Some(Ok(TracedMessage::new(message, span)))
            }
            Some(Err(e)) => {
                self.close_abnormal(peer, Some(type_error_type::<E>()));
                Some(Err(e))
            }
            None => {
                self.close_abnormal(peer, None);
                None
            }
        }
    }

    /// Before `message` is written: a close message records the close (by
    /// this side); the `send` span starts.
    pub(crate) fn before_send<M: WsMessage>(&mut self, message: &M) -> MessageSpan {
        let kind = message.kind();
        if kind == MessageKind::Close {
            let (code, reason) = message.close_frame().unwrap_or((1005, ""));
            self.close(CloseEvent::with_code(code, reason, Some(self.side)));
        }
        self.message(Direction::Send, kind, message.payload_len(), None)
    }

    /// After the write: a failure marks the span failed and, the connection
    /// being unusable, records an abnormal close; the span ends.
    pub(crate) fn after_send<E>(&mut self, span: MessageSpan, failed: bool) {
        if failed {
            let error_type = type_error_type::<E>();
            span.fail(error_type);
            if !self.closed {
                self.close_abnormal(self.side, Some(error_type));
            }
        }
        drop(span);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.closed {
            let side = self.side;
            self.close_abnormal(side, None);
        }
    }
}
