use std::fmt;

use opentelemetry_sdk::trace::{ParentBasedSampler, Sampler, ShouldSample};

use super::rule::kind_from_name;
use super::{
    ForceKeepSampler, Pattern, RateLimitingSampler, Rule, RuleAction, RuleSampler, SpanMatcher,
};

/// The environment variable naming the sampler.
const SAMPLER_VAR: &str = "OTEL_TRACES_SAMPLER";
/// The environment variable holding the sampler's argument.
const ARG_VAR: &str = "OTEL_TRACES_SAMPLER_ARG";

/// The default rate of `ratelimiting` / `parentbased_ratelimiting`, in traces per
/// second, when `OTEL_TRACES_SAMPLER_ARG` is unset.
pub const DEFAULT_RATE_LIMIT: f64 = 100.0;

/// The sampler that decides for root spans (or for every span when the spec is
/// not parent-based).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RootSampler {
    /// Keep everything (`always_on`).
    AlwaysOn,
    /// Keep nothing (`always_off`).
    AlwaysOff,
    /// Keep this fraction of traces, by trace id (`traceidratio`, the SDK's
    /// `Sampler::TraceIdRatioBased`).
    TraceIdRatio(f64),
    /// Keep about this many per second (`ratelimiting`, a
    /// [`RateLimitingSampler`] with the default burst).
    RateLimiting(f64),
    /// Decide by rules, first match wins, keep when none matches (`rules`, a
    /// [`RuleSampler`]).
    Rules(Vec<Rule>),
}

/// A sampler configuration: the typed form of `OTEL_TRACES_SAMPLER` and
/// `OTEL_TRACES_SAMPLER_ARG`, which [`SamplerSpec::build`] turns into a sampler.
///
/// # Values
///
/// Sampler names are case-insensitive and may have surrounding whitespace; an
/// empty variable counts as unset. The argument is used only when
/// `OTEL_TRACES_SAMPLER` is set, and ignored by the samplers that take none.
///
/// | `OTEL_TRACES_SAMPLER` | `OTEL_TRACES_SAMPLER_ARG` |
/// |---|---|
/// | `always_on`, `always_off` | – |
/// | `parentbased_always_on` (the default), `parentbased_always_off` | – |
/// | `traceidratio`, `parentbased_traceidratio` | probability in [0, 1]; default 1.0 |
/// | `ratelimiting`, `parentbased_ratelimiting` (ours) | traces per second, a number ≥ 0, optionally followed by `/s`; default 100 |
/// | `rules`, `parentbased_rules` (ours) | a rule list (below); default: no rule, keep everything |
/// | `jaeger_remote`, `parentbased_jaeger_remote`, `xray` | not supported: [`SamplerSpecError::UnsupportedSampler`] |
///
/// `parentbased_X` judges root spans with `X` and lets every span with a valid
/// parent follow the parent's sampled flag (the SDK's [`ParentBasedSampler`]).
/// Without the prefix, `X` judges every span: with `ratelimiting` each span
/// then uses a token and with `rules` a child span may be dropped under a kept
/// parent, so the `parentbased_` forms are the usual choice.
///
/// **Force-keep:** every sampler built from a spec is wrapped in a
/// [`ForceKeepSampler`], so a span whose parent context carries the
/// [`ForceKeep`](super::ForceKeep) marker (B3 / Jaeger debug flag, force-trace
/// header) is kept whatever the sampler says. Set [`SamplerSpec::force_keep`] to
/// `false` (or call [`SamplerSpec::with_force_keep`]) to turn that off.
///
/// # Rule list syntax (`rules`, `parentbased_rules`)
///
/// ```text
/// name=GET /health*:never; attr.http.route=/users/{id}:0.5; kind=consumer:10/s; *:0.1
/// ```
///
/// - Rules are separated by `;` and tried in order; the first whose conditions
///   all hold decides. When none matches, the span is kept: end the list with
///   `*:DECISION` to choose another default.
/// - A rule is `CONDITIONS:DECISION`, split at the **last** `:`, so values may
///   contain colons (`attr.url.full=http://a:8080/*:0`).
/// - `CONDITIONS` is `*` (every span) or a `,`-separated list of
///   - `name=PATTERN`: the span name;
///   - `kind=KIND|KIND…`: any of `client`, `server`, `producer`, `consumer`,
///     `internal` (case-insensitive);
///   - `attr.KEY=PATTERN`: an attribute given at span creation (non-string
///     values compare by their text, e.g. `attr.server.port=8080`); several
///     `attr.` conditions must all hold.
///
///   Each of `name` and `kind` may appear once per rule. A condition is split at
///   its **first** `=`, so values may contain `=`.
/// - `PATTERN` is exact text in which `*` matches any run of characters
///   (`GET /health*`, `*/admin/*`).
/// - `DECISION` is `always`, `never`, a probability in [0, 1] (by trace id, as
///   `traceidratio`) or a rate `N/s` (at most about N per second).
/// - `\` makes the next character literal: write `\;`, `\,`, `\*`, `\|`, `\=`
///   (in a key) and `\\` for those characters, and `\ ` for a space at either end
///   of a value. Whitespace around names, values and decisions is ignored;
///   keywords are case-insensitive, attribute keys and values are not. Empty
///   rules (`;;`, a trailing `;`) are ignored.
///
/// An invalid list is rejected as a whole
/// ([`SamplerSpecError::InvalidArgument`] naming the rule), never half applied.
///
/// # Example
///
/// ```
/// use otel_kit_core::sampling::{RootSampler, SamplerSpec, SamplerSpecError};
///
/// let spec = SamplerSpec::from_env_values(Some("parentbased_traceidratio"), Some("0.25"))?;
/// assert_eq!(spec.root, RootSampler::TraceIdRatio(0.25));
/// assert_eq!(spec.to_string(), "parentbased_traceidratio(0.25) + force-keep");
/// let sampler = spec.build();
/// # drop(sampler);
///
/// // An invalid argument: report the error, then use the fallback.
/// let err = SamplerSpec::from_env_values(Some("traceidratio"), Some("1.5")).unwrap_err();
/// assert_eq!(err.variable(), "OTEL_TRACES_SAMPLER_ARG");
/// assert_eq!(err.fallback().root, RootSampler::TraceIdRatio(1.0));
/// # Ok::<(), SamplerSpecError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SamplerSpec {
    /// The sampler for root spans (for every span when not `parent_based`).
    pub root: RootSampler,
    /// Whether spans with a valid parent follow the parent's sampled flag.
    pub parent_based: bool,
    /// Whether the built sampler keeps every span whose parent context carries
    /// the [`ForceKeep`](super::ForceKeep) marker (default `true`).
    pub force_keep: bool,
    /// With `parent_based`: the samplers for spans with a parent, where they
    /// differ from the specification's defaults (the configuration file's
    /// `parent_based` branches; the environment cannot set them).
    pub branches: ParentBranches,
}

/// The samplers a parent-based sampler uses for spans that have a parent;
/// `None` keeps the default (follow the parent: keep under a sampled parent,
/// drop under an unsampled one).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ParentBranches {
    /// A remote parent that was sampled (default `always_on`).
    pub remote_parent_sampled: Option<RootSampler>,
    /// A remote parent that was not sampled (default `always_off`).
    pub remote_parent_not_sampled: Option<RootSampler>,
    /// A local parent that was sampled (default `always_on`).
    pub local_parent_sampled: Option<RootSampler>,
    /// A local parent that was not sampled (default `always_off`).
    pub local_parent_not_sampled: Option<RootSampler>,
}

impl ParentBranches {
    /// The branches by name, in the configuration file's order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Option<&RootSampler>)> {
        [
            ("remote_parent_sampled", self.remote_parent_sampled.as_ref()),
            (
                "remote_parent_not_sampled",
                self.remote_parent_not_sampled.as_ref(),
            ),
            ("local_parent_sampled", self.local_parent_sampled.as_ref()),
            (
                "local_parent_not_sampled",
                self.local_parent_not_sampled.as_ref(),
            ),
        ]
        .into_iter()
    }

    /// Whether a branch differs from the default: `always_on` under a
    /// sampled parent, `always_off` under an unsampled one.
    pub fn is_default(&self) -> bool {
        self.iter().all(|(name, s)| match s {
            None => true,
            Some(RootSampler::AlwaysOn) => name.ends_with("_parent_sampled"),
            Some(RootSampler::AlwaysOff) => name.ends_with("_not_sampled"),
            Some(_) => false,
        })
    }
}

impl RootSampler {
    /// Builds this sampler on its own (no parent logic, no force-keep).
    pub fn build(&self) -> Box<dyn ShouldSample> {
        match self {
            RootSampler::AlwaysOn => Box::new(Sampler::AlwaysOn),
            RootSampler::AlwaysOff => Box::new(Sampler::AlwaysOff),
            RootSampler::TraceIdRatio(ratio) => Box::new(Sampler::TraceIdRatioBased(*ratio)),
            RootSampler::RateLimiting(per_second) => {
                Box::new(RateLimitingSampler::new(*per_second))
            }
            RootSampler::Rules(rules) => {
                Box::new(RuleSampler::builder().rules(rules.iter().cloned()).build())
            }
        }
    }

    /// The name and argument, e.g. `traceidratio(0.25)`.
    fn text(&self) -> String {
        let spec = SamplerSpec::new(self.clone(), false);
        match spec.arg() {
            Some(arg) => format!("{}({arg})", spec.name()),
            None => spec.name().to_owned(),
        }
    }
}

impl Default for SamplerSpec {
    /// `parentbased_always_on` with force-keep, the spec's default.
    fn default() -> Self {
        Self::new(RootSampler::AlwaysOn, true)
    }
}

impl SamplerSpec {
    /// A spec with `root`, parent-based or not, with force-keep on.
    pub fn new(root: RootSampler, parent_based: bool) -> Self {
        Self {
            root,
            parent_based,
            force_keep: true,
            branches: ParentBranches::default(),
        }
    }

    /// Turns the force-keep wrapping on or off.
    pub fn with_force_keep(mut self, force_keep: bool) -> Self {
        self.force_keep = force_keep;
        self
    }

    /// Parses the values of `OTEL_TRACES_SAMPLER` (`sampler`) and
    /// `OTEL_TRACES_SAMPLER_ARG` (`arg`), `None` meaning unset. See the type's
    /// documentation for the values.
    ///
    /// On error, report it (its `Display` names the variable and the value) and
    /// use [`SamplerSpecError::fallback`], which is what the specification asks
    /// for: the default sampler for an unknown or unsupported name, the same
    /// sampler with its default argument for an invalid argument.
    pub fn from_env_values(
        sampler: Option<&str>,
        arg: Option<&str>,
    ) -> Result<Self, SamplerSpecError> {
        let Some(name) = sampler.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Self::default());
        };
        let arg = arg.map(str::trim).filter(|s| !s.is_empty());
        let lower = name.to_ascii_lowercase();
        let (parent_based, base) = match lower.strip_prefix("parentbased_") {
            Some(base) => (true, base),
            None => (false, lower.as_str()),
        };
        let canonical = |root: &'static str, parent: &'static str| {
            if parent_based { parent } else { root }
        };
        let invalid = |sampler: &'static str, value: &str, reason: String| {
            SamplerSpecError::InvalidArgument {
                sampler,
                value: value.to_owned(),
                reason,
            }
        };
        let root = match base {
            "always_on" => RootSampler::AlwaysOn,
            "always_off" => RootSampler::AlwaysOff,
            "traceidratio" => match arg {
                None => RootSampler::TraceIdRatio(1.0),
                Some(arg) => {
                    RootSampler::TraceIdRatio(parse_probability(arg).map_err(|reason| {
                        invalid(
                            canonical("traceidratio", "parentbased_traceidratio"),
                            arg,
                            reason,
                        )
                    })?)
                }
            },
            "ratelimiting" => match arg {
                None => RootSampler::RateLimiting(DEFAULT_RATE_LIMIT),
                Some(arg) => RootSampler::RateLimiting(parse_rate(arg).map_err(|reason| {
                    invalid(
                        canonical("ratelimiting", "parentbased_ratelimiting"),
                        arg,
                        reason,
                    )
                })?),
            },
            "rules" => match arg {
                None => RootSampler::Rules(Vec::new()),
                Some(arg) => RootSampler::Rules(parse_rules(arg).map_err(|reason| {
                    invalid(canonical("rules", "parentbased_rules"), arg, reason)
                })?),
            },
            // `xray` has no parent-based form in the specification.
            "jaeger_remote" | "xray" if base == "jaeger_remote" || !parent_based => {
                return Err(SamplerSpecError::UnsupportedSampler {
                    value: name.to_owned(),
                });
            }
            _ => {
                return Err(SamplerSpecError::UnknownSampler {
                    value: name.to_owned(),
                });
            }
        };
        Ok(Self::new(root, parent_based))
    }

    /// The `OTEL_TRACES_SAMPLER` value of this spec, e.g.
    /// `parentbased_traceidratio`.
    pub fn name(&self) -> &'static str {
        match (&self.root, self.parent_based) {
            (RootSampler::AlwaysOn, false) => "always_on",
            (RootSampler::AlwaysOn, true) => "parentbased_always_on",
            (RootSampler::AlwaysOff, false) => "always_off",
            (RootSampler::AlwaysOff, true) => "parentbased_always_off",
            (RootSampler::TraceIdRatio(_), false) => "traceidratio",
            (RootSampler::TraceIdRatio(_), true) => "parentbased_traceidratio",
            (RootSampler::RateLimiting(_), false) => "ratelimiting",
            (RootSampler::RateLimiting(_), true) => "parentbased_ratelimiting",
            (RootSampler::Rules(_), false) => "rules",
            (RootSampler::Rules(_), true) => "parentbased_rules",
        }
    }

    /// The `OTEL_TRACES_SAMPLER_ARG` value of this spec, if it takes one; parsing
    /// [`name`](Self::name) and this argument gives this spec back (except
    /// `force_keep`, and rules with a custom sampler, shown as `<custom>`).
    pub fn arg(&self) -> Option<String> {
        match &self.root {
            RootSampler::AlwaysOn | RootSampler::AlwaysOff => None,
            RootSampler::TraceIdRatio(ratio) => Some(ratio.to_string()),
            RootSampler::RateLimiting(per_second) => Some(per_second.to_string()),
            RootSampler::Rules(rules) if rules.is_empty() => None,
            RootSampler::Rules(rules) => {
                let texts: Vec<String> = rules.iter().map(Rule::to_string).collect();
                Some(texts.join(";"))
            }
        }
    }

    /// Builds the sampler: the root sampler, inside the SDK's
    /// [`ParentBasedSampler`] when `parent_based`, inside a [`ForceKeepSampler`]
    /// when `force_keep`. Each call creates fresh rate limiters.
    pub fn build(&self) -> Box<dyn ShouldSample> {
        let root = self.root.build();
        let sampler = if self.parent_based {
            let mut parent = ParentBasedSampler::new(root);
            let b = &self.branches;
            if let Some(s) = &b.remote_parent_sampled {
                parent = parent.with_remote_parent_sampled(s.build());
            }
            if let Some(s) = &b.remote_parent_not_sampled {
                parent = parent.with_remote_parent_not_sampled(s.build());
            }
            if let Some(s) = &b.local_parent_sampled {
                parent = parent.with_local_parent_sampled(s.build());
            }
            if let Some(s) = &b.local_parent_not_sampled {
                parent = parent.with_local_parent_not_sampled(s.build());
            }
            Box::new(parent)
        } else {
            root
        };
        if self.force_keep {
            Box::new(ForceKeepSampler::new(sampler))
        } else {
            sampler
        }
    }
}

/// The effective configuration, e.g. `parentbased_traceidratio(0.25) +
/// force-keep` or `always_on`.
impl fmt::Display for SamplerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if let Some(arg) = self.arg() {
            write!(f, "({arg})")?;
        }
        if self.parent_based && !self.branches.is_default() {
            for (name, sampler) in self.branches.iter() {
                if let Some(s) = sampler {
                    write!(f, " {name}={}", s.text())?;
                }
            }
        }
        if self.force_keep {
            f.write_str(" + force-keep")?;
        }
        Ok(())
    }
}

/// Why `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` could not be used as
/// given. The `Display` names the variable and the value; use
/// [`SamplerSpecError::fallback`] after reporting it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SamplerSpecError {
    /// `OTEL_TRACES_SAMPLER` names no sampler known here.
    #[error(
        "OTEL_TRACES_SAMPLER={value:?} is not a known sampler (expected always_on, always_off, \
         traceidratio, ratelimiting or rules, each optionally prefixed with parentbased_)"
    )]
    UnknownSampler {
        /// The value of `OTEL_TRACES_SAMPLER`.
        value: String,
    },
    /// `OTEL_TRACES_SAMPLER` names a standard sampler this crate does not provide
    /// (`jaeger_remote`, `parentbased_jaeger_remote`, `xray`).
    #[error("OTEL_TRACES_SAMPLER={value:?} is not supported by this library")]
    UnsupportedSampler {
        /// The value of `OTEL_TRACES_SAMPLER`.
        value: String,
    },
    /// `OTEL_TRACES_SAMPLER_ARG` is not valid for the sampler.
    #[error(
        "OTEL_TRACES_SAMPLER_ARG={value:?} is invalid for OTEL_TRACES_SAMPLER={sampler}: {reason}"
    )]
    InvalidArgument {
        /// The sampler, as its canonical `OTEL_TRACES_SAMPLER` value.
        sampler: &'static str,
        /// The value of `OTEL_TRACES_SAMPLER_ARG`.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl SamplerSpecError {
    /// The environment variable at fault: `OTEL_TRACES_SAMPLER` or
    /// `OTEL_TRACES_SAMPLER_ARG`.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::UnknownSampler { .. } | Self::UnsupportedSampler { .. } => SAMPLER_VAR,
            Self::InvalidArgument { .. } => ARG_VAR,
        }
    }

    /// The offending value of [`variable`](Self::variable).
    pub fn value(&self) -> &str {
        match self {
            Self::UnknownSampler { value }
            | Self::UnsupportedSampler { value }
            | Self::InvalidArgument { value, .. } => value,
        }
    }

    /// The spec to use instead, as the specification asks: the default
    /// (`parentbased_always_on`) for an unknown or unsupported sampler; the same
    /// sampler with its default argument (as if the argument were unset) for an
    /// invalid argument.
    pub fn fallback(&self) -> SamplerSpec {
        match self {
            Self::UnknownSampler { .. } | Self::UnsupportedSampler { .. } => SamplerSpec::default(),
            Self::InvalidArgument { sampler, .. } => {
                SamplerSpec::from_env_values(Some(sampler), None).unwrap_or_default()
            }
        }
    }
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_probability(text: &str) -> Result<f64, String> {
    match parse_number(text) {
        Some(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err("expected a probability between 0 and 1".to_owned()),
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.trim();
    let number = number.strip_suffix("/s").unwrap_or(number);
    match parse_number(number) {
        Some(n) if n >= 0.0 => Ok(n),
        _ => Err("expected a number of traces per second (≥ 0), e.g. 100 or 100/s".to_owned()),
    }
}

/// One character of a rule list, and whether a `\` made it literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tok {
    c: char,
    escaped: bool,
}

impl Tok {
    fn is(self, c: char) -> bool {
        !self.escaped && self.c == c
    }
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let mut tokens = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let Some(next) = chars.next() else {
                return Err("ends with a lone `\\`".to_owned());
            };
            tokens.push(Tok {
                c: next,
                escaped: true,
            });
        } else {
            tokens.push(Tok { c, escaped: false });
        }
    }
    Ok(tokens)
}

/// Drops unescaped whitespace at both ends.
fn trim(mut tokens: &[Tok]) -> &[Tok] {
    let blank = |t: &Tok| !t.escaped && t.c.is_whitespace();
    while let [first, rest @ ..] = tokens {
        if !blank(first) {
            break;
        }
        tokens = rest;
    }
    while let [rest @ .., last] = tokens {
        if !blank(last) {
            break;
        }
        tokens = rest;
    }
    tokens
}

fn text(tokens: &[Tok]) -> String {
    tokens.iter().map(|t| t.c).collect()
}

fn split(tokens: &[Tok], sep: char) -> impl Iterator<Item = &[Tok]> {
    tokens.split(move |t| t.is(sep))
}

/// `tokens` before and after the first (or last) unescaped `sep`.
fn split_once(tokens: &[Tok], sep: char, last: bool) -> Option<(&[Tok], &[Tok])> {
    let at = if last {
        tokens.iter().rposition(|t| t.is(sep))?
    } else {
        tokens.iter().position(|t| t.is(sep))?
    };
    Some((&tokens[..at], &tokens[at + 1..]))
}

fn pattern(tokens: &[Tok]) -> Pattern {
    Pattern::from_parts(split(trim(tokens), '*').map(text))
}

pub(crate) fn parse_rules(arg: &str) -> Result<Vec<Rule>, String> {
    let tokens = tokenize(arg)?;
    let mut rules = Vec::new();
    for rule in split(&tokens, ';').map(trim).filter(|r| !r.is_empty()) {
        let number = rules.len() + 1;
        let parsed = parse_rule(rule)
            .map_err(|reason| format!("rule {number} `{}`: {reason}", text(rule)))?;
        rules.push(parsed);
    }
    Ok(rules)
}

fn parse_rule(rule: &[Tok]) -> Result<Rule, String> {
    let Some((conditions, decision)) = split_once(rule, ':', true) else {
        return Err("missing `:DECISION`".to_owned());
    };
    let action = parse_action(&text(trim(decision)))?;
    let conditions = trim(conditions);
    let matcher = match conditions {
        [] => return Err("no condition before `:` (write `*` to match every span)".to_owned()),
        [only] if only.is('*') => SpanMatcher::any(),
        _ => {
            let mut matcher = SpanMatcher::any();
            for condition in split(conditions, ',').map(trim) {
                matcher = add_condition(matcher, condition)?;
            }
            matcher
        }
    };
    Ok(Rule::new(matcher, action))
}

fn add_condition(matcher: SpanMatcher, condition: &[Tok]) -> Result<SpanMatcher, String> {
    if condition.is_empty() {
        return Err("empty condition".to_owned());
    }
    let Some((key, value)) = split_once(condition, '=', false) else {
        return Err(format!(
            "`{}` is not a condition (expected name=…, kind=… or attr.KEY=…; `*` only alone)",
            text(condition)
        ));
    };
    let key = text(trim(key));
    if key.eq_ignore_ascii_case("name") {
        if matcher.has_name() {
            return Err("`name` given twice".to_owned());
        }
        Ok(matcher.name_pattern(pattern(value)))
    } else if key.eq_ignore_ascii_case("kind") {
        if matcher.has_kinds() {
            return Err("`kind` given twice (write kind=a|b)".to_owned());
        }
        let mut matcher = matcher;
        for kind in split(value, '|').map(|k| text(trim(k))) {
            let Some(kind) = kind_from_name(&kind) else {
                return Err(format!(
                    "unknown span kind `{kind}` (expected client, server, producer, consumer or internal)"
                ));
            };
            matcher = matcher.kind(kind);
        }
        Ok(matcher)
    } else if let Some(attribute) = key
        .get(..5)
        .filter(|prefix| prefix.eq_ignore_ascii_case("attr."))
        .and_then(|_| key.get(5..))
    {
        if attribute.is_empty() {
            return Err("`attr.` needs an attribute key, e.g. attr.http.route=/health".to_owned());
        }
        Ok(matcher.attribute_pattern(attribute.to_owned(), pattern(value)))
    } else {
        Err(format!(
            "unknown condition `{key}` (expected name, kind or attr.KEY)"
        ))
    }
}

fn parse_action(decision: &str) -> Result<RuleAction, String> {
    if decision.eq_ignore_ascii_case("always") {
        return Ok(RuleAction::Always);
    }
    if decision.eq_ignore_ascii_case("never") {
        return Ok(RuleAction::Never);
    }
    if let Some(rate) = decision.strip_suffix("/s") {
        return match parse_number(rate) {
            Some(n) if n >= 0.0 => Ok(RuleAction::RateLimit(n)),
            _ => Err(format!(
                "`{decision}` is not a rate (expected N/s with N ≥ 0)"
            )),
        };
    }
    match parse_number(decision) {
        Some(p) if (0.0..=1.0).contains(&p) => Ok(RuleAction::Ratio(p)),
        _ => Err(format!(
            "`{decision}` is not a decision (expected always, never, a probability in [0, 1] \
             or a rate such as 10/s)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::test_support::remote_parent;
    use crate::sampling::with_force_keep;
    use opentelemetry::trace::{SpanKind, TraceId, TraceState};
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::trace::SamplingDecision;

    fn ok(sampler: Option<&str>, arg: Option<&str>) -> SamplerSpec {
        match SamplerSpec::from_env_values(sampler, arg) {
            Ok(spec) => spec,
            Err(err) => panic!("{sampler:?} / {arg:?}: {err}"),
        }
    }

    fn err(sampler: Option<&str>, arg: Option<&str>) -> SamplerSpecError {
        match SamplerSpec::from_env_values(sampler, arg) {
            Ok(spec) => panic!("{sampler:?} / {arg:?} parsed as {spec:?}"),
            Err(err) => err,
        }
    }

    #[test]
    fn valid_env_values_table() {
        use RootSampler::*;
        let rules = |s: &str| Rules(parse_rules(s).unwrap());
        #[rustfmt::skip]
        /// (sampler, arg, root, parent-based, display)
        type Case<'a> = (Option<&'a str>, Option<&'a str>, RootSampler, bool, &'a str);
        let cases: Vec<Case<'_>> = vec![
            (
                None,
                None,
                AlwaysOn,
                true,
                "parentbased_always_on + force-keep",
            ),
            (
                None,
                Some("0.5"),
                AlwaysOn,
                true,
                "parentbased_always_on + force-keep",
            ),
            (
                Some(""),
                None,
                AlwaysOn,
                true,
                "parentbased_always_on + force-keep",
            ),
            (
                Some("   "),
                Some("x"),
                AlwaysOn,
                true,
                "parentbased_always_on + force-keep",
            ),
            (
                Some("always_on"),
                None,
                AlwaysOn,
                false,
                "always_on + force-keep",
            ),
            (
                Some("always_on"),
                Some("ignored"),
                AlwaysOn,
                false,
                "always_on + force-keep",
            ),
            (
                Some("ALWAYS_ON"),
                None,
                AlwaysOn,
                false,
                "always_on + force-keep",
            ),
            (
                Some(" always_off "),
                None,
                AlwaysOff,
                false,
                "always_off + force-keep",
            ),
            (
                Some("parentbased_always_on"),
                None,
                AlwaysOn,
                true,
                "parentbased_always_on + force-keep",
            ),
            (
                Some("ParentBased_Always_Off"),
                None,
                AlwaysOff,
                true,
                "parentbased_always_off + force-keep",
            ),
            (
                Some("traceidratio"),
                None,
                TraceIdRatio(1.0),
                false,
                "traceidratio(1) + force-keep",
            ),
            (
                Some("traceidratio"),
                Some(""),
                TraceIdRatio(1.0),
                false,
                "traceidratio(1) + force-keep",
            ),
            (
                Some("traceidratio"),
                Some("0.25"),
                TraceIdRatio(0.25),
                false,
                "traceidratio(0.25) + force-keep",
            ),
            (
                Some("traceidratio"),
                Some(" 0 "),
                TraceIdRatio(0.0),
                false,
                "traceidratio(0) + force-keep",
            ),
            (
                Some("traceidratio"),
                Some("1"),
                TraceIdRatio(1.0),
                false,
                "traceidratio(1) + force-keep",
            ),
            (
                Some("traceidratio"),
                Some("1e-3"),
                TraceIdRatio(0.001),
                false,
                "traceidratio(0.001) + force-keep",
            ),
            (
                Some("parentbased_traceidratio"),
                Some(".5"),
                TraceIdRatio(0.5),
                true,
                "parentbased_traceidratio(0.5) + force-keep",
            ),
            (
                Some("parentbased_traceidratio"),
                None,
                TraceIdRatio(1.0),
                true,
                "parentbased_traceidratio(1) + force-keep",
            ),
            (
                Some("ratelimiting"),
                None,
                RateLimiting(100.0),
                false,
                "ratelimiting(100) + force-keep",
            ),
            (
                Some("ratelimiting"),
                Some("2.5"),
                RateLimiting(2.5),
                false,
                "ratelimiting(2.5) + force-keep",
            ),
            (
                Some("parentbased_ratelimiting"),
                Some("10/s"),
                RateLimiting(10.0),
                true,
                "parentbased_ratelimiting(10) + force-keep",
            ),
            (
                Some("parentbased_ratelimiting"),
                Some("0"),
                RateLimiting(0.0),
                true,
                "parentbased_ratelimiting(0) + force-keep",
            ),
            (
                Some("rules"),
                None,
                Rules(vec![]),
                false,
                "rules + force-keep",
            ),
            (
                Some("rules"),
                Some(" ; "),
                Rules(vec![]),
                false,
                "rules + force-keep",
            ),
            (
                Some("parentbased_rules"),
                Some("name=GET /health*:0;*:0.1"),
                rules("name=GET /health*:0;*:0.1"),
                true,
                "parentbased_rules(name=GET /health*:0;*:0.1) + force-keep",
            ),
            (
                Some("RULES"),
                Some("kind=Consumer:1"),
                rules("kind=consumer:1"),
                false,
                "rules(kind=consumer:1) + force-keep",
            ),
        ];
        for (sampler, arg, root, parent_based, display) in cases {
            let spec = ok(sampler, arg);
            assert_eq!(spec.root, root, "{sampler:?} / {arg:?}");
            assert_eq!(spec.parent_based, parent_based, "{sampler:?} / {arg:?}");
            assert!(spec.force_keep);
            assert_eq!(spec.to_string(), display);
            // name() and arg() parse back to the same spec.
            assert_eq!(ok(Some(spec.name()), spec.arg().as_deref()), spec);
            // And every spec builds.
            let _ = spec.build();
        }
    }

    #[test]
    fn invalid_env_values_table() {
        #[rustfmt::skip]
        /// (sampler, arg, variable, value, fallback, message fragment)
        type Case<'a> = (&'a str, Option<&'a str>, &'a str, &'a str, SamplerSpec, &'a str);
        let cases: Vec<Case<'_>> = vec![
            (
                "foo",
                None,
                SAMPLER_VAR,
                "foo",
                SamplerSpec::default(),
                "OTEL_TRACES_SAMPLER=\"foo\" is not a known sampler",
            ),
            (
                "parentbased_",
                None,
                SAMPLER_VAR,
                "parentbased_",
                SamplerSpec::default(),
                "not a known",
            ),
            (
                "always",
                None,
                SAMPLER_VAR,
                "always",
                SamplerSpec::default(),
                "not a known",
            ),
            (
                "parentbased_parentbased_always_on",
                None,
                SAMPLER_VAR,
                "parentbased_parentbased_always_on",
                SamplerSpec::default(),
                "not a known",
            ),
            (
                "jaeger_remote",
                Some("endpoint=http://h:14250"),
                SAMPLER_VAR,
                "jaeger_remote",
                SamplerSpec::default(),
                "OTEL_TRACES_SAMPLER=\"jaeger_remote\" is not supported",
            ),
            (
                "parentbased_jaeger_remote",
                None,
                SAMPLER_VAR,
                "parentbased_jaeger_remote",
                SamplerSpec::default(),
                "not supported",
            ),
            (
                " XRay ",
                None,
                SAMPLER_VAR,
                "XRay",
                SamplerSpec::default(),
                "\"XRay\" is not supported",
            ),
            (
                "parentbased_xray",
                None,
                SAMPLER_VAR,
                "parentbased_xray",
                SamplerSpec::default(),
                "not a known",
            ),
            (
                "traceidratio",
                Some("abc"),
                ARG_VAR,
                "abc",
                SamplerSpec::new(RootSampler::TraceIdRatio(1.0), false),
                "OTEL_TRACES_SAMPLER_ARG=\"abc\" is invalid for OTEL_TRACES_SAMPLER=traceidratio: expected a probability",
            ),
            (
                "traceidratio",
                Some("1.5"),
                ARG_VAR,
                "1.5",
                SamplerSpec::new(RootSampler::TraceIdRatio(1.0), false),
                "probability",
            ),
            (
                "traceidratio",
                Some("-0.1"),
                ARG_VAR,
                "-0.1",
                SamplerSpec::new(RootSampler::TraceIdRatio(1.0), false),
                "probability",
            ),
            (
                "parentbased_traceidratio",
                Some("NaN"),
                ARG_VAR,
                "NaN",
                SamplerSpec::new(RootSampler::TraceIdRatio(1.0), true),
                "for OTEL_TRACES_SAMPLER=parentbased_traceidratio",
            ),
            (
                "PARENTBASED_TRACEIDRATIO",
                Some("inf"),
                ARG_VAR,
                "inf",
                SamplerSpec::new(RootSampler::TraceIdRatio(1.0), true),
                "probability",
            ),
            (
                "traceidratio",
                Some("50%"),
                ARG_VAR,
                "50%",
                SamplerSpec::new(RootSampler::TraceIdRatio(1.0), false),
                "probability",
            ),
            (
                "ratelimiting",
                Some("-1"),
                ARG_VAR,
                "-1",
                SamplerSpec::new(RootSampler::RateLimiting(100.0), false),
                "traces per second",
            ),
            (
                "ratelimiting",
                Some("fast"),
                ARG_VAR,
                "fast",
                SamplerSpec::new(RootSampler::RateLimiting(100.0), false),
                "traces per second",
            ),
            (
                "parentbased_ratelimiting",
                Some("1e999"),
                ARG_VAR,
                "1e999",
                SamplerSpec::new(RootSampler::RateLimiting(100.0), true),
                "parentbased_ratelimiting",
            ),
            (
                "rules",
                Some("name=x"),
                ARG_VAR,
                "name=x",
                SamplerSpec::new(RootSampler::Rules(vec![]), false),
                "rule 1 `name=x`: missing `:DECISION`",
            ),
            (
                "parentbased_rules",
                Some("*:0.1;name=a:2"),
                ARG_VAR,
                "*:0.1;name=a:2",
                SamplerSpec::new(RootSampler::Rules(vec![]), true),
                "rule 2 `name=a:2`: `2` is not a decision",
            ),
        ];
        for (sampler, arg, variable, value, fallback, message) in cases {
            let error = err(Some(sampler), arg);
            assert_eq!(error.variable(), variable, "{sampler} / {arg:?}");
            assert_eq!(error.value(), value, "{sampler} / {arg:?}");
            assert_eq!(error.fallback(), fallback, "{sampler} / {arg:?}");
            let shown = error.to_string();
            assert!(shown.contains(message), "{shown:?} lacks {message:?}");
            assert!(shown.contains(variable) && shown.contains(value), "{shown}");
        }
    }

    #[test]
    fn rule_list_syntax_errors_table() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("name=a", "rule 1 `name=a`: missing `:DECISION`"),
            (":0.5", "no condition before `:`"),
            ("  :0.5", "no condition before `:`"),
            ("name=a:", "`` is not a decision"),
            ("name=a:sometimes", "`sometimes` is not a decision"),
            ("name=a:1.5", "`1.5` is not a decision"),
            ("name=a:-1/s", "`-1/s` is not a rate"),
            ("name=a:x/s", "`x/s` is not a rate"),
            ("name=a,,kind=server:1", "empty condition"),
            ("name=a,:1", "empty condition"),
            ("foo:1", "`foo` is not a condition"),
            ("*,kind=server:1", "`*` is not a condition"),
            ("colour=red:1", "unknown condition `colour`"),
            ("attr.=x:1", "`attr.` needs an attribute key"),
            ("kind=server|daemon:1", "unknown span kind `daemon`"),
            ("kind=:1", "unknown span kind ``"),
            ("kind=server,kind=client:1", "`kind` given twice"),
            ("name=a,name=b:1", "`name` given twice"),
            ("name=a:1;name=b:1;name=c\\", "ends with a lone `\\`"),
            ("name=a:1;;name=b:x", "rule 2 `name=b:x`"),
        ];
        for (arg, message) in cases {
            let reason = parse_rules(arg).expect_err(arg);
            assert!(
                reason.contains(message),
                "{arg:?}: {reason:?} lacks {message:?}"
            );
        }
    }

    #[test]
    fn rule_list_syntax_parses_to_the_expected_rules() {
        let any = SpanMatcher::any;
        #[rustfmt::skip]
        let cases: Vec<(&str, Vec<Rule>)> = vec![
            ("name=GET /health*:0; attr.http.route=/users/{id}:0.5; kind=consumer:1; *:0.1", vec![
                Rule::new(any().name("GET /health*"), RuleAction::Ratio(0.0)),
                Rule::new(any().attribute("http.route", "/users/{id}"), RuleAction::Ratio(0.5)),
                Rule::new(any().kind(SpanKind::Consumer), RuleAction::Ratio(1.0)),
                Rule::new(any(), RuleAction::Ratio(0.1)),
            ]),
            // Keywords are case-insensitive, whitespace around tokens is ignored.
            ("  NAME = a b : ALWAYS ; Kind = Server | CLIENT : Never ; Attr.K = v : 5/s ;", vec![
                Rule::new(any().name("a b"), RuleAction::Always),
                Rule::new(any().kind(SpanKind::Server).kind(SpanKind::Client), RuleAction::Never),
                Rule::new(any().attribute("K", "v"), RuleAction::RateLimit(5.0)),
            ]),
            // Colons and `=` in values, the decision after the last colon.
            ("attr.url.full=http://a:8080/*:0;name=a=b:1", vec![
                Rule::new(any().attribute("url.full", "http://a:8080/*"), RuleAction::Ratio(0.0)),
                Rule::new(any().name("a=b"), RuleAction::Ratio(1.0)),
            ]),
            // Escapes: literal `;` `,` `*` `|` `\`, `=` in a key, edge spaces.
            ("name=a\\;b\\,c:1;name=x\\*y*:1;attr.k\\=1=\\ v\\ :1;name=\\\\:1", vec![
                Rule::new(any().name_pattern(Pattern::exact("a;b,c")), RuleAction::Ratio(1.0)),
                Rule::new(any().name_pattern(Pattern::from_parts(["x*y", ""])), RuleAction::Ratio(1.0)),
                Rule::new(any().attribute_pattern("k=1", Pattern::exact(" v ")), RuleAction::Ratio(1.0)),
                Rule::new(any().name_pattern(Pattern::exact("\\")), RuleAction::Ratio(1.0)),
            ]),
            // Several attribute conditions and all kinds of condition at once.
            ("name=GET *,kind=server,attr.a=1,attr.b=*x:0.25", vec![
                Rule::new(
                    any().name("GET *").kind(SpanKind::Server).attribute("a", "1").attribute("b", "*x"),
                    RuleAction::Ratio(0.25),
                ),
            ]),
            ("*:never", vec![Rule::new(any(), RuleAction::Never)]),
            ("", vec![]),
        ];
        for (arg, expected) in cases {
            let rules = parse_rules(arg).unwrap_or_else(|e| panic!("{arg:?}: {e}"));
            assert_eq!(rules, expected, "{arg:?}");
            // Display gives text that parses back to the same rules.
            let shown: Vec<String> = rules.iter().map(Rule::to_string).collect();
            assert_eq!(parse_rules(&shown.join(";")).unwrap(), rules, "{shown:?}");
        }
    }

    fn decide(
        sampler: &dyn ShouldSample,
        parent: Option<&Context>,
        name: &str,
        attrs: &[KeyValue],
    ) -> SamplingDecision {
        sampler
            .should_sample(
                parent,
                TraceId::from(0xabcdef),
                name,
                &SpanKind::Server,
                attrs,
                &[],
            )
            .decision
    }

    #[test]
    fn built_samplers_behave_as_configured() {
        const KEEP: SamplingDecision = SamplingDecision::RecordAndSample;
        const DROP: SamplingDecision = SamplingDecision::Drop;
        let sampled = remote_parent(true, TraceState::NONE);
        let unsampled = remote_parent(false, TraceState::NONE);
        let forced = with_force_keep(&unsampled);

        let off = ok(Some("always_off"), None).build();
        assert_eq!(decide(off.as_ref(), None, "x", &[]), DROP);
        assert_eq!(decide(off.as_ref(), Some(&sampled), "x", &[]), DROP);
        assert_eq!(decide(off.as_ref(), Some(&forced), "x", &[]), KEEP);
        let off_unforced = ok(Some("always_off"), None).with_force_keep(false).build();
        assert_eq!(decide(off_unforced.as_ref(), Some(&forced), "x", &[]), DROP);

        let pb_off = ok(Some("parentbased_always_off"), None).build();
        assert_eq!(decide(pb_off.as_ref(), None, "x", &[]), DROP);
        assert_eq!(decide(pb_off.as_ref(), Some(&sampled), "x", &[]), KEEP);
        assert_eq!(decide(pb_off.as_ref(), Some(&unsampled), "x", &[]), DROP);
        assert_eq!(decide(pb_off.as_ref(), Some(&forced), "x", &[]), KEEP);

        let default = SamplerSpec::default().build();
        assert_eq!(decide(default.as_ref(), None, "x", &[]), KEEP);
        assert_eq!(decide(default.as_ref(), Some(&unsampled), "x", &[]), DROP);

        let ratio0 = ok(Some("traceidratio"), Some("0")).build();
        assert_eq!(decide(ratio0.as_ref(), Some(&sampled), "x", &[]), DROP);

        let rules = ok(
            Some("parentbased_rules"),
            Some("name=GET /health*:never;attr.http.route=/users/{id}:always;*:never"),
        )
        .build();
        let route = [KeyValue::new("http.route", "/users/{id}")];
        assert_eq!(decide(rules.as_ref(), None, "GET /healthz", &route), DROP);
        assert_eq!(
            decide(rules.as_ref(), None, "GET /users/{id}", &route),
            KEEP
        );
        assert_eq!(decide(rules.as_ref(), None, "GET /other", &[]), DROP);
        assert_eq!(
            decide(rules.as_ref(), Some(&sampled), "GET /healthz", &[]),
            KEEP
        );
        assert_eq!(
            decide(rules.as_ref(), Some(&forced), "GET /healthz", &[]),
            KEEP
        );

        let limited = ok(Some("ratelimiting"), Some("0")).build();
        assert_eq!(decide(limited.as_ref(), None, "x", &[]), DROP);
        assert_eq!(decide(limited.as_ref(), Some(&forced), "x", &[]), KEEP);
    }

    #[test]
    fn spec_fields_and_constructors() {
        let spec = SamplerSpec::new(RootSampler::RateLimiting(5.0), true).with_force_keep(false);
        assert_eq!(spec.to_string(), "parentbased_ratelimiting(5)");
        assert_eq!(spec.name(), "parentbased_ratelimiting");
        assert_eq!(spec.arg().as_deref(), Some("5"));
        assert_eq!(
            SamplerSpec::default(),
            ok(Some("parentbased_always_on"), None)
        );
        let custom = SamplerSpec::new(
            RootSampler::Rules(vec![Rule::new(
                SpanMatcher::any(),
                RuleAction::Sampler(Box::new(Sampler::AlwaysOn)),
            )]),
            false,
        );
        assert_eq!(custom.to_string(), "rules(*:<custom>) + force-keep");
    }
}
