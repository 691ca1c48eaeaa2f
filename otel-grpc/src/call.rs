//! One instrumented call: its span (inside a context), start time and the
//! attributes its metrics need. Finishing records the status on the span and
//! the duration; dropping an unfinished call records `CANCELLED`.

use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderMap;
use otel_core::instrument::{ErrorRecord, ResendCount, record_error};
use otel_core::opentelemetry::trace::{Link, SpanBuilder, SpanKind, TraceContextExt};
use otel_core::opentelemetry::{Context, KeyValue, StringValue, Value};
use otel_core::propagation::{HeaderExtractor, HeaderInjector};
use tonic::Code;

use crate::config::{DurationKey, Shared, Side};
use crate::method::MethodInfo;
use crate::names;
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
    done: bool,
}

impl Call {
    /// Starts the span of a call to `path`, or `None` when the filter skips it.
    pub fn start<B>(shared: &Arc<Shared>, req: &mut http::Request<B>) -> Option<Call> {
        let path = req.uri().path();
        if let Some(filter) = &shared.filter
            && !filter.matches(path.strip_prefix('/').unwrap_or(path))
        {
            return None;
        }
        let method = MethodInfo::from_path(path, shared.known_methods.as_ref());
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
        if let Some(s) = &server {
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
            // Set by a retry layer (otel-patterns) on re-sent attempts.
            let resend = ResendCount::of(req);
            if resend > 0 {
                attrs.push(KeyValue::new(
                    names::HTTP_REQUEST_RESEND_COUNT,
                    i64::from(resend),
                ));
            }
        }
        if !shared.request_metadata.is_empty() {
            shared
                .request_metadata
                .capture_into(req.headers(), &mut attrs);
        }

        let start = SystemTime::now();
        let mut builder = SpanBuilder::from_name(method.span_name())
            .with_start_time(start)
            .with_kind(kind)
            .with_attributes(attrs);
        let cx = match shared.side {
            Side::Server => {
                let remote = extract(shared, req.headers());
                if shared.public_endpoint {
                    let remote_sc = remote.span().span_context().clone();
                    if remote_sc.is_valid() {
                        builder = builder.with_links(vec![Link::with_context(remote_sc)]);
                    }
                    (shared.start)(builder, &Context::new())
                } else {
                    (shared.start)(builder, &remote)
                }
            }
            Side::Client => {
                let cx = Context::map_current(|parent| (shared.start)(builder, parent));
                if shared.may_propagate_to(server.as_ref()) {
                    inject(shared, &cx, req.headers_mut());
                }
                cx
            }
        };
        Some(Call {
            shared: shared.clone(),
            cx,
            start,
            method,
            server,
            sent: MessageCounter::default(),
            received: MessageCounter::default(),
            done: false,
        })
    }

    pub fn dup(&self) -> bool {
        self.shared.dup
    }

    /// Records response metadata present in `headers` (initial headers or trailers).
    pub fn capture_response_metadata(&self, headers: &HeaderMap) {
        if self.shared.response_metadata.is_empty() {
            return;
        }
        let span = self.cx.span();
        if span.is_recording() {
            span.set_attributes(self.shared.response_metadata.capture(headers));
        }
    }

    /// Data of the response body: SENT messages on a server, RECEIVED on a
    /// client (events only in dup mode).
    pub fn on_response_data(&mut self, data: &[u8]) {
        if self.shared.dup {
            let (counter, kind) = match self.shared.side {
                Side::Server => (&mut self.sent, MessageKind::Sent),
                Side::Client => (&mut self.received, MessageKind::Received),
            };
            counter.feed(data, |id, compressed, len| {
                message_event(&self.cx, kind, id, compressed, len)
            });
        }
    }

    /// Ends the call with `code`: span status per the side's table, span end,
    /// duration metrics.
    pub fn finish(&mut self, code: Code, message: Option<&str>) {
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
        let failed = match self.shared.side {
            Side::Server => is_server_error(code),
            Side::Client => is_client_error(code),
        };
        let span = self.cx.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new(names::RPC_RESPONSE_STATUS_CODE, name));
            if self.shared.dup {
                span.set_attribute(KeyValue::new(names::RPC_GRPC_STATUS_CODE, code as i64));
            }
            if failed {
                record_error(
                    &span,
                    &ErrorRecord {
                        error_type: name.into(),
                        message: message.filter(|m| !m.is_empty()).map(Into::into),
                        exception: false,
                    },
                );
            }
        }
        span.end_with_timestamp(end);

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
            if failed {
                attrs.push(KeyValue::new(names::ERROR_TYPE, name));
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

fn extract(shared: &Shared, headers: &HeaderMap) -> Context {
    let extractor = HeaderExtractor(headers);
    match &shared.propagator {
        Some(p) => p.extract_with_context(&Context::new(), &extractor),
        None => otel_core::propagation::extract_with(&Context::new(), &extractor),
    }
}

fn inject(shared: &Shared, cx: &Context, headers: &mut HeaderMap) {
    let mut injector = HeaderInjector(headers);
    match &shared.propagator {
        Some(p) => p.inject_context(cx, &mut injector),
        None => otel_core::propagation::inject(cx, &mut injector),
    }
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
    pub fn feed(&mut self, mut data: &[u8], mut on_message: impl FnMut(u32, bool, u32)) {
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
