//! `server.address` / `server.port` of a client span, from the channel target
//! (never from the socket), as the RPC conventions define it.

use std::sync::Arc;

/// The logical server a client calls, parsed from a channel target.
///
/// | target | `server.address` | `server.port` |
/// |---|---|---|
/// | `grpc.io:50051`, `http://grpc.io:50051` | `grpc.io` | `50051` |
/// | `dns://1.2.3.4/grpc.io:50051`, `dns:///grpc.io:50051` | `grpc.io` | `50051` |
/// | `https://grpc.io` | `grpc.io` | `443` |
/// | `[::1]:50051`, `ipv6:[::1]:50051` | `::1` | `50051` |
/// | `unix:///run/x.sock`, `unix:/run/x.sock` | `/run/x.sock` | none |
/// | anything else (`zk://…`, `ipv4:a:p,b:p`) | the whole target | none |
///
/// Userinfo (`user:password@`) in the target's authority is never kept,
/// whatever the form: `http://u:p@h:1` is `h`, `zk://u:p@zk/svc` is
/// `zk://zk/svc`.
///
/// ```
/// use otel_kit_grpc::ServerAddress;
///
/// let s = ServerAddress::parse("dns://1.2.3.4/grpc.io:50051");
/// assert_eq!((s.address(), s.port()), ("grpc.io", Some(50051)));
/// let u = ServerAddress::parse("unix:///run/x.sock");
/// assert_eq!((u.address(), u.port()), ("/run/x.sock", None));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAddress {
    address: Arc<str>,
    port: Option<u16>,
}

impl ServerAddress {
    /// An explicit address and port.
    pub fn new(address: impl AsRef<str>, port: Option<u16>) -> Self {
        ServerAddress {
            address: Arc::from(address.as_ref()),
            port,
        }
    }

    /// Parses a gRPC channel target (see the table above). Never fails: an
    /// unparseable target is kept whole, without a port.
    pub fn parse(target: &str) -> Self {
        let target = without_userinfo(target.trim());
        parse_known(&target).unwrap_or_else(|| ServerAddress::new(&*target, None))
    }

    /// `server.address`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `server.port`, when the target has one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub(crate) fn address_arc(&self) -> &Arc<str> {
        &self.address
    }
}

fn parse_known(target: &str) -> Option<ServerAddress> {
    if let Some(path) = target.strip_prefix("unix://") {
        return (!path.is_empty()).then(|| ServerAddress::new(path, None));
    }
    if let Some(path) = target.strip_prefix("unix:") {
        return (!path.is_empty()).then(|| ServerAddress::new(path, None));
    }
    if let Some(rest) = target.strip_prefix("dns:") {
        // dns:[//authority/]host[:port]
        let host_port = match rest.strip_prefix("//") {
            Some(with_authority) => with_authority.split_once('/')?.1,
            None => rest,
        };
        return host_and_port(host_port, None);
    }
    if let Some(rest) = target.strip_prefix("ipv4:") {
        return (!rest.contains(','))
            .then(|| host_and_port(rest, None))
            .flatten();
    }
    if let Some(rest) = target.strip_prefix("ipv6:") {
        return (!rest.contains(','))
            .then(|| host_and_port(rest, None))
            .flatten();
    }
    for (scheme, default_port) in [("http://", 80), ("https://", 443)] {
        if let Some(rest) = strip_prefix_ignore_case(target, scheme) {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let authority = authority.rsplit('@').next().unwrap_or(authority);
            return host_and_port(authority, Some(default_port));
        }
    }
    if target.contains("://") {
        return None;
    }
    host_and_port(target, None)
}

/// `target` without the userinfo of its authority: the part before the
/// last `@` of `scheme://authority` (up to the first `/`, `?` or `#`), or,
/// without `://`, of the part before the first `/`.
fn without_userinfo(target: &str) -> std::borrow::Cow<'_, str> {
    let (head, rest) = match target.find("://") {
        Some(i) => target.split_at(i + 3),
        None => ("", target),
    };
    let end = if head.is_empty() {
        rest.find('/')
    } else {
        rest.find(['/', '?', '#'])
    }
    .unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => std::borrow::Cow::Owned(format!("{head}{}", &rest[at + 1..])),
        None => std::borrow::Cow::Borrowed(target),
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`. A bare IPv6 literal without
/// brackets is taken whole, without a port.
fn host_and_port(s: &str, default_port: Option<u16>) -> Option<ServerAddress> {
    if s.is_empty() || s.contains(['/', ',', ' ']) {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        if host.is_empty() {
            return None;
        }
        let port = match after {
            "" => default_port,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        return Some(ServerAddress::new(host, port));
    }
    match s.matches(':').count() {
        0 => Some(ServerAddress::new(s, default_port)),
        1 => {
            let (host, port) = s.split_once(':')?;
            if host.is_empty() {
                return None;
            }
            Some(ServerAddress::new(host, Some(port.parse().ok()?)))
        }
        _ => Some(ServerAddress::new(s, default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> (String, Option<u16>) {
        let s = ServerAddress::parse(t);
        (s.address().to_owned(), s.port())
    }

    #[test]
    fn spec_examples() {
        assert_eq!(p("grpc.io:50051"), ("grpc.io".into(), Some(50051)));
        assert_eq!(
            p("dns://1.2.3.4/grpc.io:50051"),
            ("grpc.io".into(), Some(50051))
        );
        assert_eq!(p("unix:///run/x.sock"), ("/run/x.sock".into(), None));
        assert_eq!(
            p("zk://zk.example/svc"),
            ("zk://zk.example/svc".into(), None)
        );
        assert_eq!(
            p("ipv4:1.2.3.4:1,5.6.7.8:2"),
            ("ipv4:1.2.3.4:1,5.6.7.8:2".into(), None)
        );
    }

    #[test]
    fn other_forms() {
        assert_eq!(p("dns:///grpc.io:443"), ("grpc.io".into(), Some(443)));
        assert_eq!(p("dns:grpc.io"), ("grpc.io".into(), None));
        assert_eq!(
            p("http://127.0.0.1:50051"),
            ("127.0.0.1".into(), Some(50051))
        );
        assert_eq!(
            p("HTTPS://api.example.com/"),
            ("api.example.com".into(), Some(443))
        );
        assert_eq!(p("http://example.com"), ("example.com".into(), Some(80)));
        assert_eq!(p("http://user@h:1/x"), ("h".into(), Some(1)));
        assert_eq!(p("[::1]:50051"), ("::1".into(), Some(50051)));
        assert_eq!(p("ipv6:[::1]:7"), ("::1".into(), Some(7)));
        assert_eq!(p("ipv4:10.0.0.1:9"), ("10.0.0.1".into(), Some(9)));
        assert_eq!(p("unix:/tmp/s"), ("/tmp/s".into(), None));
        assert_eq!(p("localhost"), ("localhost".into(), None));
        assert_eq!(p("::1"), ("::1".into(), None));
    }

    #[test]
    fn bad_targets_never_panic() {
        for t in [
            "",
            ":",
            ":80",
            "h:99999",
            "h:x",
            "[",
            "[]:1",
            "[::1",
            "[::1]x",
            "dns://",
            "dns://a",
            "unix:",
            "unix://",
            "http://",
            "http://[",
            "é:1",
            "https://h:-1",
        ] {
            let s = ServerAddress::parse(t);
            assert!(s.port().is_none() || !t.is_empty(), "{t}");
        }
        assert_eq!(p("h:99999"), ("h:99999".into(), None));
    }

    #[test]
    fn userinfo_is_never_kept() {
        assert_eq!(p("http://u:secret@h:1/x"), ("h".into(), Some(1)));
        assert_eq!(p("https://u:secret@h"), ("h".into(), Some(443)));
        assert_eq!(p("u:secret@h:50051"), ("h".into(), Some(50051)));
        assert_eq!(
            p("zk://u:secret@zk.example/svc"),
            ("zk://zk.example/svc".into(), None)
        );
        assert_eq!(p("dns://u:secret@8.8.8.8/h:1"), ("h".into(), Some(1)));
        assert_eq!(p("a@b@h:2"), ("h".into(), Some(2)));
        for t in ["@", "x://@", "@@@", "u:secret@", "zk://u:secret@"] {
            let s = ServerAddress::parse(t);
            assert!(!s.address().contains("secret"), "{t}: {s:?}");
        }
        // An `@` after the authority is not userinfo.
        assert_eq!(p("unix:///run/a@b.sock"), ("/run/a@b.sock".into(), None));
        assert_eq!(p("unix:/run/a@b.sock"), ("/run/a@b.sock".into(), None));
        assert_eq!(
            p("zk://zk.example/svc@v2"),
            ("zk://zk.example/svc@v2".into(), None)
        );
    }
}
