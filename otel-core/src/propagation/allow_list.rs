//! Where trace context may be sent: the destination allow-list the client
//! layers (otel-kit-http, otel-kit-grpc) share.

/// Destination hosts a client may send trace context, baggage and
/// forwarded headers to: exact host names (ASCII case-insensitive; IPv6
/// literals with or without brackets; a unix socket path) and `*.suffix`
/// wildcards (any name strictly below `suffix`). Ports are not part of an
/// entry. An empty list allows nothing.
///
/// ```
/// use otel_kit_core::propagation::HostAllowList;
///
/// let list = HostAllowList::new(["*.svc.cluster.local", "Billing.internal", "[::1]"]);
/// assert!(list.allows("orders.prod.svc.cluster.local"));
/// assert!(!list.allows("svc.cluster.local")); // strictly below the suffix
/// assert!(list.allows("billing.INTERNAL"));
/// assert!(list.allows("::1"));
/// assert!(!list.allows("evil.example"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostAllowList(Vec<Box<str>>);

impl HostAllowList {
    /// The list of `hosts` (blank entries are ignored).
    pub fn new<I, H>(hosts: I) -> Self
    where
        I: IntoIterator<Item = H>,
        H: AsRef<str>,
    {
        HostAllowList(
            hosts
                .into_iter()
                .filter_map(|h| {
                    let h = h.as_ref().trim();
                    let h = h
                        .strip_prefix('[')
                        .and_then(|h| h.strip_suffix(']'))
                        .unwrap_or(h);
                    (!h.is_empty()).then(|| Box::from(h))
                })
                .collect(),
        )
    }

    /// Whether `host` (without port; IPv6 without brackets) is on the list.
    pub fn allows(&self, host: &str) -> bool {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        !host.is_empty()
            && self
                .0
                .iter()
                .any(|allowed| match allowed.strip_prefix("*.") {
                    Some(suffix) => {
                        host.len() > suffix.len() + 1
                            && host
                                .get(host.len() - suffix.len()..)
                                .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
                            && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                    }
                    None => allowed.eq_ignore_ascii_case(host),
                })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_wildcard_and_edge_cases() {
        let list = HostAllowList::new(["api.example", "*.internal", " ", "[fe80::1]"]);
        assert!(list.allows("API.example"));
        assert!(list.allows("a.b.internal"));
        assert!(!list.allows("internal"));
        assert!(!list.allows(".internal"));
        assert!(!list.allows("xinternal"));
        assert!(list.allows("fe80::1"));
        assert!(list.allows("[fe80::1]"));
        assert!(!list.allows(""));
        // Non-ASCII never panics on the suffix slice.
        assert!(!list.allows("é.internal.ü"));
        assert!(!HostAllowList::new(Vec::<String>::new()).allows("api.example"));
    }
}
