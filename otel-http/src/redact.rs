//! URL redaction: userinfo becomes `REDACTED:REDACTED`, the values of
//! sensitive query keys become `REDACTED` (keys kept), per the conventions.

use std::borrow::Cow;
use std::sync::Arc;

/// The query keys whose values are redacted by default (case-sensitive): the
/// conventions' seven signed-URL keys, plus the credential keys the
/// conventions ask instrumentation that knows them to scrub: the OAuth 2.0
/// bearer token in a query (`access_token`, RFC 6750), Google's signed-URL
/// credential, and the common bare `token` / `api_key` / `apikey`.
pub const DEFAULT_SENSITIVE_QUERY_KEYS: &[&str] = &[
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "sig",
    "X-Goog-Signature",
    "AWSAccessKeyId",
    "Signature",
    "X-Goog-Credential",
    "access_token",
    "token",
    "api_key",
    "apikey",
];

/// The replacement text.
pub const REDACTED: &str = "REDACTED";

/// Which query keys are redacted from `url.full` and `url.query`.
///
/// ```
/// use otel_kit_http::Redactor;
///
/// let r = Redactor::default().extend(["session"]);
/// assert_eq!(
///     r.redact_url("https://u:p@h/x?sig=1&session=2&a=3"),
///     "https://REDACTED:REDACTED@h/x?sig=REDACTED&session=REDACTED&a=3"
/// );
/// ```
#[derive(Clone, Debug)]
pub struct Redactor {
    keys: Arc<[Box<str>]>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::replace(DEFAULT_SENSITIVE_QUERY_KEYS.iter().copied())
    }
}

impl Redactor {
    /// Redacts exactly `keys` (a full replacement of the default list).
    pub fn replace<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let keys: Vec<Box<str>> = keys.into_iter().map(|k| k.as_ref().into()).collect();
        Redactor { keys: keys.into() }
    }

    /// Also redacts `keys`.
    pub fn extend<I, S>(self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut all: Vec<Box<str>> = self.keys.iter().cloned().collect();
        all.extend(keys.into_iter().map(|k| k.as_ref().into()));
        Redactor { keys: all.into() }
    }

    fn is_sensitive(&self, key: &str) -> bool {
        self.keys.iter().any(|k| &**k == key)
    }

    /// The query with sensitive values replaced (borrowed when nothing is).
    pub fn redact_query<'a>(&self, query: &'a str) -> Cow<'a, str> {
        let needs = query.split('&').any(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            !v.is_empty() && self.is_sensitive(k)
        });
        if !needs {
            return Cow::Borrowed(query);
        }
        let mut out = String::with_capacity(query.len());
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((k, v)) if !v.is_empty() && self.is_sensitive(k) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                _ => out.push_str(pair),
            }
        }
        Cow::Owned(out)
    }

    /// An absolute URL with userinfo and sensitive query values redacted.
    pub fn redact_url(&self, url: &str) -> String {
        let (before_fragment, fragment) = match url.split_once('#') {
            Some((a, f)) => (a, Some(f)),
            None => (url, None),
        };
        let (base, query) = match before_fragment.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (before_fragment, None),
        };
        let mut out = String::with_capacity(url.len() + 16);
        // Userinfo sits between `scheme://` and the first `@` of the authority.
        match base.split_once("://") {
            Some((scheme, rest)) => {
                let auth_end = rest.find('/').unwrap_or(rest.len());
                let (authority, path) = rest.split_at(auth_end);
                out.push_str(scheme);
                out.push_str("://");
                match authority.rfind('@') {
                    Some(at) => {
                        out.push_str("REDACTED:REDACTED@");
                        out.push_str(&authority[at + 1..]);
                    }
                    None => out.push_str(authority),
                }
                out.push_str(path);
            }
            None => out.push_str(base),
        }
        if let Some(q) = query {
            out.push('?');
            out.push_str(&self.redact_query(q));
        }
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_and_keys() {
        let r = Redactor::default();
        assert_eq!(
            r.redact_url(
                "https://alice:s3cret@example.com:8443/p?color=blue&sig=abc&Signature=x#frag"
            ),
            "https://REDACTED:REDACTED@example.com:8443/p?color=blue&sig=REDACTED&Signature=REDACTED#frag"
        );
        assert_eq!(r.redact_url("http://h/p"), "http://h/p");
        assert_eq!(r.redact_query("SIG=1&sig="), "SIG=1&sig=");
        assert!(matches!(r.redact_query("a=1"), Cow::Borrowed(_)));
        assert_eq!(
            r.redact_query("token=a&access_token=b&api_key=c&apikey=d&X-Goog-Credential=e&page=2"),
            "token=REDACTED&access_token=REDACTED&api_key=REDACTED&apikey=REDACTED&\
             X-Goog-Credential=REDACTED&page=2"
        );
        let only = Redactor::replace(["token"]);
        assert_eq!(only.redact_query("sig=1&token=2"), "sig=1&token=REDACTED");
        // An `@` in the path is not userinfo.
        assert_eq!(r.redact_url("http://h/a@b"), "http://h/a@b");
    }
}
