//! The received `tracestate` list, byte-exact, for members OpenTelemetry's
//! `TraceState` cannot hold.
//!
//! Level 2 allows keys such as `foo@@bar` or a 241-character tenant with a
//! 14-character system (`[a-z0-9][a-z0-9_\-*/@]{0,255}`), and "Vendors
//! receiving a `tracestate` request header MUST send it to outgoing
//! requests". `opentelemetry::trace::TraceState` refuses those keys (at most
//! one `@`, at most 13 characters after it), so the span context can only
//! carry the members it accepts. When the received list has a member it
//! refuses, the W3C propagator keeps the whole validated list in the
//! `Context` as a [`RawTraceState`], next to the remote span context (a
//! context value survives `parent_cx.with_span(span)`, so the client span of
//! a request handler still sees it), and writes it back on inject.

use opentelemetry::trace::{SpanContext, SpanId, TraceId, TraceState};

use super::trace_context::{MAX_TRACESTATE_MEMBERS, join_within_limits};

/// The `tracestate` list members received with a `traceparent`, validated
/// against the Level 2 grammar and kept byte-exact and in order (optional
/// whitespace and empty members removed, of duplicate keys the leftmost
/// kept), when at least one of them is a member
/// `opentelemetry::trace::TraceState` refuses.
///
/// [`TraceContextPropagator`](super::TraceContextPropagator) puts it in the
/// extracted `Context` and reads it back on inject: for a span context of
/// the same trace whose `TraceState` is still what was derived from this
/// list, the list is sent as received; when a sampler or the application
/// changed the `TraceState`, the changed members go first (as Level 2's
/// mutation rules say) followed by the received members it did not replace
/// or delete. Either way within the 32-member and 512-character limits.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::propagation::TextMapPropagator;
/// use opentelemetry::trace::TraceContextExt;
/// use opentelemetry::Context;
/// use otel_kit_core::propagation::{RawTraceState, TraceContextPropagator};
///
/// let mut carrier = HashMap::new();
/// carrier.insert(
///     "traceparent".to_string(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_string(),
/// );
/// carrier.insert("tracestate".to_string(), "foo@@bar=1, congo=t61rcWkgMzE".to_string());
/// let propagator = TraceContextPropagator::new();
/// let cx = propagator.extract_with_context(&Context::new(), &carrier);
///
/// // The span context holds what OpenTelemetry accepts ...
/// assert_eq!(cx.span().span_context().trace_state().header(), "congo=t61rcWkgMzE");
/// // ... the context the whole list, which goes to the next hop.
/// assert_eq!(cx.get::<RawTraceState>().unwrap().header(), "foo@@bar=1,congo=t61rcWkgMzE");
/// let mut out = HashMap::new();
/// propagator.inject_context(&cx, &mut out);
/// assert_eq!(out["tracestate"], "foo@@bar=1,congo=t61rcWkgMzE");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTraceState {
    trace_id: TraceId,
    parent_span_id: SpanId,
    /// The members joined with `,` (a member never holds a `,`).
    header: Box<str>,
    /// The `TraceState` the span context got from this list.
    derived: TraceState,
}

impl RawTraceState {
    /// Keeps `members` (validated, deduplicated, at most 32) received with
    /// the given `traceparent` ids; `derived` is the state the span context got.
    pub(crate) fn new(
        trace_id: TraceId,
        parent_span_id: SpanId,
        members: &[(&str, &str)],
        derived: TraceState,
    ) -> Self {
        let len = members.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        let mut header = String::with_capacity(len);
        for (key, value) in members {
            if !header.is_empty() {
                header.push(',');
            }
            header.push_str(key);
            header.push('=');
            header.push_str(value);
        }
        Self {
            trace_id,
            parent_span_id,
            header: header.into_boxed_str(),
            derived,
        }
    }

    /// A value that applies to no span context: replaces the list of an
    /// earlier extract into the same `Context`.
    pub(crate) fn cleared() -> Self {
        Self {
            trace_id: TraceId::INVALID,
            parent_span_id: SpanId::INVALID,
            header: Box::default(),
            derived: TraceState::NONE,
        }
    }

    /// The trace id of the `traceparent` the list came with.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The parent id of the `traceparent` the list came with.
    pub fn parent_span_id(&self) -> SpanId {
        self.parent_span_id
    }

    /// The received list as one header value (members joined with `,`).
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The received members as `(key, value)`, in order.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> {
        self.header
            .split(',')
            .filter_map(|member| member.split_once('='))
    }

    /// Whether this list belongs to `span_context`: the same trace, and for
    /// a remote span context (forwarded as is) the same parent.
    #[inline]
    pub(crate) fn applies_to(&self, span_context: &SpanContext) -> bool {
        self.trace_id == span_context.trace_id()
            && self.trace_id != TraceId::INVALID
            && (!span_context.is_remote() || self.parent_span_id == span_context.span_id())
    }

    /// The `tracestate` to send for a span context of this trace whose
    /// `TraceState` is `state`; `None` when it would be empty.
    ///
    /// Unchanged state: the received list. Changed: Level 2's "Modified keys
    /// MUST be moved to the beginning (left) of the list" and "the order of
    /// unmodified key/value pairs MUST be preserved": the members of `state`
    /// that are new or have a new value, in `state`'s order, then the
    /// received members whose key is neither among them nor deleted from
    /// `state`. Then at most 32 members ("the right-most `list-member`
    /// should be removed") and the 512-character truncation.
    pub(crate) fn header_for(&self, state: &TraceState) -> Option<String> {
        if *state == self.derived {
            if self.header.len() <= super::MAX_TRACESTATE_HEADER_LEN {
                return (!self.header.is_empty()).then(|| self.header.to_string());
            }
            return join_within_limits(self.members().collect());
        }
        let modified: Vec<(&str, &str)> = state
            .into_iter()
            .filter(|(key, value)| self.derived.get(key) != Some(*value))
            .collect();
        let deleted = |key: &str| self.derived.get(key).is_some() && state.get(key).is_none();
        let mut members = modified.clone();
        members.extend(
            self.members()
                .filter(|(key, _)| !deleted(key) && !modified.iter().any(|(k, _)| k == key)),
        );
        members.truncate(MAX_TRACESTATE_MEMBERS);
        join_within_limits(members)
    }
}

#[cfg(test)]
mod tests {
    //! Each test quotes the W3C Trace Context Level 2 sentence it checks.

    use std::collections::HashMap;

    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::{
        Link, SpanKind, TraceContextExt, TraceFlags, Tracer, TracerProvider,
    };
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::trace::{
        Sampler, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample,
    };

    use super::*;
    use crate::propagation::{MAX_TRACESTATE_HEADER_LEN, TraceContextPropagator};

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";

    /// `foo@@bar` and a 241-character tenant with a 14-character system:
    /// valid Level 2 keys that `opentelemetry::trace::TraceState` refuses.
    fn multi_tenant_key() -> String {
        format!("{}@{}", "t".repeat(241), "v".repeat(14))
    }

    fn received() -> String {
        format!(
            "foo@@bar=1, {}=2 ,congo=t61rcWkgMzE,, rojo=00f067aa0ba902b7",
            multi_tenant_key()
        )
    }

    fn sent() -> String {
        format!(
            "foo@@bar=1,{}=2,congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
            multi_tenant_key()
        )
    }

    fn extract(traceparent: &str, tracestate: &str) -> Context {
        let mut carrier = HashMap::new();
        carrier.insert("traceparent".to_string(), traceparent.to_string());
        carrier.insert("tracestate".to_string(), tracestate.to_string());
        TraceContextPropagator::new().extract_with_context(&Context::new(), &carrier)
    }

    fn inject(cx: &Context) -> HashMap<String, String> {
        let mut out = HashMap::new();
        TraceContextPropagator::new().inject_context(cx, &mut out);
        out
    }

    /// A local span context of the extracted trace with `state` (what a
    /// child span built by a sampler that changed the state looks like).
    fn child_with_state(cx: &Context, state: TraceState) -> Context {
        let parent = cx.span().span_context().clone();
        cx.with_remote_span_context(SpanContext::new(
            parent.trace_id(),
            SpanId::from(0x1111_2222_3333_4444),
            parent.trace_flags(),
            false,
            state,
        ))
    }

    fn state(cx: &Context) -> TraceState {
        cx.span().span_context().trace_state().clone()
    }

    // "Vendors receiving a `tracestate` request header MUST send it to
    // outgoing requests." with the key grammar
    // `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`,
    // `keychar = lcalpha / DIGIT / "_" / "-"/ "*" / "/" / "@"`.
    #[test]
    fn level2_keys_opentelemetry_refuses_are_forwarded_byte_exact_and_in_order() {
        let cx = extract(TRACEPARENT, &received());
        assert_eq!(
            state(&cx).header(),
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
        );
        let raw = cx.get::<RawTraceState>().expect("raw list kept");
        assert_eq!(raw.header(), sent());
        assert_eq!(raw.trace_id(), cx.span().span_context().trace_id());
        assert_eq!(raw.parent_span_id(), cx.span().span_context().span_id());
        assert_eq!(raw.members().count(), 4);
        let out = inject(&cx);
        assert_eq!(out["traceparent"], TRACEPARENT);
        assert_eq!(out["tracestate"], sent());
    }

    // The test suite's key cases (w3c/trace-context test.py,
    // `test_tracestate_key_length_limit`, `test_tracestate_key_illegal_vendor_format`):
    // "expects keys that follow the key grammar to be inherited".
    #[test]
    fn every_key_the_grammar_allows_is_forwarded() {
        for key in [
            "z".repeat(256),
            multi_tenant_key(),
            format!("{}@v", "t".repeat(242)),
            format!("t@{}", "v".repeat(15)),
            "foo@".to_string(),
            "foo@@bar".to_string(),
            "foo@bar@baz".to_string(),
        ] {
            let header = format!("foo=1,{key}=1");
            let out = inject(&extract(TRACEPARENT, &header));
            assert_eq!(out["tracestate"], header, "{key}");
        }
    }

    // "If the `tracestate` header cannot be parsed the vendor MAY discard the
    // entire header." The test suite at its default strict level expects the
    // whole header discarded (`@foo=1,bar=2`, `foo=,bar=3`, 33 members).
    #[test]
    fn an_invalid_header_is_discarded_whole_even_with_members_only_level2_allows() {
        for header in [
            "foo@@bar=1,@foo=1".to_string(),
            "foo@@bar=1,bar=".to_string(),
            format!(
                "foo@@bar=1,{}",
                (0..32)
                    .map(|i| format!("k{i}=v"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ] {
            let cx = extract(TRACEPARENT, &header);
            assert!(cx.span().span_context().is_valid(), "traceparent kept");
            assert!(cx.get::<RawTraceState>().is_none(), "{header}");
            assert!(!inject(&cx).contains_key("tracestate"), "{header}");
        }
    }

    // "When mutating `tracestate`, the order of unmodified key/value pairs
    // MUST be preserved. Modified keys MUST be moved to the beginning (left)
    // of the list." and "The new key/value pair SHOULD be added to the
    // beginning of the list."
    #[test]
    fn changed_members_go_first_then_the_received_ones_in_order() {
        let cx = extract(TRACEPARENT, &received());
        let mt = multi_tenant_key();
        let cases = [
            (
                "added",
                state(&cx).insert("ours", "x").unwrap(),
                format!("ours=x,foo@@bar=1,{mt}=2,congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
            ),
            (
                "updated",
                state(&cx).insert("rojo", "1111111111111111").unwrap(),
                format!("rojo=1111111111111111,foo@@bar=1,{mt}=2,congo=t61rcWkgMzE"),
            ),
            (
                "deleted",
                state(&cx).delete("congo").unwrap(),
                format!("foo@@bar=1,{mt}=2,rojo=00f067aa0ba902b7"),
            ),
            (
                "added and updated",
                state(&cx)
                    .insert("congo", "new")
                    .unwrap()
                    .insert("ours", "x")
                    .unwrap(),
                format!("ours=x,congo=new,foo@@bar=1,{mt}=2,rojo=00f067aa0ba902b7"),
            ),
        ];
        for (name, changed, expected) in cases {
            let out = inject(&child_with_state(&cx, changed));
            assert_eq!(out["tracestate"], expected, "{name}");
        }
    }

    // "There can be a maximum of 32 `list-member`s in a `list`. If adding an
    // entry would cause the `tracestate` list to contain more than 32
    // `list-members` the right-most `list-member` should be removed from the list."
    #[test]
    fn adding_to_32_received_members_removes_the_right_most() {
        let mut members = vec!["foo@@bar=1".to_string()];
        members.extend((1..32).map(|i| format!("k{i}=v")));
        let cx = extract(TRACEPARENT, &members.join(","));
        assert_eq!(inject(&cx)["tracestate"], members.join(","));
        let out = inject(&child_with_state(
            &cx,
            state(&cx).insert("ours", "x").unwrap(),
        ));
        let sent: Vec<&str> = out["tracestate"].split(',').collect();
        assert_eq!(sent.len(), 32);
        assert_eq!(sent[0], "ours=x");
        assert_eq!(sent[1], "foo@@bar=1");
        assert_eq!(sent[31], "k30=v", "k31 removed");
    }

    // "Vendors SHOULD propagate at least 512 characters of a combined header."
    // and "the vendor MUST truncate whole entries. Entries larger than `128`
    // characters long SHOULD be removed first. Then entries SHOULD be removed
    // starting from the end of `tracestate`."
    #[test]
    fn a_received_list_over_512_characters_is_truncated_like_any_other() {
        let long = format!("{}=1", multi_tenant_key()); // 258 characters
        let short: Vec<String> = (0..10)
            .map(|i| format!("k{i}={}", "v".repeat(36)))
            .collect();
        let header = format!("{long},{}", short.join(","));
        let out = inject(&extract(TRACEPARENT, &header));
        // The long member goes first; the ten of 40 fit (10 * 40 + 9 = 409).
        assert_eq!(out["tracestate"], short.join(","));

        let short: Vec<String> = (0..14)
            .map(|i| format!("k{i:02}@@x={}", "v".repeat(32)))
            .collect();
        let out = inject(&extract(TRACEPARENT, &short.join(",")));
        let sent = &out["tracestate"];
        assert!(sent.len() <= MAX_TRACESTATE_HEADER_LEN);
        // Members of 39 characters: 13 * 39 + 12 = 519 > 512, twelve from the left.
        assert_eq!(*sent, short[..12].join(","));
    }

    // "If the value of the `traceparent` field wasn't changed before
    // propagation, `tracestate` MUST NOT be modified as well."; the list
    // belongs to its `traceparent`: "Vendors SHOULD clean up `tracestate`
    // collection on `traceparent` restart."
    #[test]
    fn the_list_is_sent_only_for_its_own_trace_and_parent() {
        let cx = extract(TRACEPARENT, &received());
        let parent = cx.span().span_context().clone();
        // A new root in the same context (public endpoint: linked, not parented).
        let restarted = cx.with_remote_span_context(SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ));
        assert!(!inject(&restarted).contains_key("tracestate"));
        // Another remote parent of the same trace, forwarded as is.
        let other_parent = cx.with_remote_span_context(SpanContext::new(
            parent.trace_id(),
            SpanId::from(9),
            parent.trace_flags(),
            true,
            TraceState::from_key_value([("b", "2")]).unwrap(),
        ));
        assert_eq!(inject(&other_parent)["tracestate"], "b=2");
        // A second extract into the context replaces the first list.
        let mut carrier = HashMap::new();
        carrier.insert("traceparent".to_string(), TRACEPARENT.to_string());
        carrier.insert("tracestate".to_string(), "b=2".to_string());
        let again = TraceContextPropagator::new().extract_with_context(&cx, &carrier);
        let child = child_with_state(&again, state(&again));
        assert_eq!(inject(&child)["tracestate"], "b=2");
    }

    /// Inserts `ours=x` into the parent's state, like a vendor sampler.
    #[derive(Debug, Clone)]
    struct AddsMember;

    impl ShouldSample for AddsMember {
        fn should_sample(
            &self,
            parent: Option<&Context>,
            _: TraceId,
            _: &str,
            _: &SpanKind,
            _: &[KeyValue],
            _: &[Link],
        ) -> SamplingResult {
            let state = parent
                .map(|cx| cx.span().span_context().trace_state().clone())
                .unwrap_or_default();
            SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: state.insert("ours", "x").unwrap(),
            }
        }
    }

    // The server span's child (the client span) is where injection happens:
    // its context is `parent_cx.with_span(span)`, which keeps the list.
    // "Vendors receiving a `tracestate` request header MUST send it to
    // outgoing requests."
    #[test]
    fn sdk_child_spans_forward_the_list_unchanged_or_with_the_samplers_member_first() {
        let parent_cx = extract(TRACEPARENT, &received());
        for (sampler, expected) in [
            (
                Box::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
                    as Box<dyn ShouldSample>,
                sent(),
            ),
            (Box::new(AddsMember), format!("ours=x,{}", sent())),
        ] {
            let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
            let tracer = provider.tracer("test");
            let server = tracer.start_with_context("server", &parent_cx);
            let server_cx = parent_cx.with_span(server);
            let client = tracer.start_with_context("client", &server_cx);
            let client_cx = server_cx.with_span(client);
            let out = inject(&client_cx);
            assert_eq!(out["tracestate"], expected);
            let client_id = client_cx.span().span_context().span_id();
            assert_eq!(
                out["traceparent"],
                format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{client_id}-03")
            );
        }
    }
}
