//! A process-wide cache keyed per route template: the template and its
//! `{method} {route}` span names as `&'static str`, so a request on a known
//! route allocates neither its span name nor its `http.route` values.
//!
//! Route templates are few (one per route of the application), so they are
//! leaked once and shared by every layer; span names are interned with the
//! family's one interner (`otel_kit_core::instrument::intern_span_name`). The
//! cache stops growing after [`MAX_ROUTES`] routes or [`MAX_NAMES`] names
//! (or when the interner is full), after which the layer allocates per
//! request as before (a router producing unbounded "templates" costs
//! allocations, never unbounded memory).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use otel_kit_core::instrument::{BuildFastHasher, intern_span_name};

/// Most distinct routes kept.
const MAX_ROUTES: usize = 1024;
/// Most distinct span names kept (routes × methods).
const MAX_NAMES: usize = 4096;

/// A route template and the span names built on it, all leaked.
struct RouteEntry {
    route: &'static str,
    /// `(method part, "{method part} {route}")`; the method parts are the
    /// `&'static str`s of [`crate::attributes::MethodAttr::name_part`].
    names: Vec<(&'static str, &'static str)>,
}

/// Keyed by route template with the family's [`FastHasher`](otel_kit_core::instrument::FastHasher):
/// templates are short strings the router produces (no hash-flooding
/// concern: the cache is bounded).
type Map = HashMap<Box<str>, RouteEntry, BuildFastHasher>;

struct Cache {
    map: RwLock<Map>,
}

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Cache {
        map: RwLock::new(Map::default()),
    })
}

/// A route template and, when asked for, its span name, as static strings.
pub(crate) struct Named {
    pub route: &'static str,
    pub name: Option<&'static str>,
}

thread_local! {
    /// Each thread's copy of the entries it has used: the hot path takes no
    /// lock and touches no shared cache line. Bounded like the shared map
    /// (only entries the shared map returned are copied).
    static LOCAL: RefCell<Map> = RefCell::new(Map::default());
}

fn find(map: &Map, route: &str, method: Option<&'static str>) -> Option<Named> {
    let entry = map.get(route)?;
    match method {
        None => Some(Named {
            route: entry.route,
            name: None,
        }),
        Some(m) => entry
            .names
            .iter()
            .find(|(p, _)| *p == m)
            .map(|&(_, name)| Named {
                route: entry.route,
                name: Some(name),
            }),
    }
}

/// The static copy of `route` and, with `method` (a static method part),
/// the static `"{method} {route}"`; `None` when the cache is full.
pub(crate) fn lookup(route: &str, method: Option<&'static str>) -> Option<Named> {
    if let Ok(Some(hit)) = LOCAL.try_with(|local| find(&local.borrow(), route, method)) {
        return Some(hit);
    }
    let named = shared_lookup(route, method)?;
    let _ = LOCAL.try_with(|local| {
        let mut local = local.borrow_mut();
        let entry = local.entry(Box::from(route)).or_insert_with(|| RouteEntry {
            route: named.route,
            names: Vec::new(),
        });
        if let (Some(m), Some(name)) = (method, named.name)
            && !entry.names.iter().any(|(p, _)| *p == m)
        {
            entry.names.push((m, name));
        }
    });
    Some(named)
}

#[cold]
fn shared_lookup(route: &str, method: Option<&'static str>) -> Option<Named> {
    let cache = cache();
    {
        let map = cache.map.read().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = find(&map, route, method) {
            return Some(hit);
        }
    }
    insert(cache, route, method)
}

#[cold]
fn insert(cache: &Cache, route: &str, method: Option<&'static str>) -> Option<Named> {
    static NAMES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut map = cache.map.write().unwrap_or_else(|e| e.into_inner());
    if !map.contains_key(route) {
        if map.len() >= MAX_ROUTES {
            return None;
        }
        let leaked: &'static str = Box::leak(Box::from(route));
        map.insert(
            Box::from(route),
            RouteEntry {
                route: leaked,
                names: Vec::new(),
            },
        );
    }
    let entry = map.get_mut(route)?;
    let Some(m) = method else {
        return Some(Named {
            route: entry.route,
            name: None,
        });
    };
    if let Some(&(_, name)) = entry.names.iter().find(|(p, _)| *p == m) {
        return Some(Named {
            route: entry.route,
            name: Some(name),
        });
    }
    if NAMES.load(std::sync::atomic::Ordering::Relaxed) >= MAX_NAMES {
        return Some(Named {
            route: entry.route,
            name: None,
        });
    }
    let mut name = String::with_capacity(m.len() + 1 + route.len());
    name.push_str(m);
    name.push(' ');
    name.push_str(route);
    let Cow::Borrowed(name) = intern_span_name(Cow::Owned(name)) else {
        // The interner is full: this name is built per request.
        return Some(Named {
            route: entry.route,
            name: None,
        });
    };
    NAMES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    entry.names.push((m, name));
    Some(Named {
        route: entry.route,
        name: Some(name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cached_and_static() {
        let a = lookup("/cache-test/{id}", Some("GET")).unwrap();
        assert_eq!(a.route, "/cache-test/{id}");
        assert_eq!(a.name, Some("GET /cache-test/{id}"));
        let b = lookup("/cache-test/{id}", Some("GET")).unwrap();
        assert!(std::ptr::eq(a.name.unwrap(), b.name.unwrap()));
        let c = lookup("/cache-test/{id}", Some("POST")).unwrap();
        assert_eq!(c.name, Some("POST /cache-test/{id}"));
        assert!(std::ptr::eq(a.route, c.route));
        let d = lookup("/cache-test/{id}", None).unwrap();
        assert_eq!(d.name, None);
    }
}
