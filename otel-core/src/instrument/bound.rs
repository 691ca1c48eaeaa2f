//! Instruments bound to attribute sets, cached by a cheap key.
//!
//! Recording a measurement with attributes makes the metrics SDK hash and
//! compare the whole attribute slice (string keys and values) on every call.
//! A layer that sees the same few attribute sets over and over (one per
//! route × method × status) can instead bind the instrument once per set and
//! record through the bound handle: one atomic update, no lookup in the SDK.
//! [`BoundCache`] keeps those handles, keyed by whatever small value
//! identifies the set for the layer (pointers of `'static` strings and status
//! codes, say), and bounded so an unbounded key space falls back to the
//! ordinary unbound recording instead of growing without limit.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::hasher::BuildFastHasher;
use std::sync::RwLock;

/// A bounded, thread-safe map from a layer's key to an instrument bound to
/// that key's attribute set (`BoundHistogram`, `BoundUpDownCounter`, …, or a
/// struct holding several).
///
/// The first lookup of a key binds (the closure builds the attributes once);
/// later lookups take a read lock and hash only the key. Once `capacity`
/// keys are held, new keys get `None` and the caller records unbound, as it
/// would without the cache: measurements are never lost, only the shortcut.
///
/// ```
/// use otel_kit_core::instrument::BoundCache;
/// use otel_kit_core::opentelemetry::{KeyValue, global};
///
/// let histogram = global::meter("doc").f64_histogram("work.duration").build();
/// let cache = BoundCache::new(256);
/// let status: u16 = 200;
/// let attributes = || vec![KeyValue::new("status", i64::from(status))];
/// match cache.get_or_bind(status, || histogram.bind(&attributes())) {
///     Some(bound) => bound.record(0.25),
///     None => histogram.record(0.25, &attributes()),
/// }
/// ```
pub struct BoundCache<K, B> {
    map: RwLock<HashMap<K, B, BuildFastHasher>>,
    capacity: usize,
}

impl<K: Hash + Eq, B: Clone> BoundCache<K, B> {
    /// An empty cache that binds at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        BoundCache {
            map: RwLock::new(HashMap::default()),
            capacity,
        }
    }

    /// The bound instrument of `key`, binding it with `bind` on first use;
    /// `None` when the cache is full and `key` is not in it (then record
    /// unbound).
    pub fn get_or_bind(&self, key: K, bind: impl FnOnce() -> B) -> Option<B> {
        if let Ok(map) = self.map.read() {
            if let Some(bound) = map.get(&key) {
                return Some(bound.clone());
            }
            if map.len() >= self.capacity {
                return None;
            }
        }
        let mut map = self.map.write().ok()?;
        if let Some(bound) = map.get(&key) {
            return Some(bound.clone());
        }
        if map.len() >= self.capacity {
            return None;
        }
        let bound = bind();
        map.insert(key, bound.clone());
        Some(bound)
    }

    /// [`get_or_bind`](Self::get_or_bind) looked up by a borrowed form of
    /// the key, so a hit builds no owned key (a key of several strings,
    /// say, borrowed as `dyn Trait` or `str`); `owned` makes the key stored
    /// on first use. `None` when the cache is full and `key` is not in it.
    ///
    /// ```
    /// use otel_kit_core::instrument::BoundCache;
    ///
    /// let cache: BoundCache<Box<str>, usize> = BoundCache::new(16);
    /// let destination: &str = "orders";
    /// let bound = cache.get_or_bind_by(destination, || destination.into(), || destination.len());
    /// assert_eq!(bound, Some(6));
    /// ```
    pub fn get_or_bind_by<Q>(
        &self,
        key: &Q,
        owned: impl FnOnce() -> K,
        bind: impl FnOnce() -> B,
    ) -> Option<B>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Ok(map) = self.map.read() {
            if let Some(bound) = map.get(key) {
                return Some(bound.clone());
            }
            if map.len() >= self.capacity {
                return None;
            }
        }
        let mut map = self.map.write().ok()?;
        if let Some(bound) = map.get(key) {
            return Some(bound.clone());
        }
        if map.len() >= self.capacity {
            return None;
        }
        let bound = bind();
        map.insert(owned(), bound.clone());
        Some(bound)
    }

    /// Calls `f` with the bound instrument of `key` (binding it on first use)
    /// without cloning the handle; `None` when the cache is full and `key`
    /// is not in it.
    pub fn with<R>(&self, key: K, bind: impl FnOnce() -> B, f: impl FnOnce(&B) -> R) -> Option<R> {
        if let Ok(map) = self.map.read() {
            if let Some(bound) = map.get(&key) {
                return Some(f(bound));
            }
            if map.len() >= self.capacity {
                return None;
            }
        }
        self.get_or_bind(key, bind).map(|bound| f(&bound))
    }

    /// How many keys are bound.
    pub fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }

    /// Whether no key is bound yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K, B> std::fmt::Debug for BoundCache<K, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundCache")
            .field("len", &self.map.read().map_or(0, |m| m.len()))
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// A `'static` string compared and hashed by address and length: a key part
/// that costs two words to hash. Two equal strings at different addresses
/// are different keys, which only means they are bound twice (the SDK gives
/// both handles the same series), never that two different strings share a
/// key.
#[derive(Clone, Copy, Debug)]
pub struct StaticKey(pub &'static str);

impl PartialEq for StaticKey {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0.as_ptr(), other.0.as_ptr()) && self.0.len() == other.0.len()
    }
}

impl Eq for StaticKey {}

impl Hash for StaticKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.0.as_ptr() as usize).hash(state);
        self.0.len().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    fn provider() -> (SdkMeterProvider, InMemoryMetricExporter) {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        (provider, exporter)
    }

    /// (attribute value of `k`, count) of every data point of `name`.
    fn counts(exporter: &InMemoryMetricExporter, name: &str) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for rm in exporter.get_finished_metrics().unwrap() {
            for scope in rm.scope_metrics() {
                for metric in scope.metrics().filter(|m| m.name() == name) {
                    if let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() {
                        for p in h.data_points() {
                            let v = p
                                .attributes()
                                .find(|kv| kv.key.as_str() == "k")
                                .map(|kv| kv.value.to_string())
                                .unwrap_or_default();
                            out.push((v, p.count()));
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn bound_and_unbound_recordings_land_in_the_same_series() {
        let (provider, exporter) = provider();
        let histogram = provider.meter("t").f64_histogram("h").build();
        let cache: BoundCache<StaticKey, _> = BoundCache::new(1);
        let attrs = |k: &'static str| vec![KeyValue::new("k", k)];
        let mut bound_calls = 0;
        for key in ["a", "a", "b", "a"] {
            // Capacity 1: "a" is bound, "b" falls back to the unbound path.
            match cache.get_or_bind(StaticKey(key), || {
                bound_calls += 1;
                histogram.bind(&attrs(key))
            }) {
                Some(bound) => bound.record(1.0),
                None => histogram.record(1.0, &attrs(key)),
            }
        }
        // Unbound "a" goes to the same series as the bound handle.
        histogram.record(1.0, &attrs("a"));
        provider.force_flush().unwrap();
        assert_eq!(bound_calls, 1);
        assert_eq!(cache.len(), 1);
        assert_eq!(
            counts(&exporter, "h"),
            vec![("a".to_owned(), 4), ("b".to_owned(), 1)]
        );
    }

    #[test]
    fn with_binds_once_and_refuses_new_keys_when_full() {
        let cache: BoundCache<u16, u32> = BoundCache::new(2);
        assert!(cache.is_empty());
        assert_eq!(cache.with(200, || 7, |b| *b + 1), Some(8));
        assert_eq!(cache.with(200, || unreachable!(), |b| *b), Some(7));
        assert_eq!(cache.get_or_bind(404, || 9), Some(9));
        assert_eq!(cache.get_or_bind(500, || 10), None);
        assert_eq!(cache.with(500, || 10, |b| *b), None);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn borrowed_lookups_find_owned_keys_and_respect_the_capacity() {
        let cache: BoundCache<Box<str>, usize> = BoundCache::new(1);
        let mut made = 0;
        for _ in 0..3 {
            let got = cache.get_or_bind_by(
                "a",
                || {
                    made += 1;
                    "a".into()
                },
                || 1,
            );
            assert_eq!(got, Some(1));
        }
        assert_eq!(made, 1);
        assert_eq!(cache.get_or_bind_by("b", || "b".into(), || 2), None);
        assert_eq!(
            cache.get_or_bind(Box::from("a"), || unreachable!()),
            Some(1)
        );
    }

    #[test]
    fn static_keys_compare_by_address() {
        static A: &str = "GET";
        let b: &'static str = String::from("GET").leak();
        assert_eq!(StaticKey(A), StaticKey(A));
        assert_ne!(StaticKey(A), StaticKey(b));
        let mut h1 = crate::instrument::FastHasher::default();
        StaticKey(A).hash(&mut h1);
        let mut h2 = crate::instrument::FastHasher::default();
        StaticKey(A).hash(&mut h2);
        assert_eq!(h1.finish(), h2.finish());
    }
}
