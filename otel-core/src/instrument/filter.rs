use std::fmt;
use std::sync::Arc;

/// Decides whether something (a request, a method name) is instrumented.
///
/// Implemented for closures `Fn(&T) -> bool`; combine filters with
/// [`any`], [`all`], [`not`] or the [`FilterExt`] methods. The layer crates
/// offer ready filters (health checks, path prefixes, gRPC services) built on
/// this trait.
///
/// ```
/// use otel_kit_core::instrument::{Filter, FilterExt, not};
///
/// let is_health = |path: &str| path == "/health";
/// let is_metrics = |path: &str| path.starts_with("/metrics");
/// let traced = not(is_health.or(is_metrics));
/// assert!(traced.matches("/users/1"));
/// assert!(!traced.matches("/health"));
/// ```
pub trait Filter<T: ?Sized>: Send + Sync {
    /// Whether `item` passes.
    fn matches(&self, item: &T) -> bool;
}

impl<T: ?Sized, F> Filter<T> for F
where
    F: Fn(&T) -> bool + Send + Sync,
{
    fn matches(&self, item: &T) -> bool {
        self(item)
    }
}

impl<T: ?Sized> Filter<T> for Arc<dyn Filter<T>> {
    fn matches(&self, item: &T) -> bool {
        (**self).matches(item)
    }
}

impl<T: ?Sized> Filter<T> for Box<dyn Filter<T>> {
    fn matches(&self, item: &T) -> bool {
        (**self).matches(item)
    }
}

/// Passes when any of its filters passes (none: never).
pub struct Any<T: ?Sized>(Vec<Box<dyn Filter<T>>>);
/// Passes when all of its filters pass (none: always).
pub struct All<T: ?Sized>(Vec<Box<dyn Filter<T>>>);
/// Passes when its filter does not.
pub struct Not<F>(F);

impl<T: ?Sized> fmt::Debug for Any<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Any({} filters)", self.0.len())
    }
}

impl<T: ?Sized> fmt::Debug for All<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "All({} filters)", self.0.len())
    }
}

impl<F> fmt::Debug for Not<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Not(..)")
    }
}

/// A filter passing when any of `filters` passes.
pub fn any<T: ?Sized>(filters: impl IntoIterator<Item = Box<dyn Filter<T>>>) -> Any<T> {
    Any(filters.into_iter().collect())
}

/// A filter passing when all of `filters` pass.
pub fn all<T: ?Sized>(filters: impl IntoIterator<Item = Box<dyn Filter<T>>>) -> All<T> {
    All(filters.into_iter().collect())
}

/// A filter passing when `filter` does not.
pub fn not<F>(filter: F) -> Not<F> {
    Not(filter)
}

impl<T: ?Sized> Filter<T> for Any<T> {
    fn matches(&self, item: &T) -> bool {
        self.0.iter().any(|f| f.matches(item))
    }
}

impl<T: ?Sized> Filter<T> for All<T> {
    fn matches(&self, item: &T) -> bool {
        self.0.iter().all(|f| f.matches(item))
    }
}

impl<T: ?Sized, F: Filter<T>> Filter<T> for Not<F> {
    fn matches(&self, item: &T) -> bool {
        !self.0.matches(item)
    }
}

/// Combinators on any filter.
pub trait FilterExt<T: ?Sized>: Filter<T> + Sized + 'static {
    /// Passes when `self` or `other` passes.
    fn or(self, other: impl Filter<T> + 'static) -> Any<T> {
        Any(vec![Box::new(self), Box::new(other)])
    }

    /// Passes when `self` and `other` pass.
    fn and(self, other: impl Filter<T> + 'static) -> All<T> {
        All(vec![Box::new(self), Box::new(other)])
    }

    /// Boxes the filter (to store filters of different types together).
    fn boxed(self) -> Box<dyn Filter<T>> {
        Box::new(self)
    }
}

impl<T: ?Sized, F: Filter<T> + Sized + 'static> FilterExt<T> for F {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinators() {
        let even = |n: &u32| n.is_multiple_of(2);
        let big = |n: &u32| *n > 10;
        assert!(even.or(big).matches(&11));
        assert!(!even.and(big).matches(&11));
        assert!(even.and(big).matches(&12));
        assert!(not(even).matches(&3));
        let none: Any<u32> = any([]);
        assert!(!none.matches(&1));
        let every: All<u32> = all([]);
        assert!(every.matches(&1));
        let mixed = any([even.boxed(), big.boxed()]);
        assert!(mixed.matches(&4) && mixed.matches(&13) && !mixed.matches(&5));
    }
}
