//! The trace-context envelope: a W3C `traceparent` carried inside a text
//! message (a JSON object's `"traceparent"` member), so a received
//! message's span continues the sender's trace.
//!
//! Opt-in with
//! [`trace_context_in_messages`](super::WsInstrumentationBuilder::trace_context_in_messages).
//! The sender writes the member itself, from the context it wants the
//! receiver to continue (its span, or the one handling the message):
//!
//! ```
//! use otel_kit_core::opentelemetry::Context;
//! use otel_kit_core::opentelemetry::trace::TraceContextExt;
//! use otel_kit_http::ws::{ENVELOPE_FIELD, envelope_traceparent};
//!
//! let cx = Context::current();
//! let text = match envelope_traceparent(&cx) {
//!     Some(tp) => format!(r#"{{"{ENVELOPE_FIELD}":"{tp}","order":7}}"#),
//!     None => r#"{"order":7}"#.to_owned(),
//! };
//! # drop(text);
//! ```

use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::trace::{SpanContext, TraceContextExt, TraceState};
use otel_kit_core::propagation::TraceParent;

/// The member of a JSON text message that carries the sender's W3C
/// `traceparent`.
pub const ENVELOPE_FIELD: &str = "traceparent";

/// How far into a message the member is looked for: the envelope's
/// metadata comes first, a large payload is not scanned.
pub const ENVELOPE_SCAN_BYTES: usize = 1024;

/// The `traceparent` value to put in a message's [`ENVELOPE_FIELD`] member
/// so the receiver continues `cx`'s span (`None`: no valid span).
pub fn envelope_traceparent(cx: &Context) -> Option<String> {
    TraceParent::format(cx.span().span_context()).map(|tp| tp.as_str().to_owned())
}

/// The remote span context a text message's envelope carries: the
/// `"traceparent": "<value>"` member within the first
/// [`ENVELOPE_SCAN_BYTES`] bytes, its value a valid `traceparent`. Anything
/// else (no member, a malformed value) is `None`: the message is handled
/// as without an envelope.
pub(crate) fn extract(text: &str) -> Option<SpanContext> {
    let bytes = text.as_bytes();
    let head = &bytes[..bytes.len().min(ENVELOPE_SCAN_BYTES)];
    let key = b"\"traceparent\"";
    let at = head.windows(key.len()).position(|w| w == key)?;
    let rest = &bytes[at + key.len()..];
    let rest = skip_whitespace(rest).strip_prefix(b":")?;
    let rest = skip_whitespace(rest).strip_prefix(b"\"")?;
    let end = rest.iter().take(64).position(|&b| b == b'"')?;
    let parent = TraceParent::parse_bytes(&rest[..end])?;
    let sc = parent.to_span_context(TraceState::default());
    sc.is_valid().then_some(sc)
}

fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .count();
    &bytes[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn finds_the_member() {
        for text in [
            format!(r#"{{"traceparent":"{TP}","x":1}}"#),
            format!("{{ \"a\": 2, \"traceparent\" :\n \"{TP}\" }}"),
        ] {
            let sc = extract(&text).expect(&text);
            assert_eq!(
                sc.trace_id().to_string(),
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
            assert!(sc.is_remote() && sc.is_sampled());
        }
    }

    #[test]
    fn anything_else_is_no_envelope() {
        for text in [
            "",
            "hello",
            r#"{"traceparent":"00-zz"}"#,
            r#"{"traceparent":12}"#,
            r#"{"traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}"#,
            "\"traceparent\"",
            "\"traceparent\":\"",
        ] {
            assert!(extract(text).is_none(), "{text}");
        }
        let late = format!(
            "{}{{\"traceparent\":\"{TP}\"}}",
            " ".repeat(ENVELOPE_SCAN_BYTES)
        );
        assert!(extract(&late).is_none());
    }
}
