//! [`ConsoleSpanExporter`]: each finished trace as an indented tree.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::{self, Write as _};
use std::future::Future;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::text::{self, Sink, Style};

/// Default bound on spans held while waiting for their trace's root to end.
pub const DEFAULT_MAX_BUFFERED_SPANS: usize = 4096;

/// Default longest wait for a trace's local root before printing what arrived.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30);

/// How many printed traces are remembered, so that a span ending after its
/// trace was printed (a detached task) is still shown under the right trace.
const RECENT_TRACES: usize = 128;

/// A [`SpanExporter`] that prints every finished trace as an indented tree,
/// for humans reading a terminal.
///
/// Spans reach an exporter children first and possibly spread over several
/// exports. This exporter buffers them per trace and prints a trace once its
/// local root (a span whose parent is absent or remote) has ended, children
/// ordered by start time:
///
/// ```text
/// trace 4bf92f3577b34da6a3ce929d0e0e4736 · checkout · 3 spans
///   POST /orders server 12.4ms
///   │  http.request.method=POST http.route=/orders
///   ├─ SELECT orders client 3.10ms
///   │     db.system.name=postgresql
///   └─ publish orders producer 850µs ERROR broker unavailable
///         • +420µs exception exception.message=timeout
/// ```
///
/// Spans whose parent never arrives are printed as orphans under their trace
/// on [`shutdown`](SpanExporter::shutdown) and on the exporter's own
/// [`force_flush`](SpanExporter::force_flush) (the SDK 0.33 span processors
/// do not forward a provider's `force_flush` to their exporter), and once
/// their trace has waited [`with_max_wait`](Self::with_max_wait) (30 s by
/// default) for its root, at the next export. The buffer is bounded
/// ([`with_max_buffered_spans`](Self::with_max_buffered_spans)); when it is
/// full the oldest incomplete trace is printed as it is. Either way the
/// header says the trace is incomplete and why.
///
/// Colours are used when writing to a terminal and `NO_COLOR` is unset.
pub struct ConsoleSpanExporter {
    sink: Sink,
    state: Mutex<State>,
    max_buffered_spans: usize,
    max_wait: Duration,
    max_value_len: usize,
}

#[derive(Default)]
struct State {
    service: String,
    pending: HashMap<TraceId, Pending>,
    buffered: usize,
    next_seq: u64,
    /// Span ids already printed, for the most recently printed traces.
    recent: VecDeque<(TraceId, HashSet<SpanId>)>,
    is_shutdown: bool,
}

struct Pending {
    /// Arrival order of the trace, to evict the oldest on overflow.
    seq: u64,
    /// When the first span of the trace arrived.
    since: Instant,
    spans: Vec<SpanData>,
}

/// Why a group of spans is printed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// The local root ended.
    Complete,
    /// The trace was printed before; these spans ended after it.
    Late,
    /// Flush or shutdown: whatever is left, parents missing.
    Flush,
    /// The buffer is full.
    Overflow,
    /// The root did not arrive within the maximum wait.
    Stale,
}

impl ConsoleSpanExporter {
    /// Writes to standard output.
    pub fn new() -> Self {
        Self::with_sink(Sink::stdout())
    }

    /// Writes to standard error.
    pub fn stderr() -> Self {
        Self::with_sink(Sink::stderr())
    }

    /// Writes to any writer (a file, a buffer in a test), without colours.
    pub fn with_writer<W: Write + Send + 'static>(writer: W) -> Self {
        Self::with_sink(Sink::new(Box::new(writer), false))
    }

    fn with_sink(sink: Sink) -> Self {
        Self {
            sink,
            state: Mutex::new(State {
                service: "unknown_service".to_owned(),
                ..State::default()
            }),
            max_buffered_spans: DEFAULT_MAX_BUFFERED_SPANS,
            max_wait: DEFAULT_MAX_WAIT,
            max_value_len: text::DEFAULT_MAX_VALUE_LEN,
        }
    }

    /// Forces ANSI colours on or off.
    pub fn with_color(mut self, color: bool) -> Self {
        self.sink.color = color;
        self
    }

    /// Bounds the spans held while waiting for their root (default
    /// [`DEFAULT_MAX_BUFFERED_SPANS`]; at least 1).
    pub fn with_max_buffered_spans(mut self, max: usize) -> Self {
        self.max_buffered_spans = max.max(1);
        self
    }

    /// Longest time a trace waits for its local root before the spans that
    /// did arrive are printed, marked incomplete (default
    /// [`DEFAULT_MAX_WAIT`]). Checked at each export.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Longest attribute value printed, in characters, before it is cut
    /// with `…` (default 64; at least 1).
    pub fn with_max_value_len(mut self, max: usize) -> Self {
        self.max_value_len = max.max(1);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn export_now(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = String::new();
        {
            let mut state = self.lock();
            if state.is_shutdown {
                return Err(OTelSdkError::AlreadyShutdown);
            }
            let mut touched = Vec::new();
            for span in batch {
                let trace_id = span.span_context.trace_id();
                if !touched.contains(&trace_id) {
                    touched.push(trace_id);
                }
                let State {
                    pending, next_seq, ..
                } = &mut *state;
                pending
                    .entry(trace_id)
                    .or_insert_with(|| {
                        *next_seq += 1;
                        Pending {
                            seq: *next_seq,
                            since: Instant::now(),
                            spans: Vec::new(),
                        }
                    })
                    .spans
                    .push(span);
                state.buffered += 1;
            }
            for trace_id in touched {
                self.print_ready(&mut state, trace_id, &mut out);
            }
            let mut stale: Vec<(u64, TraceId)> = state
                .pending
                .iter()
                .filter(|(_, p)| p.since.elapsed() >= self.max_wait)
                .map(|(id, p)| (p.seq, *id))
                .collect();
            stale.sort_unstable_by_key(|(seq, _)| *seq);
            for (_, trace_id) in stale {
                self.print_rest(&mut state, trace_id, Reason::Stale, &mut out);
            }
            while state.buffered > self.max_buffered_spans {
                let oldest = state
                    .pending
                    .iter()
                    .min_by_key(|(_, p)| p.seq)
                    .map(|(id, _)| *id);
                let Some(trace_id) = oldest else { break };
                self.print_rest(&mut state, trace_id, Reason::Overflow, &mut out);
            }
        }
        self.sink.write_text(&out)
    }

    /// Prints the subtrees of `trace_id` whose root has ended, or whose parent
    /// was printed earlier (late spans).
    fn print_ready(&self, state: &mut State, trace_id: TraceId, out: &mut String) {
        let Some(pending) = state.pending.get_mut(&trace_id) else {
            return;
        };
        let printed_before = state
            .recent
            .iter()
            .find(|(id, _)| *id == trace_id)
            .map(|(_, ids)| ids);
        let ids: HashSet<SpanId> = pending
            .spans
            .iter()
            .map(|s| s.span_context.span_id())
            .collect();
        let mut roots = Vec::new();
        let mut late_roots = 0;
        for (i, span) in pending.spans.iter().enumerate() {
            if is_local_root(span) {
                roots.push(i);
            } else if !ids.contains(&span.parent_span_id)
                && printed_before.is_some_and(|printed| printed.contains(&span.parent_span_id))
            {
                roots.push(i);
                late_roots += 1;
            }
        }
        if roots.is_empty() {
            return;
        }
        let forest = Forest::new(&pending.spans);
        let mut seen = vec![false; pending.spans.len()];
        let mut picked = Vec::new();
        for &root in &roots {
            forest.collect_subtree(root, &mut seen, &mut picked);
        }
        let mut taken = take_indices(&mut pending.spans, &picked);
        let empty = pending.spans.is_empty();
        state.buffered -= taken.len();
        if empty {
            state.pending.remove(&trace_id);
        }
        let reason = if late_roots == roots.len() {
            Reason::Late
        } else {
            Reason::Complete
        };
        sort_by_start(&mut taken);
        self.render_trace(state, trace_id, &taken, reason, out);
    }

    /// Prints everything still buffered for `trace_id`.
    fn print_rest(&self, state: &mut State, trace_id: TraceId, reason: Reason, out: &mut String) {
        let Some(pending) = state.pending.remove(&trace_id) else {
            return;
        };
        state.buffered -= pending.spans.len();
        let mut spans = pending.spans;
        sort_by_start(&mut spans);
        self.render_trace(state, trace_id, &spans, reason, out);
    }

    fn flush_all(&self, reason: Reason) -> OTelSdkResult {
        let mut out = String::new();
        {
            let mut state = self.lock();
            let mut traces: Vec<(u64, TraceId)> =
                state.pending.iter().map(|(id, p)| (p.seq, *id)).collect();
            traces.sort_unstable_by_key(|(seq, _)| *seq);
            for (_, trace_id) in traces {
                self.print_rest(&mut state, trace_id, reason, &mut out);
            }
        }
        self.sink.write_text(&out)?;
        self.sink.flush()
    }

    /// Renders one trace (or part of it) and remembers the printed span ids.
    fn render_trace(
        &self,
        state: &mut State,
        trace_id: TraceId,
        spans: &[SpanData],
        reason: Reason,
        out: &mut String,
    ) {
        let color = self.sink.color;
        let mut header = format!("trace {trace_id} · {} · ", state.service);
        let _ = write!(
            header,
            "{} span{}",
            spans.len(),
            if spans.len() == 1 { "" } else { "s" }
        );
        match reason {
            Reason::Complete => {}
            Reason::Late => header.push_str(" (ended after the trace was printed)"),
            Reason::Flush => header.push_str(" (incomplete: parent not exported)"),
            Reason::Overflow => header.push_str(" (incomplete: console buffer full)"),
            Reason::Stale => {
                let waited = text::format_duration(self.max_wait);
                let _ = write!(header, " (incomplete: no root after {waited})");
            }
        }
        text::push_styled(out, color, Style::Cyan, &header);
        out.push('\n');

        let forest = Forest::new(spans);
        let mut visited = vec![false; spans.len()];
        // Roots first (in start order), then anything unreachable from a root
        // (a cycle in malformed data) so that no span is silently dropped.
        let mut starts: Vec<usize> = forest.roots.clone();
        starts.extend(0..spans.len());
        for start in starts {
            if visited[start] {
                continue;
            }
            let orphan = matches!(reason, Reason::Flush | Reason::Overflow | Reason::Stale)
                && !is_local_root(&spans[start]);
            self.render_tree(spans, &forest, start, orphan, &mut visited, out);
        }

        let printed: HashSet<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
        if let Some(entry) = state.recent.iter_mut().find(|(id, _)| *id == trace_id) {
            entry.1.extend(printed);
        } else {
            if state.recent.len() >= RECENT_TRACES {
                state.recent.pop_front();
            }
            state.recent.push_back((trace_id, printed));
        }
    }

    /// Renders the subtree under `root`, iteratively (deep traces cannot
    /// overflow the stack).
    fn render_tree(
        &self,
        spans: &[SpanData],
        forest: &Forest,
        root: usize,
        orphan: bool,
        visited: &mut [bool],
        out: &mut String,
    ) {
        // (span index, prefix of its own line, prefix of the lines below it)
        let mut stack = vec![(root, "  ".to_owned(), "  ".to_owned())];
        while let Some((idx, line_prefix, below_prefix)) = stack.pop() {
            if visited[idx] {
                continue;
            }
            visited[idx] = true;
            let span = &spans[idx];
            let children: Vec<usize> = forest
                .children_of(idx)
                .iter()
                .copied()
                .filter(|c| !visited[*c])
                .collect();
            let detail_prefix = format!(
                "{below_prefix}{}",
                if children.is_empty() { "   " } else { "│  " }
            );
            self.render_span(
                span,
                &line_prefix,
                &detail_prefix,
                orphan && idx == root,
                out,
            );
            for (i, &child) in children.iter().enumerate().rev() {
                let last = i + 1 == children.len();
                stack.push((
                    child,
                    format!("{below_prefix}{}", if last { "└─ " } else { "├─ " }),
                    format!("{below_prefix}{}", if last { "   " } else { "│  " }),
                ));
            }
        }
    }

    fn render_span(
        &self,
        span: &SpanData,
        line_prefix: &str,
        detail_prefix: &str,
        orphan: bool,
        out: &mut String,
    ) {
        let color = self.sink.color;
        let max = self.max_value_len;
        let dim = |out: &mut String, s: &str| text::push_styled(out, color, Style::Dim, s);

        out.push_str(line_prefix);
        text::push_styled(out, color, Style::Bold, &span.name);
        out.push(' ');
        dim(out, kind_name(&span.span_kind));
        out.push(' ');
        let duration = text::format_duration(text::elapsed(span.start_time, span.end_time));
        text::push_styled(out, color, Style::Yellow, &duration);
        match &span.status {
            Status::Unset => {}
            Status::Ok => {
                out.push(' ');
                text::push_styled(out, color, Style::Green, "OK");
            }
            Status::Error { description } => {
                out.push(' ');
                let mut status = String::from("ERROR");
                if !description.is_empty() {
                    status.push(' ');
                    status.push_str(&text::truncate(description, max.max(120)));
                }
                text::push_styled(out, color, Style::Red, &status);
            }
        }
        if orphan {
            out.push(' ');
            let note = format!("(parent {} missing)", short_span(span.parent_span_id));
            dim(out, &note);
        }
        out.push('\n');

        if !span.attributes.is_empty() || span.dropped_attributes_count > 0 {
            let mut line = String::new();
            text::push_attributes(&mut line, &span.attributes, max);
            if span.dropped_attributes_count > 0 {
                let _ = write!(line, " (+{} dropped)", span.dropped_attributes_count);
            }
            out.push_str(detail_prefix);
            dim(out, line.trim_start());
            out.push('\n');
        }
        for event in span.events.iter() {
            let offset = text::format_duration(text::elapsed(span.start_time, event.timestamp));
            out.push_str(detail_prefix);
            let is_exception = event.name == "exception";
            let mut line = format!("• +{offset} ");
            line.push_str(&event.name);
            if !event.attributes.is_empty() {
                line.push(' ');
                text::push_attributes(&mut line, &event.attributes, max);
            }
            let style = if is_exception { Style::Red } else { Style::Dim };
            text::push_styled(out, color, style, &line);
            out.push('\n');
        }
        if span.events.dropped_count > 0 {
            out.push_str(detail_prefix);
            dim(
                out,
                &format!("• (+{} events dropped)", span.events.dropped_count),
            );
            out.push('\n');
        }
        for link in span.links.iter() {
            let mut line = format!(
                "↪ link {}/{}",
                short_trace(link.span_context.trace_id()),
                short_span(link.span_context.span_id())
            );
            if !link.attributes.is_empty() {
                line.push(' ');
                text::push_attributes(&mut line, &link.attributes, max);
            }
            out.push_str(detail_prefix);
            dim(out, &line);
            out.push('\n');
        }
    }
}

impl Default for ConsoleSpanExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ConsoleSpanExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleSpanExporter")
            .field("sink", &self.sink)
            .field("max_buffered_spans", &self.max_buffered_spans)
            .finish_non_exhaustive()
    }
}

impl SpanExporter for ConsoleSpanExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        std::future::ready(self.export_now(batch))
    }

    fn shutdown_with_timeout(&self, _timeout: std::time::Duration) -> OTelSdkResult {
        if self.lock().is_shutdown {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let result = self.flush_all(Reason::Flush);
        self.lock().is_shutdown = true;
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush_all(Reason::Flush)
    }

    fn set_resource(&mut self, resource: &Resource) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        state.service = text::service_name(resource);
    }
}

/// A span whose parent is not in this process: no parent, or a remote one.
fn is_local_root(span: &SpanData) -> bool {
    span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote
}

fn sort_by_start(spans: &mut [SpanData]) {
    spans.sort_by_key(|s| s.start_time);
}

/// Removes the spans at `indices` from `spans` and returns them.
fn take_indices(spans: &mut Vec<SpanData>, indices: &[usize]) -> Vec<SpanData> {
    let wanted: HashSet<usize> = indices.iter().copied().collect();
    let mut taken = Vec::with_capacity(wanted.len());
    let mut kept = Vec::with_capacity(spans.len().saturating_sub(wanted.len()));
    for (i, span) in spans.drain(..).enumerate() {
        if wanted.contains(&i) {
            taken.push(span);
        } else {
            kept.push(span);
        }
    }
    *spans = kept;
    taken
}

/// Parent/child structure of a set of spans (by index), children by start time.
struct Forest {
    children: Vec<Vec<usize>>,
    /// Spans whose parent is not in the set, by start time.
    roots: Vec<usize>,
}

impl Forest {
    fn new(spans: &[SpanData]) -> Self {
        let index: HashMap<SpanId, usize> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_context.span_id(), i))
            .collect();
        let mut children = vec![Vec::new(); spans.len()];
        let mut roots = Vec::new();
        for (i, span) in spans.iter().enumerate() {
            let parent = if span.parent_span_is_remote {
                None
            } else {
                index.get(&span.parent_span_id).copied().filter(|p| *p != i)
            };
            match parent {
                Some(p) => children[p].push(i),
                None => roots.push(i),
            }
        }
        let by_start = |a: &usize, b: &usize| spans[*a].start_time.cmp(&spans[*b].start_time);
        for list in &mut children {
            list.sort_by(by_start);
        }
        roots.sort_by(by_start);
        Self { children, roots }
    }

    fn children_of(&self, idx: usize) -> &[usize] {
        self.children
            .get(idx)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Appends `root` and all its descendants to `out`, each once (`seen` is
    /// shared between calls).
    fn collect_subtree(&self, root: usize, seen: &mut [bool], out: &mut Vec<usize>) {
        let mut stack = vec![root];
        while let Some(idx) = stack.pop() {
            if seen.get(idx).copied().unwrap_or(true) {
                continue;
            }
            seen[idx] = true;
            out.push(idx);
            stack.extend(self.children_of(idx).iter().copied());
        }
    }
}

fn kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

/// First 8 hex digits of a trace id.
fn short_trace(id: TraceId) -> String {
    let mut s = id.to_string();
    s.truncate(8);
    s
}

/// First 8 hex digits of a span id.
fn short_span(id: SpanId) -> String {
    let mut s = id.to_string();
    s.truncate(8);
    s
}
