//! [`CapturedSpan`], the span assertions and the compact trace tree.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use opentelemetry::trace::{Event, Link, SpanId, SpanKind, Status, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;

use super::value::{ExpectedValue, show};

/// A finished span as captured by [`Capture`](super::Capture), with lookups
/// and assertions.
///
/// It dereferences to the SDK's [`SpanData`], so every field is at hand too.
/// Assertion methods panic with a message naming the span and showing what
/// it has; they return `&Self` so they chain:
///
/// ```
/// use otel_kit_core::opentelemetry::KeyValue;
/// use otel_kit_core::opentelemetry::trace::{Span, SpanKind, Tracer};
/// use otel_kit_core::testing::Capture;
///
/// let capture = Capture::new();
/// let tracer = capture.tracer("test");
/// let mut span = tracer
///     .span_builder("GET /users/{id}")
///     .with_kind(SpanKind::Server)
///     .with_attributes([KeyValue::new("http.response.status_code", 200)])
///     .start(&tracer);
/// span.end();
///
/// let span = capture.span("GET /users/{id}");
/// span.assert_kind(SpanKind::Server)
///     .assert_attr("http.response.status_code", 200)
///     .assert_no_attr("error.type")
///     .assert_not_error();
/// assert_eq!(span.attr_i64("http.response.status_code"), Some(200));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CapturedSpan {
    data: SpanData,
}

impl CapturedSpan {
    /// Wraps span data exported by the SDK.
    pub fn new(data: SpanData) -> Self {
        Self { data }
    }

    /// The SDK's span data.
    pub fn into_inner(self) -> SpanData {
        self.data
    }

    /// The span name.
    pub fn name(&self) -> &str {
        &self.data.name
    }

    /// The trace this span belongs to.
    pub fn trace_id(&self) -> TraceId {
        self.data.span_context.trace_id()
    }

    /// The span's own id.
    pub fn span_id(&self) -> SpanId {
        self.data.span_context.span_id()
    }

    /// The parent's span id ([`SpanId::INVALID`] for a root).
    pub fn parent_span_id(&self) -> SpanId {
        self.data.parent_span_id
    }

    /// Whether the span has no parent at all (a new trace).
    pub fn is_root(&self) -> bool {
        self.data.parent_span_id == SpanId::INVALID
    }

    /// Whether the parent came from another process (an extracted context).
    pub fn has_remote_parent(&self) -> bool {
        self.data.parent_span_is_remote && !self.is_root()
    }

    /// The span kind.
    pub fn kind(&self) -> SpanKind {
        self.data.span_kind.clone()
    }

    /// The span status.
    pub fn status(&self) -> &Status {
        &self.data.status
    }

    /// Whether the status is `Error`.
    pub fn is_error(&self) -> bool {
        matches!(self.data.status, Status::Error { .. })
    }

    /// The description of an `Error` status.
    pub fn error_description(&self) -> Option<&str> {
        match &self.data.status {
            Status::Error { description } => Some(description),
            _ => None,
        }
    }

    /// Time between start and end (zero if the clock went backwards).
    pub fn duration(&self) -> Duration {
        self.data
            .end_time
            .duration_since(self.data.start_time)
            .unwrap_or_default()
    }

    /// All attributes, in the order they were set.
    pub fn attrs(&self) -> &[KeyValue] {
        &self.data.attributes
    }

    /// The value of attribute `key` (the last one set, if set twice).
    pub fn attr(&self, key: &str) -> Option<&Value> {
        find_attr(&self.data.attributes, key)
    }

    /// Attribute `key` if it is a string.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        match self.attr(key) {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Attribute `key` if it is an integer.
    pub fn attr_i64(&self, key: &str) -> Option<i64> {
        match self.attr(key) {
            Some(Value::I64(i)) => Some(*i),
            _ => None,
        }
    }

    /// Attribute `key` if it is a float.
    pub fn attr_f64(&self, key: &str) -> Option<f64> {
        match self.attr(key) {
            Some(Value::F64(f)) => Some(*f),
            _ => None,
        }
    }

    /// Attribute `key` if it is a boolean.
    pub fn attr_bool(&self, key: &str) -> Option<bool> {
        match self.attr(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// Whether attribute `key` is set.
    pub fn has_attr(&self, key: &str) -> bool {
        self.attr(key).is_some()
    }

    /// All events, in the order they were added.
    pub fn events(&self) -> &[Event] {
        &self.data.events
    }

    /// The first event named `name`.
    pub fn event(&self, name: &str) -> Option<&Event> {
        self.data.events.iter().find(|e| e.name == name)
    }

    /// Attribute `key` of the first event named `event`.
    pub fn event_attr(&self, event: &str, key: &str) -> Option<&Value> {
        self.event(event)
            .and_then(|e| find_attr(&e.attributes, key))
    }

    /// All links.
    pub fn links(&self) -> &[Link] {
        &self.data.links
    }

    /// Whether one of the links points at `target`.
    pub fn is_linked_to(&self, target: &CapturedSpan) -> bool {
        self.data.links.iter().any(|l| {
            l.span_context.trace_id() == target.trace_id()
                && l.span_context.span_id() == target.span_id()
        })
    }

    /// Asserts attribute `key` equals `expected`.
    #[track_caller]
    pub fn assert_attr(&self, key: &str, expected: impl ExpectedValue) -> &Self {
        let expected = expected.into_value();
        match self.attr(key) {
            Some(actual) if *actual == expected => {}
            Some(actual) => panic!(
                "span `{}`: attribute `{key}` is {}, expected {}\n  attributes: {}",
                self.name(),
                describe(actual),
                describe(&expected),
                list_attrs(self.attrs())
            ),
            None => panic!(
                "span `{}`: attribute `{key}` is missing, expected {}\n  attributes: {}",
                self.name(),
                describe(&expected),
                list_attrs(self.attrs())
            ),
        }
        self
    }

    /// Asserts attribute `key` is not set.
    #[track_caller]
    pub fn assert_no_attr(&self, key: &str) -> &Self {
        if let Some(actual) = self.attr(key) {
            panic!(
                "span `{}`: attribute `{key}` should not be set, but is {}",
                self.name(),
                describe(actual)
            );
        }
        self
    }

    /// Asserts the span kind.
    #[track_caller]
    pub fn assert_kind(&self, expected: SpanKind) -> &Self {
        if self.data.span_kind != expected {
            panic!(
                "span `{}`: kind is {:?}, expected {expected:?}",
                self.name(),
                self.data.span_kind
            );
        }
        self
    }

    /// Asserts the status is `Error` (any description).
    #[track_caller]
    pub fn assert_error(&self) -> &Self {
        if !self.is_error() {
            panic!(
                "span `{}`: status is {:?}, expected an error",
                self.name(),
                self.data.status
            );
        }
        self
    }

    /// Asserts the status is not `Error`.
    #[track_caller]
    pub fn assert_not_error(&self) -> &Self {
        if let Some(description) = self.error_description() {
            panic!(
                "span `{}`: status is Error({description:?}), expected no error",
                self.name()
            );
        }
        self
    }

    /// Asserts the span has an event named `name`.
    #[track_caller]
    pub fn assert_event(&self, name: &str) -> &Self {
        if self.event(name).is_none() {
            let names: Vec<&str> = self.data.events.iter().map(|e| e.name.as_ref()).collect();
            panic!(
                "span `{}`: no event named `{name}`; events: {names:?}",
                self.name()
            );
        }
        self
    }
}

impl Deref for CapturedSpan {
    type Target = SpanData;

    fn deref(&self) -> &SpanData {
        &self.data
    }
}

impl From<SpanData> for CapturedSpan {
    fn from(data: SpanData) -> Self {
        Self::new(data)
    }
}

impl fmt::Display for CapturedSpan {
    /// `name (kind, span 00f067aa, parent 1234abcd)`, for failure messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` ({:?}, span {}, ",
            self.name(),
            self.data.span_kind,
            self.span_id()
        )?;
        if self.is_root() {
            write!(f, "root)")
        } else if self.data.parent_span_is_remote {
            write!(f, "remote parent {})", self.parent_span_id())
        } else {
            write!(f, "parent {})", self.parent_span_id())
        }
    }
}

/// The last attribute named `key` (the SDK keeps duplicates in order).
pub(crate) fn find_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .rev()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// `k=v, k=v` for failure messages.
pub(crate) fn list_attrs(attrs: &[KeyValue]) -> String {
    if attrs.is_empty() {
        return "(none)".to_owned();
    }
    attrs
        .iter()
        .map(|kv| format!("{}={}", kv.key, show(&kv.value)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value with its type, so `"200"` and `200` are told apart.
fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Bool(_) => "bool",
        Value::I64(_) => "i64",
        Value::F64(_) => "f64",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        _ => "value",
    };
    format!("{} ({kind})", show(value))
}

/// Asserts `child`'s parent is `parent` (local or remote parent alike).
#[track_caller]
pub fn assert_parent(child: &CapturedSpan, parent: &CapturedSpan) {
    if child.trace_id() != parent.trace_id() {
        panic!(
            "expected {child} to be a child of {parent}, but they are in different traces \
             ({} vs {})",
            child.trace_id(),
            parent.trace_id()
        );
    }
    if child.parent_span_id() != parent.span_id() {
        let actual = if child.is_root() {
            "it is a root".to_owned()
        } else {
            format!("its parent is span {}", child.parent_span_id())
        };
        panic!("expected {child} to be a child of {parent}, but {actual}");
    }
}

/// Asserts `span` has no parent (it started a new trace).
#[track_caller]
pub fn assert_root(span: &CapturedSpan) {
    if !span.is_root() {
        panic!("expected {span} to be a root span");
    }
}

/// Asserts both spans belong to the same trace.
#[track_caller]
pub fn assert_same_trace(a: &CapturedSpan, b: &CapturedSpan) {
    if a.trace_id() != b.trace_id() {
        panic!(
            "expected {a} and {b} to be in the same trace, but they are in {} and {}",
            a.trace_id(),
            b.trace_id()
        );
    }
}

/// Asserts `span` has a link to `target`.
#[track_caller]
pub fn assert_linked(span: &CapturedSpan, target: &CapturedSpan) {
    if !span.is_linked_to(target) {
        let links: Vec<String> = span
            .links()
            .iter()
            .map(|l| format!("{}/{}", l.span_context.trace_id(), l.span_context.span_id()))
            .collect();
        panic!(
            "expected {span} to link to {target} ({}/{}); its links: {links:?}",
            target.trace_id(),
            target.span_id()
        );
    }
}

/// Renders span names as an indented hierarchy, two spaces per level:
/// every span whose parent was not captured starts a tree, children by start
/// time (ties in end order), trees by start time.
pub(crate) fn render_tree(spans: &[CapturedSpan]) -> String {
    let index: HashMap<(TraceId, SpanId), usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.trace_id(), s.span_id()), i))
        .collect();
    let mut children = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        match index.get(&(span.trace_id(), span.parent_span_id())) {
            Some(&p) if p != i && !span.is_root() => children[p].push(i),
            _ => roots.push(i),
        }
    }
    let order = |a: &usize, b: &usize| {
        spans[*a]
            .start_time
            .cmp(&spans[*b].start_time)
            .then(a.cmp(b))
    };
    roots.sort_by(order);
    for list in &mut children {
        list.sort_by(order);
    }

    let mut lines = Vec::with_capacity(spans.len());
    let mut seen = HashSet::new();
    // Roots first; then anything only reachable through a cycle (bad data).
    let starts: Vec<usize> = roots.iter().copied().chain(0..spans.len()).collect();
    for start in starts {
        let mut stack = vec![(start, 0usize)];
        while let Some((idx, depth)) = stack.pop() {
            if !seen.insert(idx) {
                continue;
            }
            lines.push(format!("{}{}", "  ".repeat(depth), spans[idx].name()));
            for &child in children[idx].iter().rev() {
                stack.push((child, depth + 1));
            }
        }
    }
    lines.join("\n")
}
