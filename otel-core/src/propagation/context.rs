//! Context helpers over the global text-map propagator, task spawning that
//! keeps the current context, and baggage get/set within the W3C limits.

use std::future::Future;

use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::context::FutureExt;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::{Context, Key, StringValue, global};

use super::baggage::{
    MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBER_BYTES, MAX_BAGGAGE_MEMBERS, member_len,
};
use super::carrier::{HeaderExtractor, HeaderInjector};

/// Writes `cx` into a carrier with the global text-map propagator
/// (`opentelemetry::global::set_text_map_propagator`; a no-op until one is set).
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::Context;
/// use otel_kit_core::propagation::{inject, MapInjector};
///
/// let mut carrier: HashMap<String, String> = HashMap::new();
/// inject(&Context::current(), &mut MapInjector(&mut carrier));
/// ```
pub fn inject(cx: &Context, injector: &mut dyn Injector) {
    global::get_text_map_propagator(|propagator| propagator.inject_context(cx, injector));
}

/// Reads a context from a carrier with the global text-map propagator,
/// starting from the current context. Invalid input yields the current
/// context unchanged.
///
/// ```
/// use otel_kit_core::propagation::{extract, MapExtractor};
///
/// let carrier = [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")];
/// let _cx = extract(&MapExtractor(&carrier[..]));
/// ```
pub fn extract(extractor: &dyn Extractor) -> Context {
    Context::map_current(|cx| extract_with(cx, extractor))
}

/// Like [`extract`], starting from `cx` instead of the current context:
/// the result is `cx` plus whatever the carrier holds.
///
/// ```
/// use opentelemetry::Context;
/// use otel_kit_core::propagation::{extract_with, MapExtractor};
///
/// let carrier: [(&str, &str); 0] = [];
/// let _cx = extract_with(&Context::new(), &MapExtractor(&carrier[..]));
/// ```
pub fn extract_with(cx: &Context, extractor: &dyn Extractor) -> Context {
    global::get_text_map_propagator(|propagator| propagator.extract_with_context(cx, extractor))
}

/// [`inject`] into HTTP headers.
///
/// ```
/// use http::HeaderMap;
/// use opentelemetry::Context;
/// use otel_kit_core::propagation::inject_headers;
///
/// let mut headers = HeaderMap::new();
/// inject_headers(&Context::current(), &mut headers);
/// ```
pub fn inject_headers(cx: &Context, headers: &mut http::HeaderMap) {
    inject(cx, &mut HeaderInjector(headers));
}

/// [`extract`] from HTTP headers.
///
/// ```
/// use http::HeaderMap;
/// use otel_kit_core::propagation::extract_headers;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// let _cx = extract_headers(&headers);
/// ```
pub fn extract_headers(headers: &http::HeaderMap) -> Context {
    extract(&HeaderExtractor(headers))
}

/// Spawns `future` on the Tokio runtime with the current OpenTelemetry
/// context attached on every poll, so spans started inside it are children of
/// the caller's span and its baggage is visible.
///
/// # Panics
///
/// Like `tokio::spawn`, when called outside a Tokio runtime.
///
/// ```
/// use opentelemetry::baggage::BaggageExt;
/// use opentelemetry::{Context, KeyValue};
/// use otel_kit_core::propagation::{baggage_get, spawn_in_current_context};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let _guard = Context::new().with_baggage([KeyValue::new("user", "alice")]).attach();
/// let user = spawn_in_current_context(async { baggage_get(&Context::current(), "user") })
///     .await
///     .unwrap();
/// assert_eq!(user.as_deref(), Some("alice"));
/// # }
/// ```
pub fn spawn_in_current_context<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.with_current_context())
}

/// Spawns `future` on the Tokio runtime with `cx` attached on every poll.
///
/// # Panics
///
/// Like `tokio::spawn`, when called outside a Tokio runtime.
///
/// ```
/// use opentelemetry::Context;
/// use otel_kit_core::propagation::spawn_with_context;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cx = Context::new();
/// spawn_with_context(cx, async { /* traced work */ }).await.unwrap();
/// # }
/// ```
pub fn spawn_with_context<F>(cx: Context, future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.with_context(cx))
}

/// The baggage value stored under `key` in `cx`.
///
/// ```
/// use opentelemetry::Context;
/// use otel_kit_core::propagation::{baggage_get, baggage_set};
///
/// let cx = baggage_set(&Context::new(), [("tenant", "acme")]);
/// assert_eq!(baggage_get(&cx, "tenant").as_deref(), Some("acme"));
/// assert_eq!(baggage_get(&cx, "missing"), None);
/// ```
pub fn baggage_get(cx: &Context, key: &str) -> Option<String> {
    cx.baggage().get(key).map(|value| value.as_str().to_owned())
}

/// A copy of `cx` whose baggage holds `entries` on top of the baggage already
/// in `cx` (a key already present gets the new value).
///
/// Unlike `BaggageExt::with_baggage` (which replaces the whole baggage and
/// knows nothing of the wire), entries are added only while the baggage can
/// still be sent whole: an entry is skipped when its key is not a valid
/// token, its encoded member would exceed [`MAX_BAGGAGE_MEMBER_BYTES`], the
/// encoded header would exceed [`MAX_BAGGAGE_BYTES`], or the entry count
/// would exceed what [`Baggage`] holds (64) or [`MAX_BAGGAGE_MEMBERS`].
///
/// ```
/// use opentelemetry::Context;
/// use otel_kit_core::propagation::{baggage_get, baggage_set};
///
/// let cx = baggage_set(&Context::new(), [("user", "alice"), ("bad key", "x")]);
/// assert_eq!(baggage_get(&cx, "user").as_deref(), Some("alice"));
/// assert_eq!(baggage_get(&cx, "bad key"), None);
/// ```
pub fn baggage_set<I, K, V>(cx: &Context, entries: I) -> Context
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<Key>,
    V: Into<StringValue>,
{
    let mut scratch = String::new();
    let mut baggage: Baggage = cx
        .baggage()
        .iter()
        .map(|(key, entry)| (key.clone(), entry.clone()))
        .collect();
    // Encoded size of the header as it stands (each member plus its comma).
    let mut total: usize = baggage
        .iter()
        .filter_map(|(k, (v, m))| member_len(&mut scratch, k.as_str(), v.as_str(), m.as_str()))
        .map(|len| len + 1)
        .sum();
    for (key, value) in entries {
        let (key, value) = (key.into(), value.into());
        let Some(new_len) = member_len(&mut scratch, key.as_str(), value.as_str(), "") else {
            continue;
        };
        let old_len = baggage
            .get_with_metadata(key.as_str())
            .and_then(|(v, m)| member_len(&mut scratch, key.as_str(), v.as_str(), m.as_str()))
            .map_or(0, |len| len + 1);
        let new_total = total - old_len + new_len + 1;
        let count_ok = old_len > 0 || baggage.len() < MAX_BAGGAGE_MEMBERS;
        // `new_total` counts one comma too many (none after the last member).
        if new_len > MAX_BAGGAGE_MEMBER_BYTES || new_total - 1 > MAX_BAGGAGE_BYTES || !count_ok {
            continue;
        }
        let key_str = key.as_str().to_owned();
        let expected = value.clone();
        baggage.insert(key, value);
        // `Baggage` applies its own limits (64 entries); only count what it kept.
        if baggage.get(&key_str) == Some(&expected) {
            total = new_total;
        }
    }
    cx.with_baggage(baggage)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::propagation::TextMapCompositePropagator;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    use super::*;
    use crate::propagation::{
        BaggagePropagator, MAX_BAGGAGE_BYTES, TraceContextPropagator, format_baggage,
    };

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Name, entries to set, expected values afterwards.
    type SetCase = (
        &'static str,
        Vec<(String, String)>,
        Vec<(&'static str, Option<&'static str>)>,
    );

    fn install_w3c() {
        // Other tests (setup) may install the env default, which is also
        // tracecontext + baggage: these assertions hold for either.
        global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]));
    }

    #[test]
    fn global_helpers_round_trip_through_headers_and_maps() {
        install_w3c();
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", TRACEPARENT.parse().unwrap());
        headers.insert("baggage", "user=alice".parse().unwrap());
        let cx = extract_headers(&headers);
        assert_eq!(
            cx.span().span_context().trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
        assert!(cx.span().span_context().is_remote());
        assert_eq!(baggage_get(&cx, "user").as_deref(), Some("alice"));

        let mut out = http::HeaderMap::new();
        inject_headers(&cx, &mut out);
        assert_eq!(out.get("traceparent").unwrap(), TRACEPARENT);
        assert_eq!(out.get("baggage").unwrap(), "user=alice");

        let mut map: HashMap<String, String> = HashMap::new();
        inject(&cx, &mut crate::propagation::MapInjector(&mut map));
        assert_eq!(map["traceparent"], TRACEPARENT);
        let from_map = extract_with(&Context::new(), &crate::propagation::MapExtractor(&map));
        assert_eq!(from_map.span().span_context(), cx.span().span_context());

        // `extract` starts from the current context.
        let _guard = Context::new().with_value(42u32).attach();
        let cx = extract(&crate::propagation::HeaderExtractor(&headers));
        assert_eq!(cx.get::<u32>(), Some(&42));
        assert!(cx.has_active_span());
        // Invalid input: the current context comes back unchanged.
        let cx = extract(&crate::propagation::MapExtractor(
            &[("traceparent", "garbage")][..],
        ));
        assert_eq!(cx.get::<u32>(), Some(&42));
        assert!(!cx.has_active_span());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawned_tasks_keep_the_context() {
        let sc = SpanContext::new(
            TraceId::from(5),
            SpanId::from(6),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        let cx = baggage_set(
            &Context::new().with_remote_span_context(sc.clone()),
            [("k", "v")],
        );
        let seen = {
            let _guard = cx.clone().attach();
            spawn_in_current_context(async {
                tokio::task::yield_now().await;
                let current = Context::current();
                (
                    current.span().span_context().clone(),
                    baggage_get(&current, "k"),
                )
            })
        };
        assert_eq!(seen.await.unwrap(), (sc.clone(), Some("v".to_owned())));
        // Without the helper the task does not see it (the control for the test above).
        let plain = {
            let _guard = cx.clone().attach();
            tokio::spawn(async { baggage_get(&Context::current(), "k") })
        };
        assert_eq!(plain.await.unwrap(), None);
        let explicit = spawn_with_context(cx, async { baggage_get(&Context::current(), "k") });
        assert_eq!(explicit.await.unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn baggage_set_merges_and_respects_the_limits() {
        let base = Context::new().with_baggage([opentelemetry::KeyValue::new("keep", "1")]);
        let cases: Vec<SetCase> = vec![
            (
                "adds and keeps",
                vec![("a".into(), "x".into())],
                vec![("keep", Some("1")), ("a", Some("x"))],
            ),
            (
                "overrides",
                vec![("keep".into(), "2".into())],
                vec![("keep", Some("2"))],
            ),
            (
                "later entry wins",
                vec![("a".into(), "1".into()), ("a".into(), "2".into())],
                vec![("a", Some("2"))],
            ),
            (
                "invalid key skipped",
                vec![("bad key".into(), "x".into()), ("".into(), "x".into())],
                vec![("bad key", None), ("", None), ("keep", Some("1"))],
            ),
            (
                "member over 4096 skipped",
                vec![("big".into(), " ".repeat(1400)), ("ok".into(), "y".into())],
                vec![("big", None), ("ok", Some("y"))],
            ),
        ];
        for (name, entries, expected) in cases {
            let cx = baggage_set(&base, entries);
            for (key, value) in expected {
                assert_eq!(baggage_get(&cx, key).as_deref(), value, "{name}: {key}");
            }
            assert_eq!(
                baggage_get(&base, "a"),
                None,
                "{name}: input context untouched"
            );
        }

        // Total size: 1000 spaces encode to 3000 bytes; the third does not fit.
        let cx = baggage_set(
            &Context::new(),
            (0..4).map(|i| (format!("k{i}"), " ".repeat(1000))),
        );
        assert_eq!(cx.baggage().len(), 2);
        let header = format_baggage(cx.baggage()).unwrap();
        assert!(header.len() <= MAX_BAGGAGE_BYTES);
        assert_eq!(parse_count(&header), 2, "everything set is sent");
        // Replacing a big value by a small one frees room.
        let cx = baggage_set(&cx, [("k0", "s"), ("k2", "t")]);
        assert_eq!(baggage_get(&cx, "k2").as_deref(), Some("t"));

        // Entry count: `Baggage` keeps 64.
        let cx = baggage_set(
            &Context::new(),
            (0..100).map(|i| (format!("k{i}"), "v".to_owned())),
        );
        assert_eq!(cx.baggage().len(), 64);
        let cx = baggage_set(&cx, [("k0", "changed")]);
        assert_eq!(baggage_get(&cx, "k0").as_deref(), Some("changed"));
    }

    fn parse_count(header: &str) -> usize {
        crate::propagation::parse_baggage([header]).len()
    }
}
