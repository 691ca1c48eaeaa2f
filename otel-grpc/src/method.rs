//! The method of a call, from the request path `/{package.Service}/{Method}`.

use std::collections::HashSet;
use std::sync::Arc;

/// `_OTHER`: the `rpc.method` of a call whose method is not known.
pub const OTHER_METHOD: &str = "_OTHER";

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
}

impl MethodInfo {
    /// Parses `path`. When `known` is set, a method not in it is `_OTHER`.
    pub fn from_path(path: &str, known: Option<&HashSet<Box<str>>>) -> Self {
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
            }
        } else {
            MethodInfo {
                full: Arc::from(OTHER_METHOD),
                service_len: 0,
                original: Some(Arc::from(name)),
            }
        }
    }

    pub fn is_other(&self) -> bool {
        self.original.is_some()
    }

    /// `pkg.Service` (old `rpc.service`), `None` for `_OTHER`.
    pub fn service(&self) -> Option<&str> {
        (!self.is_other()).then(|| &self.full[..self.service_len])
    }

    /// The short method name (old `rpc.method`): `Method`, or `_OTHER`.
    pub fn short(&self) -> &str {
        if self.is_other() {
            OTHER_METHOD
        } else {
            &self.full[self.service_len + 1..]
        }
    }

    /// The span name: `pkg.Service/Method`, or `grpc` when unknown.
    pub fn span_name(&self) -> String {
        if self.is_other() {
            "grpc".to_owned()
        } else {
            String::from(&*self.full)
        }
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
}
