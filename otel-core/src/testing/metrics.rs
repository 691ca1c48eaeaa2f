//! Collected metrics: [`MetricsSnapshot`], [`MetricView`], typed data points
//! and their assertions.

use std::fmt::{self, Debug};
use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;

use super::span::{find_attr, list_attrs};

/// Every metric of one collection (cumulative: totals since the capture was
/// created), from [`Capture::collect_metrics`](super::Capture::collect_metrics).
///
/// Lookups by name panic with the list of collected names when the metric is
/// missing, or with its actual type when it is not the one asked for.
#[derive(Clone, Debug, Default)]
pub struct MetricsSnapshot {
    metrics: Vec<MetricView>,
}

impl MetricsSnapshot {
    /// Every collected metric.
    pub fn metrics(&self) -> &[MetricView] {
        &self.metrics
    }

    /// Names of the collected metrics.
    pub fn names(&self) -> Vec<&str> {
        self.metrics.iter().map(|m| m.name.as_str()).collect()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The metric named `name`, if collected (the first one if several meters
    /// report the same name).
    pub fn get(&self, name: &str) -> Option<&MetricView> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// The metric named `name`; panics if it was not collected.
    #[track_caller]
    pub fn metric(&self, name: &str) -> &MetricView {
        match self.get(name) {
            Some(m) => m,
            None => panic!(
                "no metric named `{name}` was collected; collected: {:?}",
                self.names()
            ),
        }
    }

    /// Asserts no metric named `name` was collected.
    #[track_caller]
    pub fn assert_absent(&self, name: &str) {
        if let Some(m) = self.get(name) {
            panic!("metric `{name}` should not be recorded, but it is: {m}");
        }
    }

    /// Points of the `i64` sum (counter or up-down counter) `name`.
    #[track_caller]
    pub fn sum_i64(&self, name: &str) -> Points<NumberPoint<i64>> {
        self.metric(name).sum_i64()
    }

    /// Points of the `u64` sum (counter) `name`.
    #[track_caller]
    pub fn sum_u64(&self, name: &str) -> Points<NumberPoint<u64>> {
        self.metric(name).sum_u64()
    }

    /// Points of the `f64` sum (counter or up-down counter) `name`.
    #[track_caller]
    pub fn sum_f64(&self, name: &str) -> Points<NumberPoint<f64>> {
        self.metric(name).sum_f64()
    }

    /// Points of the `i64` gauge `name`.
    #[track_caller]
    pub fn gauge_i64(&self, name: &str) -> Points<NumberPoint<i64>> {
        self.metric(name).gauge_i64()
    }

    /// Points of the `u64` gauge `name`.
    #[track_caller]
    pub fn gauge_u64(&self, name: &str) -> Points<NumberPoint<u64>> {
        self.metric(name).gauge_u64()
    }

    /// Points of the `f64` gauge `name`.
    #[track_caller]
    pub fn gauge_f64(&self, name: &str) -> Points<NumberPoint<f64>> {
        self.metric(name).gauge_f64()
    }

    /// Points of the histogram `name` (explicit buckets, `f64` or `u64`).
    #[track_caller]
    pub fn histogram(&self, name: &str) -> Points<HistogramPoint> {
        self.metric(name).histogram()
    }
}

/// The kind of instrument aggregation a metric carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// A monotonic sum (counter, observable counter).
    Counter,
    /// A non-monotonic sum (up-down counter).
    UpDownCounter,
    /// A last-value gauge.
    Gauge,
    /// An explicit-bucket histogram.
    Histogram,
    /// An exponential histogram.
    ExponentialHistogram,
}

/// One collected metric.
#[derive(Clone, Debug)]
pub struct MetricView {
    name: String,
    unit: String,
    description: String,
    scope: String,
    data: Data,
}

#[derive(Clone, Debug)]
enum Data {
    Sum { monotonic: bool, numbers: Numbers },
    Gauge(Numbers),
    Histogram(Vec<HistogramPoint>, &'static str),
    ExponentialHistogram(Vec<HistogramPoint>, &'static str),
}

#[derive(Clone, Debug)]
enum Numbers {
    I64(Vec<NumberPoint<i64>>),
    U64(Vec<NumberPoint<u64>>),
    F64(Vec<NumberPoint<f64>>),
}

impl Numbers {
    fn type_name(&self) -> &'static str {
        match self {
            Numbers::I64(_) => "i64",
            Numbers::U64(_) => "u64",
            Numbers::F64(_) => "f64",
        }
    }
}

impl MetricView {
    /// The instrument name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The unit (`s`, `By`, `{request}`, or empty).
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// The description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The name of the meter (instrumentation scope) that recorded it.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The aggregation kind.
    pub fn kind(&self) -> MetricKind {
        match &self.data {
            Data::Sum {
                monotonic: true, ..
            } => MetricKind::Counter,
            Data::Sum { .. } => MetricKind::UpDownCounter,
            Data::Gauge(_) => MetricKind::Gauge,
            Data::Histogram(..) => MetricKind::Histogram,
            Data::ExponentialHistogram(..) => MetricKind::ExponentialHistogram,
        }
    }

    /// The value type: `"i64"`, `"u64"` or `"f64"`.
    pub fn value_type(&self) -> &'static str {
        match &self.data {
            Data::Sum { numbers, .. } | Data::Gauge(numbers) => numbers.type_name(),
            Data::Histogram(_, t) | Data::ExponentialHistogram(_, t) => t,
        }
    }

    /// Number of data points (attribute sets).
    pub fn point_count(&self) -> usize {
        match &self.data {
            Data::Sum { numbers, .. } | Data::Gauge(numbers) => match numbers {
                Numbers::I64(p) => p.len(),
                Numbers::U64(p) => p.len(),
                Numbers::F64(p) => p.len(),
            },
            Data::Histogram(p, _) | Data::ExponentialHistogram(p, _) => p.len(),
        }
    }

    #[track_caller]
    fn wrong_type(&self, wanted: &str) -> ! {
        panic!("metric `{}` is {self}, not {wanted}", self.name)
    }

    fn points<P: Clone>(&self, points: &[P]) -> Points<P> {
        Points {
            metric: self.name.clone(),
            points: points.to_vec(),
        }
    }

    /// Points of an `i64` sum; panics if this metric is anything else.
    #[track_caller]
    pub fn sum_i64(&self) -> Points<NumberPoint<i64>> {
        match &self.data {
            Data::Sum {
                numbers: Numbers::I64(p),
                ..
            } => self.points(p),
            _ => self.wrong_type("a sum of i64"),
        }
    }

    /// Points of a `u64` sum; panics if this metric is anything else.
    #[track_caller]
    pub fn sum_u64(&self) -> Points<NumberPoint<u64>> {
        match &self.data {
            Data::Sum {
                numbers: Numbers::U64(p),
                ..
            } => self.points(p),
            _ => self.wrong_type("a sum of u64"),
        }
    }

    /// Points of an `f64` sum; panics if this metric is anything else.
    #[track_caller]
    pub fn sum_f64(&self) -> Points<NumberPoint<f64>> {
        match &self.data {
            Data::Sum {
                numbers: Numbers::F64(p),
                ..
            } => self.points(p),
            _ => self.wrong_type("a sum of f64"),
        }
    }

    /// Points of an `i64` gauge; panics if this metric is anything else.
    #[track_caller]
    pub fn gauge_i64(&self) -> Points<NumberPoint<i64>> {
        match &self.data {
            Data::Gauge(Numbers::I64(p)) => self.points(p),
            _ => self.wrong_type("a gauge of i64"),
        }
    }

    /// Points of a `u64` gauge; panics if this metric is anything else.
    #[track_caller]
    pub fn gauge_u64(&self) -> Points<NumberPoint<u64>> {
        match &self.data {
            Data::Gauge(Numbers::U64(p)) => self.points(p),
            _ => self.wrong_type("a gauge of u64"),
        }
    }

    /// Points of an `f64` gauge; panics if this metric is anything else.
    #[track_caller]
    pub fn gauge_f64(&self) -> Points<NumberPoint<f64>> {
        match &self.data {
            Data::Gauge(Numbers::F64(p)) => self.points(p),
            _ => self.wrong_type("a gauge of f64"),
        }
    }

    /// Points of a histogram, explicit-bucket or exponential (the latter
    /// without bounds); panics if this metric is anything else.
    #[track_caller]
    pub fn histogram(&self) -> Points<HistogramPoint> {
        match &self.data {
            Data::Histogram(p, _) | Data::ExponentialHistogram(p, _) => self.points(p),
            _ => self.wrong_type("a histogram"),
        }
    }
}

impl fmt::Display for MetricView {
    /// `a counter of u64 (3 points)` and the like.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind() {
            MetricKind::Counter => "a counter",
            MetricKind::UpDownCounter => "an up-down counter (non-monotonic sum)",
            MetricKind::Gauge => "a gauge",
            MetricKind::Histogram => "a histogram",
            MetricKind::ExponentialHistogram => "an exponential histogram",
        };
        let n = self.point_count();
        write!(
            f,
            "{kind} of {} ({n} point{})",
            self.value_type(),
            if n == 1 { "" } else { "s" }
        )
    }
}

/// Something with an attribute set: a data point.
pub trait DataPoint {
    /// The attributes identifying the time series.
    fn attributes(&self) -> &[KeyValue];

    /// The value of attribute `key`.
    fn attr(&self, key: &str) -> Option<&Value> {
        find_attr(self.attributes(), key)
    }

    /// The point's value, for failure messages.
    fn describe(&self) -> String;
}

/// A sum or gauge data point.
#[derive(Clone, Debug, PartialEq)]
pub struct NumberPoint<T> {
    /// The attributes identifying the time series.
    pub attributes: Vec<KeyValue>,
    /// The value (the total for a cumulative sum, the last value for a gauge).
    pub value: T,
}

impl<T: Debug> DataPoint for NumberPoint<T> {
    fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }

    fn describe(&self) -> String {
        format!("value={:?}", self.value)
    }
}

/// A histogram data point, values converted to `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramPoint {
    /// The attributes identifying the time series.
    pub attributes: Vec<KeyValue>,
    /// Number of recorded values.
    pub count: u64,
    /// Sum of recorded values.
    pub sum: f64,
    /// Smallest recorded value, when tracked.
    pub min: Option<f64>,
    /// Largest recorded value, when tracked.
    pub max: Option<f64>,
    /// Upper bounds of the buckets (the last, +∞, implied); empty for an
    /// exponential histogram.
    pub bounds: Vec<f64>,
    /// Count per bucket (one more than `bounds`); empty for an exponential
    /// histogram.
    pub bucket_counts: Vec<u64>,
}

impl DataPoint for HistogramPoint {
    fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }

    fn describe(&self) -> String {
        format!("count={} sum={}", self.count, self.sum)
    }
}

/// The data points of one metric, with lookups by attributes.
///
/// Attribute lookups match a point whose attributes *include* the given ones
/// (`&[]` matches every point), and require exactly one point to match.
#[derive(Clone, Debug, PartialEq)]
pub struct Points<P> {
    metric: String,
    points: Vec<P>,
}

impl<P: DataPoint> Points<P> {
    /// The metric these points belong to.
    pub fn metric(&self) -> &str {
        &self.metric
    }

    /// Every point matching `attrs` (see the type docs).
    pub fn matching<'a>(&'a self, attrs: &'a [KeyValue]) -> impl Iterator<Item = &'a P> + 'a {
        self.points
            .iter()
            .filter(move |p| has_all(p.attributes(), attrs))
    }

    /// The single point matching `attrs`, if exactly one does.
    pub fn get(&self, attrs: &[KeyValue]) -> Option<&P> {
        let mut it = self
            .points
            .iter()
            .filter(|p| has_all(p.attributes(), attrs));
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    /// The single point matching `attrs`; panics, listing the points, when
    /// none or several match.
    #[track_caller]
    pub fn point_with(&self, attrs: &[KeyValue]) -> &P {
        let found: Vec<&P> = self
            .points
            .iter()
            .filter(|p| has_all(p.attributes(), attrs))
            .collect();
        match found.as_slice() {
            [one] => one,
            [] => panic!(
                "metric `{}`: no point with attributes {}\n{}",
                self.metric,
                list_attrs(attrs),
                self.listing()
            ),
            many => panic!(
                "metric `{}`: {} points match attributes {} (add attributes to pick one)\n{}",
                self.metric,
                many.len(),
                list_attrs(attrs),
                self.listing()
            ),
        }
    }

    fn listing(&self) -> String {
        if self.points.is_empty() {
            return "  (no points)".to_owned();
        }
        self.points
            .iter()
            .map(|p| format!("  {{{}}} {}", list_attrs(p.attributes()), p.describe()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl<T: Copy + PartialEq + Debug + std::iter::Sum<T>> Points<NumberPoint<T>> {
    /// The value of the single point matching `attrs`; panics like
    /// [`point_with`](Self::point_with).
    #[track_caller]
    pub fn value_with(&self, attrs: &[KeyValue]) -> T {
        self.point_with(attrs).value
    }

    /// The sum of every point's value (a counter's total over all attribute sets).
    pub fn total(&self) -> T {
        self.points.iter().map(|p| p.value).sum()
    }

    /// Asserts the point matching `attrs` has value `expected`.
    #[track_caller]
    pub fn assert_value(&self, attrs: &[KeyValue], expected: T) -> &Self {
        let actual = self.point_with(attrs).value;
        if actual != expected {
            panic!(
                "metric `{}`: point {{{}}} has value {actual:?}, expected {expected:?}\n{}",
                self.metric,
                list_attrs(attrs),
                self.listing()
            );
        }
        self
    }
}

impl Points<HistogramPoint> {
    /// Asserts the point matching `attrs` counted `expected` values.
    #[track_caller]
    pub fn assert_count(&self, attrs: &[KeyValue], expected: u64) -> &Self {
        let actual = self.point_with(attrs).count;
        if actual != expected {
            panic!(
                "metric `{}`: point {{{}}} has count {actual}, expected {expected}\n{}",
                self.metric,
                list_attrs(attrs),
                self.listing()
            );
        }
        self
    }

    /// The total count over every point.
    pub fn total_count(&self) -> u64 {
        self.points.iter().map(|p| p.count).sum()
    }
}

impl<P> Deref for Points<P> {
    type Target = [P];

    fn deref(&self) -> &[P] {
        &self.points
    }
}

impl<P> IntoIterator for Points<P> {
    type Item = P;
    type IntoIter = std::vec::IntoIter<P>;

    fn into_iter(self) -> Self::IntoIter {
        self.points.into_iter()
    }
}

impl<'a, P> IntoIterator for &'a Points<P> {
    type Item = &'a P;
    type IntoIter = std::slice::Iter<'a, P>;

    fn into_iter(self) -> Self::IntoIter {
        self.points.iter()
    }
}

fn has_all(attrs: &[KeyValue], wanted: &[KeyValue]) -> bool {
    wanted
        .iter()
        .all(|w| find_attr(attrs, w.key.as_str()) == Some(&w.value))
}

/// A push exporter that keeps the latest export as owned views.
#[derive(Clone, Default)]
pub(crate) struct SnapshotExporter {
    latest: Arc<Mutex<Option<Vec<MetricView>>>>,
}

impl Debug for SnapshotExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SnapshotExporter")
    }
}

impl SnapshotExporter {
    /// Forgets the previous export, so that an empty collection is seen as empty.
    pub(crate) fn clear(&self) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The latest export (empty if there was none since [`clear`](Self::clear)).
    pub(crate) fn take(&self) -> MetricsSnapshot {
        let metrics = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default();
        MetricsSnapshot { metrics }
    }
}

impl PushMetricExporter for SnapshotExporter {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        let views = metrics
            .scope_metrics()
            .flat_map(|scope| {
                let scope_name = scope.scope().name().to_owned();
                scope.metrics().map(move |m| view_of(m, &scope_name))
            })
            .collect();
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(views);
        std::future::ready(Ok(()))
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

fn view_of(metric: &Metric, scope: &str) -> MetricView {
    let data = match metric.data() {
        AggregatedMetrics::I64(d) => convert(d, Numbers::I64, |v| v as f64, "i64"),
        AggregatedMetrics::U64(d) => convert(d, Numbers::U64, |v| v as f64, "u64"),
        AggregatedMetrics::F64(d) => convert(d, Numbers::F64, |v| v, "f64"),
    };
    MetricView {
        name: metric.name().to_owned(),
        unit: metric.unit().to_owned(),
        description: metric.description().to_owned(),
        scope: scope.to_owned(),
        data,
    }
}

fn convert<T: Copy>(
    data: &MetricData<T>,
    wrap: fn(Vec<NumberPoint<T>>) -> Numbers,
    to_f64: fn(T) -> f64,
    type_name: &'static str,
) -> Data {
    match data {
        MetricData::Sum(sum) => Data::Sum {
            monotonic: sum.is_monotonic(),
            numbers: wrap(
                sum.data_points()
                    .map(|p| NumberPoint {
                        attributes: p.attributes().cloned().collect(),
                        value: p.value(),
                    })
                    .collect(),
            ),
        },
        MetricData::Gauge(gauge) => Data::Gauge(wrap(
            gauge
                .data_points()
                .map(|p| NumberPoint {
                    attributes: p.attributes().cloned().collect(),
                    value: p.value(),
                })
                .collect(),
        )),
        MetricData::Histogram(hist) => Data::Histogram(
            hist.data_points()
                .map(|p| HistogramPoint {
                    attributes: p.attributes().cloned().collect(),
                    count: p.count(),
                    sum: to_f64(p.sum()),
                    min: p.min().map(to_f64),
                    max: p.max().map(to_f64),
                    bounds: p.bounds().collect(),
                    bucket_counts: p.bucket_counts().collect(),
                })
                .collect(),
            type_name,
        ),
        MetricData::ExponentialHistogram(hist) => Data::ExponentialHistogram(
            hist.data_points()
                .map(|p| HistogramPoint {
                    attributes: p.attributes().cloned().collect(),
                    count: p.count() as u64,
                    sum: to_f64(p.sum()),
                    min: p.min().map(to_f64),
                    max: p.max().map(to_f64),
                    bounds: Vec::new(),
                    bucket_counts: Vec::new(),
                })
                .collect(),
            type_name,
        ),
    }
}
