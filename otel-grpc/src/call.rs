//! One instrumented call, as named steps: [`traced`] (the filter),
//! [`extract`] (server: the caller's context from the metadata, on top of
//! the current context), [`name`] and [`attributes`] (the span),
//! [`Call::start`] (starts the span with the core's `SpanStarter`),
//! [`inject`] (client: the context into the metadata),
//! [`Call::attach`] (the span as current context while the inner service
//! runs), and [`Call::finish`] (status, span end, duration) or
//! [`Call::fail`] (an error raised instead of a status: an exception).
//! Dropping an unfinished call finishes it as `CANCELLED`.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::Context as TaskContext;
use std::time::SystemTime;

use http::HeaderMap;
use otel_kit_core::instrument::{
    Deadline, ErrorRecord, ResendCount, record_exception, type_error_type,
};
use otel_kit_core::opentelemetry::trace::{Link, SpanBuilder, SpanKind, TraceContextExt};
use otel_kit_core::opentelemetry::{Context, ContextGuard, KeyValue, StringValue, Value};
use otel_kit_core::propagation::{HeaderExtractor, HeaderInjector};
use tonic::{Code, Status};

use crate::BoxError;
use crate::config::{DurationKey, Shared, Side};
use crate::method::MethodInfo;
use crate::names;
use crate::peer::Peer;
use crate::status::{code_name, is_client_error, is_server_error};
use crate::target::ServerAddress;

pub(crate) struct Call {
    shared: Arc<Shared>,
    pub cx: Context,
    /// One clock read for both the span's start and the duration metric.
    start: SystemTime,
    method: MethodInfo,
    server: Option<ServerAddress>,
    sent: MessageCounter,
    received: MessageCounter,
    /// What is left of the call's message-event cap.
    budget: EventBudget,
    /// When the span was ended early (`max_span_duration`).
    truncated_at: Option<SystemTime>,
    /// `max_span_duration`'s timer, from the first time the call waited.
    deadline: Option<Deadline>,
    done: bool,
}

/// The message events a call may still record: shared by the call and its
/// request body (`None`: events are off).
#[derive(Clone, Debug, Default)]
pub(crate) struct EventBudget(Option<Arc<AtomicU32>>);

impl EventBudget {
    fn new(shared: &Shared) -> Self {
        match shared.message_event_cap {
            Some(cap) => EventBudget(Some(Arc::new(AtomicU32::new(cap)))),
            None if shared.dup => EventBudget(Some(Arc::new(AtomicU32::new(u32::MAX)))),
            None => EventBudget(None),
        }
    }

    /// Whether events are recorded at all.
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Takes one event from the budget.
    pub(crate) fn take(&self) -> bool {
        self.0.as_ref().is_some_and(|left| {
            left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        })
    }
}

/// Step 1: whether the call to `path` is traced (the builder's filter).
pub(crate) fn traced(shared: &Shared, path: &str) -> bool {
    match &shared.filter {
        Some(filter) => filter.matches(path.strip_prefix('/').unwrap_or(path)),
        None => true,
    }
}

/// The parent of a call's span and, in public-endpoint mode, the caller's
/// span context to link to instead.
pub(crate) struct Parent {
    cx: Context,
    link: Option<Link>,
}

/// Step 2 (server): the caller's context, extracted from the request
/// metadata **on top of the current context** (the family's one rule,
/// `otel_kit_core::instrument::Propagation`): a valid `traceparent` replaces the
/// current span, anything else of the current context stays, and a request
/// without (valid) context continues the current context, a child of an
/// ambient span when there is one. In public-endpoint mode the caller's span
/// context becomes a link and the span starts under the current context
/// (a new root when no span is current); nothing the caller sent is trusted.
/// (A client span's parent is the current context.)
pub(crate) fn extract(shared: &Shared, headers: &HeaderMap) -> Parent {
    let extracted = shared.propagation.extract(&HeaderExtractor(headers));
    if shared.public_endpoint {
        Parent {
            cx: Context::current(),
            link: extracted.remote().map(Link::with_context),
        }
    } else {
        Parent {
            cx: extracted.into_context(),
            link: None,
        }
    }
}

/// Step 3: the span name, `pkg.Service/Method` (or `grpc` for a method
/// outside the known ones).
pub(crate) fn name(method: &MethodInfo) -> Cow<'static, str> {
    method.span_name()
}

/// Step 4: the attributes a sampler sees: `rpc.system.name`, `rpc.method`
/// (`rpc.method_original`), `server.address` / `server.port`, the old names
/// in dup mode, the resend count of a retried client attempt.
pub(crate) fn attributes<B>(
    shared: &Shared,
    method: &MethodInfo,
    server: Option<&ServerAddress>,
    req: &http::Request<B>,
) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(8);
    attrs.push(KeyValue::new(names::RPC_SYSTEM_NAME, names::GRPC));
    let method_value = if shared.dup {
        Value::from(StringValue::from(method.short().to_owned()))
    } else {
        Value::String(StringValue::from(method.full.clone()))
    };
    attrs.push(KeyValue::new(names::RPC_METHOD, method_value));
    if let Some(original) = &method.original {
        attrs.push(KeyValue::new(
            names::RPC_METHOD_ORIGINAL,
            StringValue::from(original.clone()),
        ));
    }
    if let Some(s) = server {
        attrs.push(KeyValue::new(
            names::SERVER_ADDRESS,
            StringValue::from(s.address_arc().clone()),
        ));
        if let Some(port) = s.port() {
            attrs.push(KeyValue::new(names::SERVER_PORT, i64::from(port)));
        }
    }
    if shared.dup {
        attrs.push(KeyValue::new(names::RPC_SYSTEM, names::GRPC));
        if let Some(service) = method.service() {
            attrs.push(KeyValue::new(names::RPC_SERVICE, service.to_owned()));
        }
    }
    if shared.side == Side::Client {
        // Set by a retry layer (otel-kit-patterns) on re-sent attempts.
        let resend = ResendCount::of(req);
        if resend > 0 {
            attrs.push(KeyValue::new(
                names::HTTP_REQUEST_RESEND_COUNT,
                i64::from(resend),
            ));
        }
    }
    attrs
}

/// Step 4, late: what only a recording span needs: `network.peer.address` /
/// `network.peer.port` and the captured request metadata.
fn late_attributes(
    shared: &Shared,
    peer: Option<Peer>,
    headers: &HeaderMap,
    late: &mut Vec<KeyValue>,
) {
    if let Some(peer) = peer {
        peer.attributes(late);
    }
    if !shared.request_metadata.is_empty() {
        shared.request_metadata.capture_into(headers, late);
    }
}

/// Step 6 (client): writes the span's context into the request metadata,
/// unless a [`propagate_to`](crate::LayerBuilder::propagate_to) list
/// excludes the destination.
pub(crate) fn inject(
    shared: &Shared,
    cx: &Context,
    server: Option<&ServerAddress>,
    headers: &mut HeaderMap,
) {
    if shared.may_propagate_to(server) {
        shared.propagation.inject(cx, &mut HeaderInjector(headers));
    }
}

/// An error raised instead of a status (a transport failure, a failing
/// inner service or body): the status it stands for and its `error.type`.
pub(crate) struct Raised {
    /// The status tonic reports for the error (returned to the caller).
    pub status: Status,
    error_type: &'static str,
}

impl Raised {
    /// `error.type` by the family's rule: a `tonic::Status` the error is
    /// (rule 1: its code name), else the Rust type `E` of the error
    /// (rule 3), `_OTHER` when `E` is a type-erased box (rule 4).
    pub(crate) fn new<E>(error: BoxError) -> Raised {
        match error.downcast::<Status>() {
            Ok(status) => {
                let error_type = code_name(status.code());
                Raised {
                    status: *status,
                    error_type,
                }
            }
            Err(error) => Raised {
                status: Status::from_error(error),
                error_type: type_error_type::<E>(),
            },
        }
    }
}

impl Raised {
    /// A failing inner service of a server (the handler): `UNKNOWN`, with
    /// `error.type` the Rust type `E` (`_OTHER` for a type-erased box).
    pub(crate) fn handler<E: std::fmt::Display>(error: &E) -> Raised {
        Raised {
            status: Status::new(Code::Unknown, error.to_string()),
            error_type: type_error_type::<E>(),
        }
    }
}

impl Call {
    /// Starts the call: [`traced`], the method, [`name`], [`attributes`],
    /// [`extract`] (server; a client span's parent is the current context),
    /// the span with the core's `SpanStarter` (late attributes only when it
    /// records), [`inject`] (client).
    /// `None` when the filter skips the call.
    pub(crate) fn start<B>(shared: &Arc<Shared>, req: &mut http::Request<B>) -> Option<Call> {
        if !traced(shared, req.uri().path()) {
            return None;
        }
        let method = shared
            .methods
            .get(req.uri().path(), shared.known_methods.as_ref());
        let (kind, server) = match shared.side {
            Side::Server => (
                SpanKind::Server,
                req.uri().authority().map(authority_address),
            ),
            Side::Client => (
                SpanKind::Client,
                shared
                    .target
                    .clone()
                    .or_else(|| req.uri().authority().map(authority_address)),
            ),
        };
        let start = SystemTime::now();
        let builder = SpanBuilder::from_name(name(&method))
            .with_start_time(start)
            .with_kind(kind)
            .with_attributes(attributes(shared, &method, server.as_ref(), req));
        let cx = match shared.side {
            Side::Server => {
                let parent = extract(shared, req.headers());
                let builder = match parent.link {
                    Some(link) => builder.with_links(vec![link]),
                    None => builder,
                };
                shared.tracer.start(builder, &parent.cx, |late| {
                    let peer = Peer::of_connection(req.extensions());
                    late_attributes(shared, peer, req.headers(), late);
                })
            }
            Side::Client => Context::map_current(|current| {
                shared.tracer.start(builder, current, |late| {
                    let peer = server.as_ref().and_then(Peer::of_target);
                    late_attributes(shared, peer, req.headers(), late);
                })
            }),
        };
        if shared.side == Side::Client {
            inject(shared, &cx, server.as_ref(), req.headers_mut());
        }
        Some(Call {
            shared: shared.clone(),
            cx,
            start,
            method,
            server,
            sent: MessageCounter::default(),
            received: MessageCounter::default(),
            budget: EventBudget::new(shared),
            truncated_at: None,
            deadline: None,
            done: false,
        })
    }

    /// Step 7: the call's span as the current context, while the guard lives.
    pub(crate) fn attach(&self) -> ContextGuard {
        self.cx.clone().attach()
    }

    /// The call's message-event budget (off unless opted in or in dup
    /// mode), for its request body.
    pub(crate) fn event_budget(&self) -> &EventBudget {
        &self.budget
    }

    /// Records response metadata present in `headers` (initial headers or trailers).
    pub(crate) fn capture_response_metadata(&self, headers: &HeaderMap) {
        if self.shared.response_metadata.is_empty() {
            return;
        }
        let span = self.cx.span();
        if span.is_recording() {
            span.set_attributes(self.shared.response_metadata.capture(headers));
        }
    }

    /// Data of the response body: SENT messages on a server, RECEIVED on a
    /// client (events when on, within the budget); ends the span at
    /// `max_span_duration`.
    pub(crate) fn on_response_data(&mut self, data: &[u8]) {
        if self.budget.is_on() {
            let (counter, kind) = match self.shared.side {
                Side::Server => (&mut self.sent, MessageKind::Sent),
                Side::Client => (&mut self.received, MessageKind::Received),
            };
            let (cx, budget) = (&self.cx, &self.budget);
            counter.feed(data, |id, compressed, len| {
                if budget.take() {
                    message_event(cx, kind, id, compressed, len);
                }
            });
        }
        if let Some(max) = self.shared.max_span_duration
            && self.truncated_at.is_none()
            && !self.done
        {
            let now = SystemTime::now();
            if now.duration_since(self.start).unwrap_or_default() >= max {
                self.truncate(now);
            }
        }
    }

    /// The call waits (for the handler's response, the peer's response
    /// headers or the next response message): with `max_span_duration`,
    /// polls the call's deadline (registering `cx`'s waker) and ends the
    /// span when it passes, so an idle stream, and a client-streaming call
    /// whose only response comes at its end, are cut at the maximum too.
    /// The timer is created the first time a call with a maximum waits.
    pub(crate) fn on_pending(&mut self, cx: &mut TaskContext<'_>) {
        let Some(max) = self.shared.max_span_duration else {
            return;
        };
        if self.truncated_at.is_some() || self.done {
            return;
        }
        let deadline = match &mut self.deadline {
            Some(deadline) => deadline,
            None => {
                // The remaining time on the monotonic clock from the span's
                // start; a maximum beyond what `Instant` holds is never reached.
                let spent = SystemTime::now()
                    .duration_since(self.start)
                    .unwrap_or_default();
                let Some(at) = std::time::Instant::now().checked_add(max.saturating_sub(spent))
                else {
                    return;
                };
                self.deadline.insert(Deadline::new(at))
            }
        };
        if deadline.poll_elapsed(cx).is_ready() {
            self.truncate(SystemTime::now());
        }
    }

    /// Ends the call's span at `now` (`stream.truncated`); the rest of the
    /// call becomes the summary span at its end.
    fn truncate(&mut self, now: SystemTime) {
        self.truncated_at = Some(now);
        self.deadline = None;
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(names::STREAM_TRUNCATED, true));
        span.end_with_timestamp(now);
    }

    /// Step 8: ends the call with the status `code` the peer (or the
    /// handler) gave: span status and `error.type` per the side's table
    /// (a status is no exception), span end, duration metrics.
    pub(crate) fn finish(&mut self, code: Code, message: Option<&str>) {
        let failed = match self.shared.side {
            Side::Server => is_server_error(code),
            Side::Client => is_client_error(code),
        };
        let error_type = failed.then(|| code_name(code));
        self.end(code, message, error_type, false);
    }

    /// Step 8, for an error raised instead of a status (a transport
    /// failure, a failing inner service or body): always a failure, recorded
    /// as an exception (`rpc.server.call.exception` /
    /// `rpc.client.call.exception` per the exception signal), with the
    /// `error.type` of [`Raised::new`].
    pub(crate) fn fail(&mut self, raised: &Raised) {
        let message = raised.status.message();
        self.end(
            raised.status.code(),
            Some(message),
            Some(raised.error_type),
            true,
        );
    }

    fn end(
        &mut self,
        code: Code,
        message: Option<&str>,
        error_type: Option<&'static str>,
        exception: bool,
    ) {
        if self.done {
            return;
        }
        self.done = true;
        let end = SystemTime::now();
        let elapsed = end
            .duration_since(self.start)
            .unwrap_or_default()
            .as_secs_f64();
        let name = code_name(code);
        // A span ended early: the rest of the call is a summary span.
        let summary = self.truncated_at.map(|start| {
            let builder = SpanBuilder::from_name(format!("stream {}", self.method.span_name()))
                .with_start_time(start)
                .with_kind(SpanKind::Internal)
                .with_attributes([
                    KeyValue::new(names::RPC_SYSTEM_NAME, names::GRPC),
                    KeyValue::new(
                        names::RPC_METHOD,
                        StringValue::from(self.method.full.clone()),
                    ),
                ]);
            self.shared.tracer.start(builder, &self.cx, |_| {})
        });
        let cx = summary.as_ref().unwrap_or(&self.cx);
        let span = cx.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new(names::RPC_RESPONSE_STATUS_CODE, name));
            if self.shared.dup {
                span.set_attribute(KeyValue::new(names::RPC_GRPC_STATUS_CODE, code as i64));
            }
        }
        if let Some(error_type) = error_type {
            record_exception(
                &span,
                &ErrorRecord {
                    error_type: error_type.into(),
                    message: message.filter(|m| !m.is_empty()).map(Into::into),
                    exception,
                },
                &self.shared.exceptions,
                self.shared.exception_event,
            );
        }
        span.end_with_timestamp(end);
        self.record_duration(code, error_type, elapsed);
    }

    fn record_duration(&self, code: Code, error_type: Option<&'static str>, elapsed: f64) {
        let name = code_name(code);
        let client_server = match self.shared.side {
            Side::Client => self.server.as_ref(),
            Side::Server => None,
        };
        let attrs = || {
            let mut attrs = Vec::with_capacity(6);
            attrs.push(KeyValue::new(names::RPC_SYSTEM_NAME, names::GRPC));
            attrs.push(KeyValue::new(
                names::RPC_METHOD,
                StringValue::from(self.method.full.clone()),
            ));
            attrs.push(KeyValue::new(names::RPC_RESPONSE_STATUS_CODE, name));
            if let Some(error_type) = error_type {
                attrs.push(KeyValue::new(names::ERROR_TYPE, error_type));
            }
            if let Some(s) = client_server {
                attrs.push(KeyValue::new(
                    names::SERVER_ADDRESS,
                    StringValue::from(s.address_arc().clone()),
                ));
                if let Some(port) = s.port() {
                    attrs.push(KeyValue::new(names::SERVER_PORT, i64::from(port)));
                }
            }
            attrs
        };
        let key = DurationKey {
            method: self.method.full.clone(),
            code: code as i32,
            error_type,
            server: client_server.map(|s| (s.address_arc().clone(), s.port())),
        };
        let shared = &self.shared;
        if shared
            .duration_bound
            .with(
                key,
                || shared.duration.bind(&attrs()),
                |bound| bound.record(elapsed),
            )
            .is_none()
        {
            shared.duration.record(elapsed, &attrs());
        }

        if let Some(old) = &self.shared.old_duration {
            let mut old_attrs = Vec::with_capacity(6);
            old_attrs.push(KeyValue::new(names::RPC_SYSTEM, names::GRPC));
            if let Some(service) = self.method.service() {
                old_attrs.push(KeyValue::new(names::RPC_SERVICE, service.to_owned()));
            }
            old_attrs.push(KeyValue::new(
                names::RPC_METHOD,
                self.method.short().to_owned(),
            ));
            old_attrs.push(KeyValue::new(names::RPC_GRPC_STATUS_CODE, code as i64));
            if let Some(s) = client_server {
                old_attrs.push(KeyValue::new(
                    names::SERVER_ADDRESS,
                    StringValue::from(s.address_arc().clone()),
                ));
                if let Some(port) = s.port() {
                    old_attrs.push(KeyValue::new(names::SERVER_PORT, i64::from(port)));
                }
            }
            old.record(elapsed * 1000.0, &old_attrs);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Dropped before a status was seen: the caller went away (client
        // future or stream dropped; on a server, the client reset the stream).
        self.finish(Code::Cancelled, Some("call cancelled before it completed"));
    }
}

/// `server.address` / `server.port` of a request authority (`[v6]` without brackets).
fn authority_address(authority: &http::uri::Authority) -> ServerAddress {
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerAddress::new(host, authority.port_u16())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MessageKind {
    Sent,
    Received,
}

pub(crate) fn message_event(cx: &Context, kind: MessageKind, id: u32, compressed: bool, len: u32) {
    let span = cx.span();
    if !span.is_recording() {
        return;
    }
    let size_key = if compressed {
        names::RPC_MESSAGE_COMPRESSED_SIZE
    } else {
        names::RPC_MESSAGE_UNCOMPRESSED_SIZE
    };
    span.add_event(
        names::RPC_MESSAGE_EVENT,
        vec![
            KeyValue::new(
                names::RPC_MESSAGE_TYPE,
                match kind {
                    MessageKind::Sent => "SENT",
                    MessageKind::Received => "RECEIVED",
                },
            ),
            KeyValue::new(names::RPC_MESSAGE_ID, i64::from(id)),
            KeyValue::new(size_key, i64::from(len)),
        ],
    );
}

/// Finds the gRPC length-prefixed messages in a byte stream split into
/// arbitrary chunks: 1 byte compressed flag, 4 bytes big-endian length, then
/// the message.
#[derive(Debug, Default)]
pub(crate) struct MessageCounter {
    header: [u8; 5],
    header_len: u8,
    remaining: u32,
    id: u32,
}

impl MessageCounter {
    /// Feeds `data`; calls `on_message(id, compressed, len)` once per message
    /// header, with ids starting at 1.
    pub(crate) fn feed(&mut self, mut data: &[u8], mut on_message: impl FnMut(u32, bool, u32)) {
        while !data.is_empty() {
            if self.remaining > 0 {
                let skip = data.len().min(self.remaining as usize);
                data = &data[skip..];
                self.remaining -= skip as u32;
                continue;
            }
            let want = 5 - self.header_len as usize;
            let take = want.min(data.len());
            self.header[self.header_len as usize..self.header_len as usize + take]
                .copy_from_slice(&data[..take]);
            self.header_len += take as u8;
            data = &data[take..];
            if self.header_len == 5 {
                self.header_len = 0;
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]);
                self.id = self.id.saturating_add(1);
                on_message(self.id, self.header[0] & 1 == 1, len);
                self.remaining = len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_messages_across_chunks() {
        let mut stream = Vec::new();
        for (flag, body) in [(0u8, &b"hello"[..]), (1, b""), (0, b"abc")] {
            stream.push(flag);
            stream.extend_from_slice(&(body.len() as u32).to_be_bytes());
            stream.extend_from_slice(body);
        }
        for chunk in 1..=stream.len() {
            let mut counter = MessageCounter::default();
            let mut seen = Vec::new();
            for part in stream.chunks(chunk) {
                counter.feed(part, |id, c, len| seen.push((id, c, len)));
            }
            assert_eq!(
                seen,
                [(1, false, 5), (2, true, 0), (3, false, 3)],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut counter = MessageCounter::default();
        let mut n = 0;
        counter.feed(&[0xff; 64], |_, _, _| n += 1);
        counter.feed(&[], |_, _, _| n += 1);
        assert_eq!(n, 1);
    }
}
