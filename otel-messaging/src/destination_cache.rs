//! The per-destination cache: span name, shared attributes and bound
//! metric instruments of each (system, operation, destination, partition,
//! group, server) a client sees, computed once. Built on the family's
//! bounded cache ([`BoundCache`]), looked up by a borrowed key so a hit
//! allocates nothing.

use std::borrow::{Borrow, Cow};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use otel_kit_core::instrument::{BoundCache, StaticKey, intern_span_name};
use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::metrics::{BoundCounter, BoundHistogram};

use crate::operation::{Operation, OperationType};

/// Most destinations a client keeps prepared; operations on further
/// destinations compute their name and attributes on each call.
pub(crate) const PREPARED_CAPACITY: usize = 1024;

/// The instruments one operation records, bound to its attribute set.
pub(crate) struct BoundOp {
    pub duration: BoundHistogram<f64>,
    pub count: Option<BoundCounter<u64>>,
}

/// Span name and shared (span and metric) attributes of one destination,
/// and, once the cache holds it, the metric instruments bound to them.
pub(crate) struct Prepared {
    pub name: Cow<'static, str>,
    pub metric_attrs: Arc<[KeyValue]>,
    /// Whether the cache holds this entry. Only then are instruments bound
    /// to it (an entry made for one call would bind once per call).
    pub cached: bool,
    /// The duration and count instruments bound to `metric_attrs`, per
    /// `counts_consumed` (index 0: `false`, 1: `true`), bound on first use.
    pub bound: [OnceLock<BoundOp>; 2],
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("name", &self.name)
            .field("metric_attrs", &self.metric_attrs)
            .field("cached", &self.cached)
            .finish_non_exhaustive()
    }
}

/// Per-destination cache of [`Prepared`] values, bounded by
/// [`PREPARED_CAPACITY`]. Temporary destinations (reply inboxes) are not
/// part of the key, so they do not fill it.
#[derive(Debug)]
pub(crate) struct DestinationCache {
    entries: BoundCache<OwnedKey, Arc<Prepared>>,
}

impl Default for DestinationCache {
    fn default() -> Self {
        Self {
            entries: BoundCache::new(PREPARED_CAPACITY),
        }
    }
}

impl DestinationCache {
    /// The prepared values of `op`: the cached entry, or (cache full) one
    /// made for this call only.
    pub(crate) fn get(&self, op: &Operation) -> Arc<Prepared> {
        let make = |cached: bool| {
            let name = op.span_name();
            Arc::new(Prepared {
                name: if cached { intern_span_name(name) } else { name },
                metric_attrs: op.metric_attrs().into(),
                cached,
                bound: Default::default(),
            })
        };
        // The key is viewed once; the lookup hashes and compares that view.
        let key = DestinationKey::of(op);
        self.entries
            .get_or_bind_by(&key as &dyn KeyView, || OwnedKey::new(key), || make(true))
            .unwrap_or_else(|| make(false))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// What an operation's span name and shared attributes depend on, borrowed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct DestinationKey<'a> {
    /// System and operation name are `'static` strings: hashed and
    /// compared by address (an equal name at another address is only a
    /// second entry with the same values).
    system: StaticKey,
    name: StaticKey,
    op_type: OperationType,
    target: Target<'a>,
    partition: Option<&'a str>,
    consumer_group: Option<&'a str>,
    server: Option<(&'a str, u16)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Target<'a> {
    Template(&'a str),
    Destination(&'a str),
    None,
}

/// A value that can be seen as a [`DestinationKey`]: the stored key and a
/// borrowed one alike, so the cache is searched with a key borrowed from
/// the operation (through `dyn KeyView`, which the stored key borrows as).
trait KeyView {
    fn view(&self) -> DestinationKey<'_>;
}

impl<'a> DestinationKey<'a> {
    /// The key of `op`.
    fn of(op: &'a Operation) -> Self {
        let target = match (&op.template, op.named_destination()) {
            (Some(t), _) => Target::Template(t),
            (None, Some(d)) => Target::Destination(d),
            (None, None) => Target::None,
        };
        DestinationKey {
            system: StaticKey(op.system),
            name: StaticKey(op.name),
            op_type: op.op_type,
            target,
            partition: op.partition.as_deref(),
            consumer_group: op.consumer_group.as_deref(),
            server: op.server.as_deref().map(|(h, p)| (h.as_str(), *p)),
        }
    }
}

impl KeyView for DestinationKey<'_> {
    fn view(&self) -> DestinationKey<'_> {
        *self
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.view().hash(h);
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}

impl Eq for dyn KeyView + '_ {}

/// The owned form of a [`DestinationKey`], stored in the cache.
struct OwnedKey {
    system: &'static str,
    name: &'static str,
    op_type: OperationType,
    target: OwnedTarget,
    partition: Option<Box<str>>,
    consumer_group: Option<Box<str>>,
    server: Option<(Box<str>, u16)>,
}

/// The owned form of a [`Target`].
enum OwnedTarget {
    Template(Box<str>),
    Destination(Box<str>),
    None,
}

impl OwnedKey {
    fn new(key: DestinationKey<'_>) -> Self {
        let target = match key.target {
            Target::Template(t) => OwnedTarget::Template(t.into()),
            Target::Destination(d) => OwnedTarget::Destination(d.into()),
            Target::None => OwnedTarget::None,
        };
        Self {
            system: key.system.0,
            name: key.name.0,
            op_type: key.op_type,
            target,
            partition: key.partition.map(Into::into),
            consumer_group: key.consumer_group.map(Into::into),
            server: key.server.map(|(h, p)| (h.into(), p)),
        }
    }
}

impl KeyView for OwnedKey {
    fn view(&self) -> DestinationKey<'_> {
        let target = match &self.target {
            OwnedTarget::Template(t) => Target::Template(t),
            OwnedTarget::Destination(d) => Target::Destination(d),
            OwnedTarget::None => Target::None,
        };
        DestinationKey {
            system: StaticKey(self.system),
            name: StaticKey(self.name),
            op_type: self.op_type,
            target,
            partition: self.partition.as_deref(),
            consumer_group: self.consumer_group.as_deref(),
            server: self.server.as_ref().map(|(h, p)| (&**h, *p)),
        }
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for OwnedKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

// The stored key hashes and compares as its borrowed form does (the
// `Borrow` contract).
impl Hash for OwnedKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.view().hash(h);
    }
}

impl PartialEq for OwnedKey {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}

impl Eq for OwnedKey {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    use otel_kit_core::instrument::BuildFastHasher;

    fn op(destination: &str, temporary: bool) -> Operation {
        let mut op =
            Operation::new("nats", "publish", OperationType::Send).destination(destination);
        op.temporary = temporary;
        op.server = Some(Arc::new(("localhost".to_owned(), 4222)));
        op
    }

    #[test]
    fn cached_values_match_uncached_ones() {
        let cache = DestinationCache::default();
        for (dest, temporary) in [("a.b", false), ("a.c", false), ("_INBOX.x", true)] {
            let op = op(dest, temporary);
            let first = cache.get(&op);
            let again = cache.get(&op);
            assert!(Arc::ptr_eq(&first, &again));
            assert_eq!(first.name, op.span_name());
            assert_eq!(&*first.metric_attrs, op.metric_attrs().as_slice());
        }
        // Temporary destinations share the entry keyed by the server.
        let inbox = cache.get(&op("_INBOX.y", true));
        assert_eq!(inbox.name, "publish localhost:4222");
        assert!(Arc::ptr_eq(&inbox, &cache.get(&op("_INBOX.x", true))));
        // Other fields are part of the key.
        let mut grouped = op("a.b", false);
        grouped.consumer_group = Some("g".to_owned());
        let g = cache.get(&grouped);
        assert!(!Arc::ptr_eq(&g, &cache.get(&op("a.b", false))));
        assert_eq!(&*g.metric_attrs, grouped.metric_attrs().as_slice());
        // A template and a destination of the same text differ.
        let mut templated = op("a.b", false);
        templated.template = Some("a.b".to_owned());
        assert!(!Arc::ptr_eq(
            &cache.get(&templated),
            &cache.get(&op("a.b", false))
        ));
    }

    #[test]
    fn stored_and_borrowed_keys_hash_alike() {
        let hasher = BuildFastHasher::default();
        for (dest, temporary) in [
            ("orders.10", false),
            ("orders.108", false),
            ("_INBOX.1", true),
        ] {
            let op = op(dest, temporary);
            let key = DestinationKey::of(&op);
            let owned = OwnedKey::new(key);
            assert_eq!(
                hasher.hash_one(&owned),
                hasher.hash_one(&key as &dyn KeyView)
            );
            assert!(&owned as &dyn KeyView == &key as &dyn KeyView);
        }
        let (a, b) = (op("orders.10", false), op("orders.108", false));
        assert_ne!(
            hasher.hash_one(&DestinationKey::of(&a) as &dyn KeyView),
            hasher.hash_one(&DestinationKey::of(&b) as &dyn KeyView)
        );
    }

    #[test]
    fn cached_entries_share_an_interned_name_and_others_stay_owned() {
        let a = DestinationCache::default();
        let b = DestinationCache::default();
        let first = a.get(&op("interned.subject", false));
        let second = b.get(&op("interned.subject", false));
        assert!(first.cached && second.cached);
        match (&first.name, &second.name) {
            (Cow::Borrowed(x), Cow::Borrowed(y)) => assert!(std::ptr::eq(*x, *y)),
            other => panic!("not interned: {other:?}"),
        }
        assert_eq!(first.name, "publish interned.subject");
        // Past the capacity, entries are made per call: not cached, so no
        // interned name and no bound instruments.
        let full = DestinationCache::default();
        for i in 0..PREPARED_CAPACITY {
            assert!(full.get(&op(&format!("fill.{i}"), false)).cached);
        }
        let overflow = full.get(&op("overflow", false));
        assert!(!overflow.cached);
        assert!(matches!(overflow.name, Cow::Owned(_)));
        assert_eq!(overflow.name, "publish overflow");
        assert!(overflow.bound.iter().all(|b| b.get().is_none()));
        assert_eq!(full.len(), PREPARED_CAPACITY);
    }
}
