//! Span names shared as `&'static str`: the SDK takes a span name as
//! `Cow<'static, str>`, so a name known only at run time (a destination, a
//! saga step) would otherwise be copied into a new allocation for every
//! span.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// Most bytes of span names [`intern_span_name`] keeps for the life of the
/// process, over all the layer crates.
pub const INTERNED_SPAN_NAME_BYTES: usize = 256 * 1024;

/// `name` as a `'static` string shared by every span that uses it: each
/// distinct name is allocated once per process and never freed, up to
/// [`INTERNED_SPAN_NAME_BYTES`] in total; past that, names stay owned
/// (one allocation per span, as without interning). Borrowed names are
/// returned as they are. Call it where a name is set up (a cached
/// destination, a step definition), not per span: it takes a lock.
///
/// ```
/// use std::borrow::Cow;
/// use otel_kit_core::instrument::intern_span_name;
///
/// let a = intern_span_name(Cow::Owned(format!("process {}", "orders")));
/// let b = intern_span_name(Cow::Owned("process orders".to_string()));
/// assert!(matches!((&a, &b), (Cow::Borrowed(x), Cow::Borrowed(y)) if std::ptr::eq(*x, *y)));
/// ```
pub fn intern_span_name(name: Cow<'static, str>) -> Cow<'static, str> {
    #[derive(Default)]
    struct Interned {
        names: HashSet<&'static str>,
        bytes: usize,
    }
    static INTERNED: OnceLock<Mutex<Interned>> = OnceLock::new();
    let Cow::Owned(owned) = name else {
        return name;
    };
    let Ok(mut interned) = INTERNED.get_or_init(Mutex::default).lock() else {
        return Cow::Owned(owned);
    };
    if let Some(found) = interned.names.get(owned.as_str()) {
        return Cow::Borrowed(found);
    }
    if interned.bytes + owned.len() > INTERNED_SPAN_NAME_BYTES {
        return Cow::Owned(owned);
    }
    interned.bytes += owned.len();
    let leaked: &'static str = Box::leak(owned.into_boxed_str());
    interned.names.insert(leaked);
    Cow::Borrowed(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_bounded_and_keeps_borrowed_names() {
        let long = "x".repeat(INTERNED_SPAN_NAME_BYTES + 1);
        assert!(matches!(intern_span_name(Cow::Owned(long)), Cow::Owned(_)));
        assert!(matches!(
            intern_span_name(Cow::Borrowed("static")),
            Cow::Borrowed("static")
        ));
        let a = intern_span_name(Cow::Owned("send a".into()));
        let b = intern_span_name(Cow::Owned("send a".into()));
        assert!(matches!((a, b), (Cow::Borrowed(x), Cow::Borrowed(y)) if std::ptr::eq(x, y)));
    }
}
