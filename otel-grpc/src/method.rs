//! The method of a call, from the request path `/{package.Service}/{Method}`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use otel_kit_core::instrument::{BuildFastHasher, OTHER, intern_span_name};

/// What a request path says about the called method.
#[derive(Clone, Debug)]
pub(crate) struct MethodInfo {
    /// Fully qualified `pkg.Service/Method`, or `_OTHER`.
    pub full: Arc<str>,
    /// Length of the service part of `full` (0 for `_OTHER`).
    service_len: usize,
    /// The original name when `full` is `_OTHER` (the path without its
    /// leading `/`).
    pub original: Option<Arc<str>>,
    /// The span name: `pkg.Service/Method`, or `grpc` when unknown
    /// (interned once a [`MethodCache`] holds the method).
    span_name: Cow<'static, str>,
}

impl MethodInfo {
    /// Parses `path`. When `known` is set, a method not in it is `_OTHER`.
    pub(crate) fn from_path(path: &str, known: Option<&HashSet<Box<str>>>) -> Self {
        let name = path.strip_prefix('/').unwrap_or(path);
        let well_formed = match name.split_once('/') {
            Some((service, method)) => {
                !service.is_empty() && !method.is_empty() && !method.contains('/')
            }
            None => false,
        };
        let registered = known.is_none_or(|k| k.contains(name));
        if well_formed && registered {
            let service_len = name.find('/').unwrap_or(0);
            MethodInfo {
                full: Arc::from(name),
                service_len,
                original: None,
                span_name: Cow::Owned(name.to_owned()),
            }
        } else {
            MethodInfo {
                full: Arc::from(OTHER),
                service_len: 0,
                original: Some(Arc::from(name)),
                span_name: Cow::Borrowed("grpc"),
            }
        }
    }

    pub(crate) fn is_other(&self) -> bool {
        self.original.is_some()
    }

    /// `pkg.Service` (old `rpc.service`), `None` for `_OTHER`.
    pub(crate) fn service(&self) -> Option<&str> {
        (!self.is_other()).then(|| &self.full[..self.service_len])
    }

    /// The short method name (old `rpc.method`): `Method`, or `_OTHER`.
    pub(crate) fn short(&self) -> &str {
        if self.is_other() {
            OTHER
        } else {
            &self.full[self.service_len + 1..]
        }
    }

    /// The span name: `pkg.Service/Method`, or `grpc` when unknown.
    pub(crate) fn span_name(&self) -> Cow<'static, str> {
        self.span_name.clone()
    }
}

/// How many methods a layer keeps parsed (a service's methods fit; calls to
/// more are parsed per call, as without the cache).
const CACHED_METHODS: usize = 1024;

/// The parsed methods of one layer, by request path: a call to a method
/// seen before costs one read-locked lookup instead of parsing the path and
/// allocating its name and span name. Only known, well-formed methods are
/// kept (an unknown path is `_OTHER` and parsed per call), at most
/// [`CACHED_METHODS`].
#[derive(Debug, Default)]
pub(crate) struct MethodCache {
    map: RwLock<HashMap<Box<str>, MethodInfo, BuildFastHasher>>,
}

impl MethodCache {
    /// The method of `path` ([`MethodInfo::from_path`]).
    pub(crate) fn get(&self, path: &str, known: Option<&HashSet<Box<str>>>) -> MethodInfo {
        if let Ok(map) = self.map.read()
            && let Some(info) = map.get(path)
        {
            return info.clone();
        }
        let mut info = MethodInfo::from_path(path, known);
        if !info.is_other()
            && let Ok(mut map) = self.map.write()
            && map.len() < CACHED_METHODS
        {
            info.span_name = intern_span_name(info.span_name);
            map.entry(Box::from(path)).or_insert_with(|| info.clone());
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths() {
        let m = MethodInfo::from_path("/shop.v1.Orders/GetOrder", None);
        assert_eq!(&*m.full, "shop.v1.Orders/GetOrder");
        assert_eq!(m.service(), Some("shop.v1.Orders"));
        assert_eq!(m.short(), "GetOrder");
        assert_eq!(m.span_name(), "shop.v1.Orders/GetOrder");
        for bad in ["", "/", "//", "/a", "/a/", "//b", "/a/b/c", "x"] {
            let m = MethodInfo::from_path(bad, None);
            assert!(m.is_other(), "{bad}");
            assert_eq!(&*m.full, "_OTHER");
            assert_eq!(m.span_name(), "grpc");
            assert_eq!(m.short(), "_OTHER");
            assert_eq!(m.service(), None);
        }
    }

    #[test]
    fn known_methods() {
        let known: HashSet<Box<str>> = ["a.S/M".into()].into_iter().collect();
        assert!(!MethodInfo::from_path("/a.S/M", Some(&known)).is_other());
        let other = MethodInfo::from_path("/a.S/N", Some(&known));
        assert_eq!(other.original.as_deref(), Some("a.S/N"));
    }

    #[test]
    fn cache_keeps_known_methods_only() {
        let known: HashSet<Box<str>> = ["a.S/M".into()].into_iter().collect();
        let cache = MethodCache::default();
        for _ in 0..2 {
            let m = cache.get("/a.S/M", Some(&known));
            assert_eq!((&*m.full, &*m.span_name()), ("a.S/M", "a.S/M"));
            let o = cache.get("/a.S/N", Some(&known));
            assert!(o.is_other());
            assert_eq!(o.original.as_deref(), Some("a.S/N"));
        }
        assert_eq!(cache.map.read().unwrap().len(), 1);
        assert!(matches!(
            cache.get("/a.S/M", Some(&known)).span_name(),
            Cow::Borrowed(_)
        ));
    }
}
