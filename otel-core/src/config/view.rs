//! Metric views: which instruments a view selects and the stream it makes
//! of them (a configuration file's `meter_provider.views`).

use opentelemetry_sdk::metrics::{Aggregation, Instrument, InstrumentKind, Stream};

/// One metric view: a selector (every field set must match) and the stream
/// the selected instruments produce instead of their default one.
///
/// ```
/// use otel_kit_core::config::MetricView;
/// use otel_kit_core::opentelemetry_sdk::metrics::Aggregation;
///
/// let mut view = MetricView::default();
/// view.instrument_name = Some("http.server.*".into());
/// view.aggregation = Some(Aggregation::Drop);
/// assert!(view.name_matches("http.server.request.duration"));
/// assert!(!view.name_matches("rpc.server.duration"));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricView {
    /// Instrument name; `*` matches any run of characters and `?` one
    /// character; compared case-insensitively.
    pub instrument_name: Option<String>,
    /// Instrument kind.
    pub instrument_kind: Option<InstrumentKind>,
    /// Instrument unit (exact).
    pub unit: Option<String>,
    /// Meter (instrumentation scope) name (exact).
    pub meter_name: Option<String>,
    /// Meter version (exact).
    pub meter_version: Option<String>,
    /// Meter schema URL (exact).
    pub meter_schema_url: Option<String>,
    /// The stream's name (only when the selector names one instrument).
    pub name: Option<String>,
    /// The stream's description.
    pub description: Option<String>,
    /// The stream's aggregation.
    pub aggregation: Option<Aggregation>,
    /// Most attribute sets the stream keeps (the SDK's default is 2000).
    pub cardinality_limit: Option<usize>,
    /// The attribute keys the stream keeps (every other is dropped).
    pub attribute_keys: Option<Vec<String>>,
}

impl MetricView {
    /// Whether `name` matches [`MetricView::instrument_name`].
    pub fn name_matches(&self, name: &str) -> bool {
        self.instrument_name
            .as_deref()
            .is_none_or(|pattern| wildcard(pattern, name))
    }

    /// Whether this view selects `instrument`.
    pub fn matches(&self, instrument: &Instrument) -> bool {
        let scope = instrument.scope();
        self.name_matches(instrument.name())
            && self.instrument_kind.is_none_or(|k| k == instrument.kind())
            && self.unit.as_deref().is_none_or(|u| u == instrument.unit())
            && self.meter_name.as_deref().is_none_or(|n| n == scope.name())
            && self
                .meter_version
                .as_deref()
                .is_none_or(|v| Some(v) == scope.version())
            && self
                .meter_schema_url
                .as_deref()
                .is_none_or(|u| Some(u) == scope.schema_url())
    }

    /// The stream of a selected instrument (`None` when the SDK rejects it,
    /// e.g. a cardinality limit of 0).
    pub fn stream(&self) -> Option<Stream> {
        let mut b = Stream::builder();
        if let Some(name) = &self.name {
            b = b.with_name(name.clone());
        }
        if let Some(d) = &self.description {
            b = b.with_description(d.clone());
        }
        if let Some(a) = &self.aggregation {
            b = b.with_aggregation(a.clone());
        }
        if let Some(limit) = self.cardinality_limit {
            b = b.with_cardinality_limit(limit);
        }
        if let Some(keys) = &self.attribute_keys {
            b = b.with_allowed_attribute_keys(keys.iter().cloned().map(opentelemetry::Key::from));
        }
        b.build().ok()
    }
}

/// Most attribute sets (data points) per metric stream, by instrument kind
/// (a configuration file's reader `cardinality_limits`); `None` keeps the
/// SDK's 2000. A view's own `aggregation_cardinality_limit` wins.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CardinalityLimits {
    /// Every kind without its own limit.
    pub default: Option<usize>,
    /// Counters.
    pub counter: Option<usize>,
    /// Gauges.
    pub gauge: Option<usize>,
    /// Histograms.
    pub histogram: Option<usize>,
    /// Observable counters.
    pub observable_counter: Option<usize>,
    /// Observable gauges.
    pub observable_gauge: Option<usize>,
    /// Observable up-down counters.
    pub observable_up_down_counter: Option<usize>,
    /// Up-down counters.
    pub up_down_counter: Option<usize>,
}

impl CardinalityLimits {
    /// The limit of `kind`: its own, else `default`.
    pub fn for_kind(&self, kind: InstrumentKind) -> Option<usize> {
        let own = match kind {
            InstrumentKind::Counter => self.counter,
            InstrumentKind::Gauge => self.gauge,
            InstrumentKind::Histogram => self.histogram,
            InstrumentKind::ObservableCounter => self.observable_counter,
            InstrumentKind::ObservableGauge => self.observable_gauge,
            InstrumentKind::ObservableUpDownCounter => self.observable_up_down_counter,
            InstrumentKind::UpDownCounter => self.up_down_counter,
        };
        own.or(self.default)
    }

    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The limit named by a configuration file's key (`default`,
    /// `counter`, ...); `None` for an unknown key.
    #[cfg(feature = "config-file")]
    pub(crate) fn slot(&mut self, key: &str) -> Option<&mut Option<usize>> {
        Some(match key {
            "default" => &mut self.default,
            "counter" => &mut self.counter,
            "gauge" => &mut self.gauge,
            "histogram" => &mut self.histogram,
            "observable_counter" => &mut self.observable_counter,
            "observable_gauge" => &mut self.observable_gauge,
            "observable_up_down_counter" => &mut self.observable_up_down_counter,
            "up_down_counter" => &mut self.up_down_counter,
            _ => return None,
        })
    }
}

/// `pattern` with `*` (any run) and `?` (one character) against `text`,
/// ignoring ASCII case.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        assert!(wildcard("*", ""));
        assert!(wildcard("http.*.duration", "http.server.request.duration"));
        assert!(wildcard("HTTP.?erver*", "http.server.x"));
        assert!(!wildcard("http.?", "http.ab"));
        assert!(wildcard("a*b*c", "axxbyyc"));
        assert!(!wildcard("a*b*c", "axxbyy"));
        assert!(wildcard("exact", "EXACT"));
    }
}
