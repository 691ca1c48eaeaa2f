use std::fmt;

/// A text pattern for span names and attribute values: exact text, or a glob in
/// which `*` matches any run of characters (including none). There is no other
/// wildcard: `?`, `[` and `]` are ordinary characters.
///
/// Matching never allocates; it is linear in the text for patterns with at most
/// one `*` (exact, prefix, suffix) and at worst proportional to text length times
/// pattern length otherwise.
///
/// ```
/// use otel_kit_core::sampling::Pattern;
///
/// let health = Pattern::glob("GET /health*");
/// assert!(health.matches("GET /health"));
/// assert!(health.matches("GET /healthz"));
/// assert!(!health.matches("POST /health"));
///
/// assert!(Pattern::glob("*/admin/*").matches("GET /v1/admin/users"));
/// assert!(Pattern::exact("a*b").matches("a*b"));
/// assert!(!Pattern::exact("a*b").matches("axb"));
/// assert!(Pattern::prefix("/internal/").matches("/internal/metrics"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pattern(Repr);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Repr {
    /// The whole text.
    Exact(Box<str>),
    /// `prefix*middle[0]*middle[1]*…*suffix`; `middle` has no empty segment.
    Wildcard {
        prefix: Box<str>,
        middle: Box<[Box<str>]>,
        suffix: Box<str>,
    },
}

impl Pattern {
    /// Matches exactly `text` (a `*` in it is an ordinary character).
    pub fn exact(text: &str) -> Self {
        Self(Repr::Exact(text.into()))
    }

    /// Matches every text that starts with `prefix`.
    pub fn prefix(prefix: &str) -> Self {
        Self::from_parts([prefix, ""])
    }

    /// A glob: every `*` in `glob` matches any run of characters; a glob without
    /// `*` is exact.
    pub fn glob(glob: &str) -> Self {
        Self::from_parts(glob.split('*'))
    }

    /// Matches every text.
    pub fn any() -> Self {
        Self::from_parts(["", ""])
    }

    /// Builds a pattern from the literal pieces between wildcards: one piece is an
    /// exact pattern, `n` pieces have `n - 1` wildcards between them.
    pub(crate) fn from_parts<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut parts: Vec<Box<str>> = parts.into_iter().map(|p| p.as_ref().into()).collect();
        if parts.len() <= 1 {
            return Self(Repr::Exact(parts.pop().unwrap_or_default()));
        }
        let suffix = parts.pop().unwrap_or_default();
        let mut rest = parts.into_iter();
        let prefix = rest.next().unwrap_or_default();
        let middle = rest.filter(|p| !p.is_empty()).collect();
        Self(Repr::Wildcard {
            prefix,
            middle,
            suffix,
        })
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        match &self.0 {
            Repr::Exact(exact) => text == &**exact,
            Repr::Wildcard {
                prefix,
                middle,
                suffix,
            } => {
                if text.len() < prefix.len() + suffix.len()
                    || !text.starts_with(&**prefix)
                    || !text.ends_with(&**suffix)
                {
                    return false;
                }
                // Both bounds are char boundaries: they end a matched prefix and
                // start a matched suffix, and they do not cross (checked above).
                let Some(mut rest) = text.get(prefix.len()..text.len() - suffix.len()) else {
                    return false;
                };
                // Leftmost matching of each piece is optimal when `*` is the only
                // wildcard.
                for piece in middle.iter() {
                    match rest.find(&**piece) {
                        Some(at) => rest = &rest[at + piece.len()..],
                        None => return false,
                    }
                }
                true
            }
        }
    }

    /// Whether the pattern is exact text (has no wildcard).
    pub fn is_exact(&self) -> bool {
        matches!(self.0, Repr::Exact(_))
    }

    /// Writes the pattern in the `rules` syntax of
    /// [`SamplerSpec`](super::SamplerSpec): `*` for each wildcard and a backslash
    /// before each literal `*`, `\`, `,`, `;` and `|`, and before leading or
    /// trailing whitespace.
    pub(crate) fn write_escaped(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Exact(exact) => write_escaped_piece(f, exact, true, true),
            Repr::Wildcard {
                prefix,
                middle,
                suffix,
            } => {
                write_escaped_piece(f, prefix, true, false)?;
                for piece in middle.iter() {
                    f.write_str("*")?;
                    write_escaped_piece(f, piece, false, false)?;
                }
                f.write_str("*")?;
                write_escaped_piece(f, suffix, false, true)
            }
        }
    }
}

/// Escapes one literal piece of a pattern (see [`Pattern::write_escaped`]).
/// `at_start` / `at_end`: whether the piece starts / ends the whole pattern, where
/// whitespace would otherwise be trimmed by the parser.
pub(crate) fn write_escaped_piece(
    f: &mut fmt::Formatter<'_>,
    piece: &str,
    at_start: bool,
    at_end: bool,
) -> fmt::Result {
    let leading = if at_start {
        piece.len() - piece.trim_start().len()
    } else {
        0
    };
    let trailing = if at_end {
        piece.len() - piece.trim_end().len()
    } else {
        0
    };
    for (at, c) in piece.char_indices() {
        let edge_space = c.is_whitespace() && (at < leading || at >= piece.len() - trailing);
        if edge_space || matches!(c, '*' | '\\' | ',' | ';' | '|') {
            f.write_str("\\")?;
        }
        fmt::Write::write_char(f, c)?;
    }
    Ok(())
}

/// The `rules` syntax form (see [`SamplerSpec`](super::SamplerSpec)).
impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_escaped(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching_table() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, bool)] = &[
            ("GET /health", "GET /health", true),
            ("GET /health", "GET /health/", false),
            ("GET /health", "GET /healt", false),
            ("", "", true),
            ("", "x", false),
            ("*", "", true),
            ("*", "anything at all", true),
            ("**", "x", true),
            ("GET /health*", "GET /health", true),
            ("GET /health*", "GET /healthz", true),
            ("GET /health*", "GET /hEalth", false),
            ("*/health", "GET /health", true),
            ("*/health", "GET /health/x", false),
            ("GET *", "GET /a", true),
            ("GET *", "POST /a", false),
            ("*admin*", "GET /v1/admin/users", true),
            ("*admin*", "GET /v1/users", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("a*b*c", "abcbc", true),
            ("a*bc*bc", "abcbc", true),
            ("ab*ba", "aba", false), // prefix and suffix must not overlap
            ("ab*ba", "abba", true),
            ("a*a*a", "aa", false),
            ("a*a*a", "aaa", true),
            ("*.*.*", "a.b.c", true),
            ("*.*.*", "a.b", false),
            ("/users/*/orders", "/users/42/orders", true),
            ("/users/*/orders", "/users/42/items", false),
            ("é*ü", "éaü", true),
            ("é*ü", "ü", false),
            ("*ü", "aü", true),
            ("x?y", "xay", false), // `?` is literal
            ("x?y", "x?y", true),
        ];
        for (glob, text, expected) in cases {
            assert_eq!(
                Pattern::glob(glob).matches(text),
                *expected,
                "glob {glob:?} against {text:?}"
            );
        }
    }

    #[test]
    fn exact_prefix_and_any() {
        assert!(Pattern::exact("a*").matches("a*"));
        assert!(!Pattern::exact("a*").matches("ab"));
        assert!(Pattern::exact("a*").is_exact());
        assert!(Pattern::glob("abc").is_exact());
        assert!(!Pattern::glob("a*").is_exact());
        assert!(Pattern::prefix("/internal/").matches("/internal/"));
        assert!(Pattern::prefix("/internal/").matches("/internal/x"));
        assert!(!Pattern::prefix("/internal/").matches("/internalx"));
        assert!(Pattern::prefix("a*").matches("a*b"), "prefix is literal");
        assert!(!Pattern::prefix("a*").matches("ab"));
        assert!(Pattern::any().matches(""));
        assert!(Pattern::any().matches("x"));
        assert_eq!(Pattern::glob("a**b"), Pattern::glob("a*b"));
    }

    #[test]
    fn display_escapes_literals() {
        assert_eq!(Pattern::glob("GET /health*").to_string(), "GET /health*");
        assert_eq!(Pattern::exact("a*b").to_string(), "a\\*b");
        assert_eq!(Pattern::exact("a,b;c|d\\").to_string(), "a\\,b\\;c\\|d\\\\");
        assert_eq!(Pattern::exact(" x y ").to_string(), "\\ x y\\ ");
        assert_eq!(Pattern::glob(" *x* ").to_string(), "\\ *x*\\ ");
        assert_eq!(Pattern::prefix("a*").to_string(), "a\\**");
        assert_eq!(Pattern::any().to_string(), "*");
    }
}
