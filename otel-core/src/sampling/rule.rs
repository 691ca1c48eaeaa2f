use std::fmt::{self, Write as _};
use std::sync::Arc;

use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, Key, KeyValue, Value};
use opentelemetry_sdk::trace::{
    ParentBasedSampler, Sampler, SamplingDecision, SamplingResult, ShouldSample,
};

use super::pattern::write_escaped_piece;
use super::{Pattern, RateLimitingSampler, result_for, trace_id_ratio_decision};

/// The conditions of a [`Rule`]: a span matches when it meets every condition
/// given (span name, span kind, attributes). A matcher without conditions
/// ([`SpanMatcher::any`]) matches every span.
///
/// Only the attributes given when the span is started are visible to samplers
/// (`SpanBuilder::with_attributes`); attributes set later on the span are not.
/// Instrumentation whose spans should be selectable by rules must therefore pass
/// `http.route`, `url.path`, `http.request.method`, `rpc.method`, … when it
/// starts the span.
///
/// ```
/// use opentelemetry::{KeyValue, trace::SpanKind};
/// use otel_kit_core::sampling::SpanMatcher;
///
/// let health = SpanMatcher::any()
///     .kind(SpanKind::Server)
///     .attribute("url.path", "/health*");
/// let attributes = [KeyValue::new("url.path", "/healthz")];
/// assert!(health.matches("GET", &SpanKind::Server, &attributes));
/// assert!(!health.matches("GET", &SpanKind::Client, &attributes));
/// assert!(!health.matches("GET", &SpanKind::Server, &[]));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanMatcher {
    name: Option<Pattern>,
    /// Bit set of accepted kinds (see [`kind_bit`]); 0 accepts every kind.
    kinds: u8,
    attributes: Vec<(Key, Pattern)>,
}

impl SpanMatcher {
    /// A matcher without conditions: it matches every span.
    pub fn any() -> Self {
        Self::default()
    }

    /// Requires the span name to match `glob` (`*` matches any run of characters;
    /// a glob without `*` is exact). Replaces an earlier name condition.
    pub fn name(self, glob: &str) -> Self {
        self.name_pattern(Pattern::glob(glob))
    }

    /// Requires the span name to match `pattern`. Replaces an earlier name
    /// condition.
    pub fn name_pattern(mut self, pattern: Pattern) -> Self {
        self.name = Some(pattern);
        self
    }

    /// Accepts spans of `kind`. Called several times, it accepts any of the
    /// kinds given; never called, every kind is accepted.
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kinds |= kind_bit(&kind);
        self
    }

    /// Requires an attribute `key` whose value matches `glob` (`*` matches any
    /// run of characters; a glob without `*` is exact), e.g.
    /// `.attribute("http.route", "/users/{id}")` or
    /// `.attribute("url.path", "/internal/*")`.
    ///
    /// Non-string values are compared by their text: `8080`, `true`, `0.5`;
    /// array values never match. Several attribute conditions must all hold.
    pub fn attribute(self, key: impl Into<Key>, glob: &str) -> Self {
        self.attribute_pattern(key, Pattern::glob(glob))
    }

    /// Requires an attribute `key` whose value matches `pattern` (see
    /// [`SpanMatcher::attribute`]).
    pub fn attribute_pattern(mut self, key: impl Into<Key>, pattern: Pattern) -> Self {
        self.attributes.push((key.into(), pattern));
        self
    }

    /// Whether the matcher has no condition (matches every span).
    pub fn is_any(&self) -> bool {
        self.name.is_none() && self.kinds == 0 && self.attributes.is_empty()
    }

    /// Whether a span with this name, kind and creation attributes meets every
    /// condition. Never allocates.
    pub fn matches(&self, name: &str, kind: &SpanKind, attributes: &[KeyValue]) -> bool {
        if self.kinds != 0 && self.kinds & kind_bit(kind) == 0 {
            return false;
        }
        if self
            .name
            .as_ref()
            .is_some_and(|pattern| !pattern.matches(name))
        {
            return false;
        }
        self.attributes.iter().all(|(key, pattern)| {
            attributes
                .iter()
                .any(|kv| kv.key == *key && value_matches(&kv.value, pattern))
        })
    }

    pub(crate) fn has_name(&self) -> bool {
        self.name.is_some()
    }

    pub(crate) fn has_kinds(&self) -> bool {
        self.kinds != 0
    }
}

/// The `rules` syntax form (see [`SamplerSpec`](super::SamplerSpec)):
/// `name=…,kind=…|…,attr.KEY=…`, or `*` without conditions.
impl fmt::Display for SpanMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return f.write_str("*");
        }
        let mut sep = "";
        if let Some(name) = &self.name {
            write!(f, "name={name}")?;
            sep = ",";
        }
        if self.kinds != 0 {
            write!(f, "{sep}kind=")?;
            let mut bar = "";
            for (bit, kind_name) in KIND_NAMES {
                if self.kinds & bit != 0 {
                    write!(f, "{bar}{kind_name}")?;
                    bar = "|";
                }
            }
            sep = ",";
        }
        for (key, pattern) in &self.attributes {
            write!(f, "{sep}attr.")?;
            write_escaped_key(f, key.as_str())?;
            write!(f, "={pattern}")?;
            sep = ",";
        }
        Ok(())
    }
}

fn write_escaped_key(f: &mut fmt::Formatter<'_>, key: &str) -> fmt::Result {
    // `=` ends a key; the other specials are those of a pattern.
    let mut rest = key;
    while let Some(at) = rest.find('=') {
        write_escaped_piece(f, &rest[..at], rest.len() == key.len(), false)?;
        f.write_str("\\=")?;
        rest = &rest[at + 1..];
    }
    write_escaped_piece(f, rest, rest.len() == key.len(), true)
}

/// Span kinds with their bit and their name in the `rules` syntax.
pub(crate) const KIND_NAMES: [(u8, &str); 5] = [
    (1, "client"),
    (2, "server"),
    (4, "producer"),
    (8, "consumer"),
    (16, "internal"),
];

fn kind_bit(kind: &SpanKind) -> u8 {
    match kind {
        SpanKind::Client => 1,
        SpanKind::Server => 2,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 8,
        SpanKind::Internal => 16,
    }
}

/// The span kind named `name` (case-insensitive) in the `rules` syntax.
pub(crate) fn kind_from_name(name: &str) -> Option<SpanKind> {
    [
        ("client", SpanKind::Client),
        ("server", SpanKind::Server),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ]
    .into_iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(name))
    .map(|(_, kind)| kind)
}

fn value_matches(value: &Value, pattern: &Pattern) -> bool {
    match value {
        Value::String(s) => pattern.matches(s.as_str()),
        Value::Bool(b) => pattern.matches(if *b { "true" } else { "false" }),
        Value::I64(i) => {
            StackText::format(format_args!("{i}")).is_some_and(|t| pattern.matches(t.as_str()))
        }
        Value::F64(x) => {
            StackText::format(format_args!("{x}")).is_some_and(|t| pattern.matches(t.as_str()))
        }
        _ => false,
    }
}

/// A small text buffer on the stack, so numbers are compared as text without
/// allocating. Text that does not fit is refused (and then matches nothing).
struct StackText {
    buf: [u8; 64],
    len: usize,
}

impl StackText {
    fn format(args: fmt::Arguments<'_>) -> Option<Self> {
        let mut text = Self {
            buf: [0; 64],
            len: 0,
        };
        text.write_fmt(args).ok()?;
        Some(text)
    }

    fn as_str(&self) -> &str {
        // Only whole `str`s are ever copied in, so this is valid UTF-8.
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// What a [`Rule`] decides for the spans it matches.
///
/// Two [`RuleAction::Sampler`] values are never equal (a custom sampler cannot be
/// compared); the other variants compare by value.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RuleAction {
    /// Record and sample (`always` in the `rules` syntax).
    Always,
    /// Drop (`never` in the `rules` syntax).
    Never,
    /// Keep this fraction of traces, decided from the trace id exactly like the
    /// SDK's `Sampler::TraceIdRatioBased`, so every service with the same ratio
    /// keeps the same traces. `>= 1` keeps all; `<= 0` (or NaN) keeps none.
    Ratio(f64),
    /// Keep at most about this many spans per second (a [`RateLimitingSampler`]
    /// with the default burst, created when the [`RuleSampler`] is built and
    /// shared by its clones).
    RateLimit(f64),
    /// Let another sampler decide; its result is returned as is.
    Sampler(Box<dyn ShouldSample>),
}

impl PartialEq for RuleAction {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Always, Self::Always) | (Self::Never, Self::Never) => true,
            (Self::Ratio(a), Self::Ratio(b)) | (Self::RateLimit(a), Self::RateLimit(b)) => a == b,
            _ => false,
        }
    }
}

/// The `rules` syntax form: `always`, `never`, `0.25`, `100/s`; a custom sampler
/// is shown as `<custom>`.
impl fmt::Display for RuleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Always => f.write_str("always"),
            Self::Never => f.write_str("never"),
            Self::Ratio(ratio) => write!(f, "{ratio}"),
            Self::RateLimit(per_second) => write!(f, "{per_second}/s"),
            Self::Sampler(_) => f.write_str("<custom>"),
        }
    }
}

/// One rule of a [`RuleSampler`]: the spans it applies to and what it decides.
///
/// Displayed in the `rules` syntax of [`SamplerSpec`](super::SamplerSpec):
///
/// ```
/// use opentelemetry::trace::SpanKind;
/// use otel_kit_core::sampling::{Rule, RuleAction, SpanMatcher};
///
/// let rule = Rule::new(
///     SpanMatcher::any().kind(SpanKind::Server).attribute("http.route", "/users/{id}"),
///     RuleAction::Ratio(0.5),
/// );
/// assert_eq!(rule.to_string(), "kind=server,attr.http.route=/users/{id}:0.5");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Rule {
    /// The spans the rule applies to.
    pub matcher: SpanMatcher,
    /// The decision for those spans.
    pub action: RuleAction,
}

impl Rule {
    /// A rule deciding `action` for the spans that `matcher` matches.
    pub fn new(matcher: SpanMatcher, action: RuleAction) -> Self {
        Self { matcher, action }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.matcher, self.action)
    }
}

/// A sampler deciding by ordered rules: the first rule whose [`SpanMatcher`]
/// matches the span (name, kind, creation attributes) decides with its
/// [`RuleAction`]; when none matches, the default action decides
/// ([`RuleAction::Always`] unless set).
///
/// The rules judge every span the sampler is asked about and do not look at the
/// parent. Wrap the sampler in a parent-based sampler
/// ([`RuleSampler::parent_based`], `Sampler::ParentBased(Box::new(rules))`, or
/// `parentbased_rules` in the environment) so that only root spans are judged
/// and children follow their parent's decision: the usual choice, since a rule
/// dropping a child of a kept span leaves a hole in the trace.
///
/// A decision allocates nothing (beyond the parent's trace state, copied into
/// the result as the SDK samplers do) and takes no lock; clones share the rules
/// and the rate limiters.
///
/// ```
/// use opentelemetry::{KeyValue, trace::{SpanKind, TraceId}};
/// use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample};
/// use otel_kit_core::sampling::{RuleAction, RuleSampler, SpanMatcher};
///
/// let sampler = RuleSampler::builder()
///     .rule(SpanMatcher::any().name("GET /health*"), RuleAction::Never)
///     .rule(SpanMatcher::any().attribute("http.route", "/users/{id}"), RuleAction::Ratio(0.5))
///     .rule(SpanMatcher::any().kind(SpanKind::Consumer), RuleAction::RateLimit(10.0))
///     .default_action(RuleAction::Ratio(0.1))
///     .build();
///
/// let decide = |name: &str, attributes: &[KeyValue]| {
///     sampler
///         .should_sample(None, TraceId::from(7), name, &SpanKind::Server, attributes, &[])
///         .decision
/// };
/// assert_eq!(decide("GET /healthz", &[]), SamplingDecision::Drop);
///
/// // Usually only root spans are judged by the rules:
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
///     .with_sampler(sampler.parent_based())
///     .build();
/// # drop(provider);
/// ```
#[derive(Clone, Debug)]
pub struct RuleSampler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rules: Vec<Rule>,
    /// `deciders[i]` decides for `rules[i]`.
    deciders: Vec<Decider>,
    default_action: RuleAction,
    default: Decider,
}

/// A [`RuleAction`] ready to decide.
#[derive(Debug)]
enum Decider {
    Fixed(SamplingDecision),
    Ratio(f64),
    Delegate(Box<dyn ShouldSample>),
}

impl Decider {
    fn new(action: &RuleAction) -> Self {
        match action {
            RuleAction::Always => Self::Fixed(SamplingDecision::RecordAndSample),
            RuleAction::Never => Self::Fixed(SamplingDecision::Drop),
            RuleAction::Ratio(ratio) => Self::Ratio(*ratio),
            RuleAction::RateLimit(per_second) => {
                Self::Delegate(Box::new(RateLimitingSampler::new(*per_second)))
            }
            RuleAction::Sampler(sampler) => Self::Delegate(sampler.clone()),
        }
    }
}

impl RuleSampler {
    /// A builder with no rule and [`RuleAction::Always`] as the default.
    pub fn builder() -> RuleSamplerBuilder {
        RuleSamplerBuilder::default()
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.inner.rules
    }

    /// The action when no rule matches.
    pub fn default_action(&self) -> &RuleAction {
        &self.inner.default_action
    }

    /// Wraps this sampler so that it judges only root spans; a span with a valid
    /// parent follows the parent's sampled flag (the SDK's spec-compliant
    /// [`ParentBasedSampler`]).
    pub fn parent_based(self) -> ParentBasedSampler {
        Sampler::parent_based(self)
    }
}

/// The `rules` syntax form: the rules separated by `;`, then `*:DEFAULT` when the
/// default action is not `always`.
impl fmt::Display for RuleSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for rule in &self.inner.rules {
            write!(f, "{sep}{rule}")?;
            sep = ";";
        }
        if !matches!(self.inner.default_action, RuleAction::Always) {
            write!(f, "{sep}*:{}", self.inner.default_action)?;
        }
        Ok(())
    }
}

impl ShouldSample for RuleSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let inner = &*self.inner;
        let decider = inner
            .rules
            .iter()
            .position(|rule| rule.matcher.matches(name, span_kind, attributes))
            .and_then(|at| inner.deciders.get(at))
            .unwrap_or(&inner.default);
        match decider {
            Decider::Fixed(decision) => result_for(decision.clone(), parent_context),
            Decider::Ratio(ratio) => {
                result_for(trace_id_ratio_decision(*ratio, trace_id), parent_context)
            }
            Decider::Delegate(sampler) => {
                sampler.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
            }
        }
    }
}

/// Builds a [`RuleSampler`]; see there for an example.
#[derive(Clone, Debug)]
pub struct RuleSamplerBuilder {
    rules: Vec<Rule>,
    default_action: RuleAction,
}

impl Default for RuleSamplerBuilder {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            default_action: RuleAction::Always,
        }
    }
}

impl RuleSamplerBuilder {
    /// Appends a rule: spans matching `matcher` (and no earlier rule) are decided
    /// by `action`.
    pub fn rule(self, matcher: SpanMatcher, action: RuleAction) -> Self {
        self.push(Rule::new(matcher, action))
    }

    /// Appends a rule.
    pub fn push(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Appends rules, in order.
    pub fn rules(mut self, rules: impl IntoIterator<Item = Rule>) -> Self {
        self.rules.extend(rules);
        self
    }

    /// The action when no rule matches (default [`RuleAction::Always`]).
    pub fn default_action(mut self, action: RuleAction) -> Self {
        self.default_action = action;
        self
    }

    /// Builds the sampler (rate limiters start with a full burst).
    pub fn build(self) -> RuleSampler {
        let deciders = self
            .rules
            .iter()
            .map(|rule| Decider::new(&rule.action))
            .collect();
        let default = Decider::new(&self.default_action);
        RuleSampler {
            inner: Arc::new(Inner {
                rules: self.rules,
                deciders,
                default_action: self.default_action,
                default,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::test_support::{remote_parent, trace_ids};
    use opentelemetry::trace::TraceState;

    const KEEP: SamplingDecision = SamplingDecision::RecordAndSample;
    const DROP: SamplingDecision = SamplingDecision::Drop;

    fn decide(
        sampler: &RuleSampler,
        name: &str,
        kind: SpanKind,
        attributes: &[KeyValue],
    ) -> SamplingDecision {
        sampler
            .should_sample(None, TraceId::from(1), name, &kind, attributes, &[])
            .decision
    }

    /// A sampler tagging its decisions with an attribute, to see which rule decided.
    #[derive(Clone, Debug)]
    struct Tag(&'static str);

    impl ShouldSample for Tag {
        fn should_sample(
            &self,
            _: Option<&Context>,
            _: TraceId,
            _: &str,
            _: &SpanKind,
            _: &[KeyValue],
            _: &[Link],
        ) -> SamplingResult {
            SamplingResult {
                decision: KEEP,
                attributes: vec![KeyValue::new("rule", self.0)],
                trace_state: TraceState::NONE,
            }
        }
    }

    fn which(sampler: &RuleSampler, name: &str, kind: SpanKind, attrs: &[KeyValue]) -> String {
        let result = sampler.should_sample(None, TraceId::from(1), name, &kind, attrs, &[]);
        match result.attributes.first() {
            Some(kv) => kv.value.as_str().into_owned(),
            None => format!("{:?}", result.decision),
        }
    }

    fn tag(name: &'static str) -> RuleAction {
        RuleAction::Sampler(Box::new(Tag(name)))
    }

    #[test]
    fn first_matching_rule_wins_and_default_applies_otherwise() {
        let sampler = RuleSampler::builder()
            .rule(SpanMatcher::any().name("GET /health"), tag("health"))
            .rule(SpanMatcher::any().name("GET *"), tag("get"))
            .rule(SpanMatcher::any().name("GET /health"), tag("unreachable"))
            .rule(SpanMatcher::any().kind(SpanKind::Consumer), tag("consumer"))
            .default_action(tag("default"))
            .build();
        let s = SpanKind::Server;
        assert_eq!(which(&sampler, "GET /health", s.clone(), &[]), "health");
        assert_eq!(which(&sampler, "GET /users", s.clone(), &[]), "get");
        assert_eq!(
            which(&sampler, "GET /users", SpanKind::Consumer, &[]),
            "get"
        );
        assert_eq!(
            which(&sampler, "orders process", SpanKind::Consumer, &[]),
            "consumer"
        );
        assert_eq!(which(&sampler, "POST /users", s, &[]), "default");
    }

    #[test]
    fn default_default_is_always_and_empty_sampler_keeps_everything() {
        let sampler = RuleSampler::builder().build();
        assert_eq!(decide(&sampler, "x", SpanKind::Internal, &[]), KEEP);
        assert_eq!(sampler.default_action(), &RuleAction::Always);
        let never = RuleSampler::builder()
            .default_action(RuleAction::Never)
            .build();
        assert_eq!(decide(&never, "x", SpanKind::Internal, &[]), DROP);
    }

    #[test]
    fn kind_matching_accepts_any_of_the_kinds_given() {
        let sampler = RuleSampler::builder()
            .rule(
                SpanMatcher::any()
                    .kind(SpanKind::Producer)
                    .kind(SpanKind::Consumer),
                RuleAction::Never,
            )
            .build();
        for (kind, expected) in [
            (SpanKind::Producer, DROP),
            (SpanKind::Consumer, DROP),
            (SpanKind::Server, KEEP),
            (SpanKind::Client, KEEP),
            (SpanKind::Internal, KEEP),
        ] {
            assert_eq!(
                decide(&sampler, "orders send", kind.clone(), &[]),
                expected,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn attribute_matching_table() {
        let route = SpanMatcher::any().attribute("http.route", "/health");
        let prefix =
            SpanMatcher::any().attribute_pattern("url.path", Pattern::prefix("/internal/"));
        let port = SpanMatcher::any().attribute("server.port", "8080");
        let flag = SpanMatcher::any().attribute("feature.beta", "true");
        let ratio = SpanMatcher::any().attribute("x.ratio", "0.5");
        let both = SpanMatcher::any()
            .attribute("http.request.method", "GET")
            .attribute("url.path", "/api/*");
        fn kv(key: &'static str, value: impl Into<Value>) -> KeyValue {
            KeyValue::new(key, value)
        }
        #[rustfmt::skip]
        let cases: Vec<(&SpanMatcher, Vec<KeyValue>, bool)> = vec![
            (&route, vec![kv("http.route", "/health")], true),
            (&route, vec![kv("http.route", "/healthz")], false),
            (&route, vec![kv("url.path", "/health")], false),
            (&route, vec![], false),
            (&route, vec![kv("a", "b"), kv("http.route", "/health")], true),
            (&prefix, vec![kv("url.path", "/internal/metrics")], true),
            (&prefix, vec![kv("url.path", "/internal")], false),
            (&port, vec![kv("server.port", 8080_i64)], true),
            (&port, vec![kv("server.port", 8081_i64)], false),
            (&port, vec![kv("server.port", "8080")], true),
            (&flag, vec![kv("feature.beta", true)], true),
            (&flag, vec![kv("feature.beta", false)], false),
            (&ratio, vec![kv("x.ratio", 0.5)], true),
            (&ratio, vec![kv("x.ratio", 1e300)], false), // too long to format: no match
            (&port, vec![kv("server.port", Value::Array(vec![8080_i64].into()))], false),
            (&both, vec![kv("http.request.method", "GET"), kv("url.path", "/api/x")], true),
            (&both, vec![kv("http.request.method", "POST"), kv("url.path", "/api/x")], false),
            (&both, vec![kv("http.request.method", "GET")], false),
        ];
        for (matcher, attributes, expected) in cases {
            assert_eq!(
                matcher.matches("span", &SpanKind::Server, &attributes),
                expected,
                "{matcher} against {attributes:?}"
            );
        }
    }

    #[test]
    fn all_conditions_of_a_rule_must_hold() {
        let matcher = SpanMatcher::any()
            .name("GET /users/*")
            .kind(SpanKind::Server)
            .attribute("http.route", "/users/{id}");
        let attrs = [KeyValue::new("http.route", "/users/{id}")];
        assert!(matcher.matches("GET /users/{id}", &SpanKind::Server, &attrs));
        assert!(!matcher.matches("POST /users/{id}", &SpanKind::Server, &attrs));
        assert!(!matcher.matches("GET /users/{id}", &SpanKind::Client, &attrs));
        assert!(!matcher.matches("GET /users/{id}", &SpanKind::Server, &[]));
        assert!(SpanMatcher::any().matches("", &SpanKind::Internal, &[]));
    }

    #[test]
    fn ratio_rule_is_consistent_per_trace_id() {
        let sampler = RuleSampler::builder()
            .rule(
                SpanMatcher::any().kind(SpanKind::Server),
                RuleAction::Ratio(0.3),
            )
            .build();
        let sdk = Sampler::TraceIdRatioBased(0.3);
        let mut kept = 0;
        for trace_id in trace_ids(5_000) {
            let first = sampler
                .should_sample(None, trace_id, "a", &SpanKind::Server, &[], &[])
                .decision;
            // Same trace, another span name: same decision; and the SDK agrees.
            let again = sampler
                .should_sample(None, trace_id, "b", &SpanKind::Server, &[], &[])
                .decision;
            let expected = sdk
                .should_sample(None, trace_id, "a", &SpanKind::Server, &[], &[])
                .decision;
            assert_eq!(first, again);
            assert_eq!(first, expected);
            kept += usize::from(first == KEEP);
        }
        assert!(
            (1_300..=1_700).contains(&kept),
            "kept {kept} of 5000 at 0.3"
        );
    }

    #[test]
    fn rate_limit_rule_is_shared_by_clones() {
        // Burst of 3 at 1e-9/s: exactly 3 kept in the test, across clones.
        let sampler = RuleSampler::builder()
            .rule(
                SpanMatcher::any(),
                RuleAction::Sampler(Box::new(RateLimitingSampler::with_burst(1e-9, 3.0))),
            )
            .build();
        let clone = sampler.clone();
        let kept = (0..10)
            .flat_map(|_| [&sampler, &clone])
            .filter(|s| decide(s, "x", SpanKind::Internal, &[]) == KEEP)
            .count();
        assert_eq!(kept, 3);

        let limited = RuleSampler::builder()
            .rule(SpanMatcher::any(), RuleAction::RateLimit(2.0))
            .build();
        let kept = (0..10)
            .filter(|_| decide(&limited, "x", SpanKind::Internal, &[]) == KEEP)
            .count();
        // Default burst = 2 tokens; the test runs far faster than 0.5 s per token
        // only in the best case, so allow the refill of a slow machine.
        assert!((2..=10).contains(&kept), "kept {kept}");
    }

    #[test]
    fn results_keep_the_parent_trace_state() {
        let state = TraceState::from_key_value([("rojo", "00f067aa0ba902b7")]).unwrap();
        let parent = remote_parent(true, state.clone());
        let sampler = RuleSampler::builder()
            .rule(SpanMatcher::any().name("drop"), RuleAction::Never)
            .rule(SpanMatcher::any().name("ratio"), RuleAction::Ratio(0.5))
            .build();
        for name in ["drop", "ratio", "default"] {
            let result = sampler.should_sample(
                Some(&parent),
                TraceId::from(3),
                name,
                &SpanKind::Internal,
                &[],
                &[],
            );
            assert_eq!(result.trace_state, state, "{name}");
            assert!(result.attributes.is_empty());
        }
    }

    #[test]
    fn parent_based_wrapping_follows_the_parent() {
        let rules = RuleSampler::builder()
            .rule(SpanMatcher::any().name("GET /health"), RuleAction::Never)
            .default_action(RuleAction::Always)
            .build();
        let wrapped = [
            Box::new(rules.clone().parent_based()) as Box<dyn ShouldSample>,
            Box::new(Sampler::ParentBased(Box::new(rules))),
        ];
        for sampler in &wrapped {
            let run = |parent: Option<&Context>, name: &str| {
                sampler
                    .should_sample(parent, TraceId::from(5), name, &SpanKind::Server, &[], &[])
                    .decision
            };
            // Root spans are judged by the rules.
            assert_eq!(run(None, "GET /health"), DROP);
            assert_eq!(run(None, "GET /users"), KEEP);
            assert_eq!(run(Some(&Context::new()), "GET /health"), DROP);
            // Children follow their parent.
            let sampled = remote_parent(true, TraceState::NONE);
            let unsampled = remote_parent(false, TraceState::NONE);
            assert_eq!(run(Some(&sampled), "GET /health"), KEEP);
            assert_eq!(run(Some(&unsampled), "GET /users"), DROP);
        }
    }

    #[test]
    fn display_uses_the_rules_syntax() {
        let sampler = RuleSampler::builder()
            .rule(SpanMatcher::any().name("GET /health*"), RuleAction::Never)
            .rule(
                SpanMatcher::any()
                    .kind(SpanKind::Consumer)
                    .kind(SpanKind::Server)
                    .attribute("a=b", "x,y"),
                RuleAction::RateLimit(2.5),
            )
            .rule(SpanMatcher::any(), tag("t"))
            .default_action(RuleAction::Ratio(0.1))
            .build();
        assert_eq!(
            sampler.to_string(),
            "name=GET /health*:never;kind=server|consumer,attr.a\\=b=x\\,y:2.5/s;*:<custom>;*:0.1"
        );
        assert_eq!(RuleSampler::builder().build().to_string(), "");
    }

    #[test]
    fn ratio_and_rate_limit_actions_compare_by_value() {
        assert_eq!(RuleAction::Ratio(0.5), RuleAction::Ratio(0.5));
        assert_ne!(RuleAction::Ratio(0.5), RuleAction::RateLimit(0.5));
        assert_ne!(tag("a"), tag("a"));
        assert_ne!(RuleAction::Always, RuleAction::Never);
    }
}
