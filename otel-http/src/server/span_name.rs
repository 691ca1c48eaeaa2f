//! Step 2: the span's name, `{method} {route}` from the route template
//! (`{method}` alone when no template is known; never the raw path), or
//! the builder's `span_name` format.

use std::borrow::Cow;

use http::request::Parts;

use super::config::ServerConfig;
use super::request::Incoming;

/// The span name of the request: the route cache's static string on a
/// known route, so naming allocates nothing there.
#[inline]
pub(crate) fn span_name(
    config: &ServerConfig,
    parts: &Parts,
    incoming: &Incoming<'_>,
) -> Cow<'static, str> {
    let route = incoming.route.as_ref();
    if let Some(format) = &config.span_name {
        return Cow::Owned(format(parts, route.map(|r| r.template)));
    }
    let method = incoming.method.name_part();
    match route {
        None => method,
        Some(r) => match r.cached_name {
            Some(cached) => Cow::Borrowed(cached),
            None => {
                let mut name = String::with_capacity(method.len() + 1 + r.template.len());
                name.push_str(&method);
                name.push(' ');
                name.push_str(r.template);
                Cow::Owned(name)
            }
        },
    }
}
