//! Environment variable substitution, as the configuration data model
//! specifies: `${NAME}`, `${env:NAME}`, `${NAME:-default}` in scalar values
//! only (never in keys), `$$` for a literal `$`, no recursion, and a
//! reference that is not valid (`${NAME:?x}`, `${1X}`) is an error.
//!
//! Substitution runs on the parsed tree, one scalar at a time, so a value can
//! never inject YAML structure; a plain (unquoted) scalar is then re-typed by
//! the YAML core schema (`${BOOL}` with `BOOL=true` is a boolean), a quoted
//! one stays a string.

use super::node::{Node, Scalar, resolve_plain};
use crate::config::Environment;

/// A `${...}` that is not a valid substitution reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InvalidReference {
    /// The whole reference, e.g. `${API_KEY:?required}`.
    pub(crate) reference: String,
}

/// Substitutes every reference in `input` with values from `env`.
pub(crate) fn substitute(input: &str, env: &Environment) -> Result<String, InvalidReference> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    // Split at each `$$` (left to right); the resolved `$` never takes part
    // in a reference.
    loop {
        match rest.find("$$") {
            Some(i) => {
                substitute_segment(&rest[..i], env, &mut out)?;
                out.push('$');
                rest = &rest[i + 2..];
            }
            None => {
                substitute_segment(rest, env, &mut out)?;
                return Ok(out);
            }
        }
    }
}

/// Substitutes the references of a segment without escape sequences.
fn substitute_segment(
    segment: &str,
    env: &Environment,
    out: &mut String,
) -> Result<(), InvalidReference> {
    let mut rest = segment;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            // No closing brace: not a reference at all.
            out.push_str(&rest[start..]);
            return Ok(());
        };
        let inner = &after[..end];
        if inner.is_empty() {
            // `${}` matches neither form: left as it is.
            out.push_str("${}");
        } else {
            match reference(inner) {
                Some((name, default)) => {
                    let value = env.raw(name).filter(|v| !v.is_empty());
                    out.push_str(value.or(default).unwrap_or(""));
                }
                None => {
                    return Err(InvalidReference {
                        reference: format!("${{{inner}}}"),
                    });
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(())
}

/// `[env:]NAME[:-DEFAULT]` split into the name and the default.
fn reference(inner: &str) -> Option<(&str, Option<&str>)> {
    let inner = inner.strip_prefix("env:").unwrap_or(inner);
    let (name, default) = match inner.find(":-") {
        Some(i) => (&inner[..i], Some(&inner[i + 2..])),
        None => (inner, None),
    };
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    let default_ok = default.is_none_or(|d| !d.contains('\n'));
    (first_ok && rest_ok && default_ok).then_some((name, default))
}

/// Substitutes every scalar of `node`; `at` receives the path and the node
/// of an invalid reference.
pub(crate) fn substitute_tree(
    node: Node,
    env: &Environment,
    path: &str,
) -> Result<Node, (String, Option<usize>, InvalidReference)> {
    Ok(match node {
        Node::Str(Scalar {
            text,
            plain,
            offset,
        }) => {
            if !text.contains('$') {
                return Ok(Node::Str(Scalar {
                    text,
                    plain,
                    offset,
                }));
            }
            let new = substitute(&text, env).map_err(|e| (path.to_owned(), offset, e))?;
            if plain && new != text {
                match resolve_plain(&new) {
                    Node::Str(s) => Node::Str(Scalar { offset, ..s }),
                    typed => typed,
                }
            } else {
                Node::Str(Scalar {
                    text: new,
                    plain,
                    offset,
                })
            }
        }
        Node::Seq(items) => Node::Seq(
            items
                .into_iter()
                .enumerate()
                .map(|(i, n)| substitute_tree(n, env, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => Node::Map(
            entries
                .into_iter()
                .map(|(k, n)| {
                    let p = super::diagnostics::join(path, &k);
                    Ok((k, substitute_tree(n, env, &p)?))
                })
                .collect::<Result<_, _>>()?,
        ),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::super::node::parse;
    use super::*;

    fn env() -> Environment {
        Environment::from_pairs([
            ("STRING_VALUE", "value"),
            ("BOOL_VALUE", "true"),
            ("INT_VALUE", "1"),
            ("FLOAT_VALUE", "1.1"),
            ("HEX_VALUE", "0xdeadbeef"),
            ("INVALID_MAP_VALUE", "value\nkey:value"),
            ("DO_NOT_REPLACE_ME", "Never use this value"),
            ("REPLACE_ME", "${DO_NOT_REPLACE_ME}"),
            ("VALUE_WITH_ESCAPE", "value$$"),
            ("EMPTY", ""),
        ])
    }

    /// The value of `key` in `yaml` after substitution.
    fn sub(yaml: &str) -> Result<Node, InvalidReference> {
        let tree = substitute_tree(parse(yaml).unwrap(), &env(), "").map_err(|e| e.2)?;
        let Node::Map(mut m) = tree else {
            panic!("not a map")
        };
        Ok(m.remove(0).1)
    }

    fn text(n: Node) -> String {
        match n {
            Node::Str(s) => s.text,
            other => panic!("not a string: {other:?}"),
        }
    }

    /// Every row of the table in the specification's data model.
    #[test]
    fn specification_table() {
        assert_eq!(text(sub("key: ${STRING_VALUE}").unwrap()), "value");
        assert_eq!(sub("key: ${BOOL_VALUE}").unwrap(), Node::Bool(true));
        assert_eq!(sub("key: ${INT_VALUE}").unwrap(), Node::Int(1));
        assert_eq!(sub("key: ${FLOAT_VALUE}").unwrap(), Node::Float(1.1));
        assert_eq!(sub("key: ${HEX_VALUE}").unwrap(), Node::Int(3735928559));
        assert_eq!(text(sub("key: \"${STRING_VALUE}\"").unwrap()), "value");
        assert_eq!(text(sub("key: \"${BOOL_VALUE}\"").unwrap()), "true");
        assert_eq!(text(sub("key: \"${INT_VALUE}\"").unwrap()), "1");
        assert_eq!(text(sub("key: \"${FLOAT_VALUE}\"").unwrap()), "1.1");
        assert_eq!(text(sub("key: \"${HEX_VALUE}\"").unwrap()), "0xdeadbeef");
        assert_eq!(text(sub("key: ${env:STRING_VALUE}").unwrap()), "value");
        assert_eq!(
            text(sub("key: ${INVALID_MAP_VALUE}").unwrap()),
            "value\nkey:value"
        );
        assert_eq!(
            text(sub("key: foo ${STRING_VALUE} ${FLOAT_VALUE}").unwrap()),
            "foo value 1.1"
        );
        assert_eq!(sub("key: ${UNDEFINED_KEY}").unwrap(), Node::Null);
        assert_eq!(
            text(sub("key: ${UNDEFINED_KEY:-fallback}").unwrap()),
            "fallback"
        );
        // Keys are never substituted.
        let Node::Map(m) =
            substitute_tree(parse("${STRING_VALUE}: value").unwrap(), &env(), "").unwrap()
        else {
            panic!()
        };
        assert_eq!(m[0].0, "${STRING_VALUE}");
        assert_eq!(
            text(sub("key: ${REPLACE_ME}").unwrap()),
            "${DO_NOT_REPLACE_ME}"
        );
        assert_eq!(
            text(sub("key: ${UNDEFINED_KEY:-${STRING_VALUE}}").unwrap()),
            "${STRING_VALUE}"
        );
        assert_eq!(
            sub("key: ${STRING_VALUE:?error}").unwrap_err().reference,
            "${STRING_VALUE:?error}"
        );
        assert_eq!(
            text(sub("key: $${STRING_VALUE}").unwrap()),
            "${STRING_VALUE}"
        );
        assert_eq!(text(sub("key: $$${STRING_VALUE}").unwrap()), "$value");
        assert_eq!(
            text(sub("key: $$$${STRING_VALUE}").unwrap()),
            "$${STRING_VALUE}"
        );
        assert_eq!(
            text(sub("key: $${STRING_VALUE:-fallback}").unwrap()),
            "${STRING_VALUE:-fallback}"
        );
        assert_eq!(
            text(sub("key: $${STRING_VALUE:-${STRING_VALUE}}").unwrap()),
            "${STRING_VALUE:-value}"
        );
        assert_eq!(
            text(sub("key: ${UNDEFINED_KEY:-$${UNDEFINED_KEY}}").unwrap()),
            "${UNDEFINED_KEY:-${UNDEFINED_KEY}}"
        );
        assert_eq!(text(sub("key: ${VALUE_WITH_ESCAPE}").unwrap()), "value$$");
        assert_eq!(text(sub("key: a $$ b").unwrap()), "a $ b");
        assert_eq!(text(sub("key: a $ b").unwrap()), "a $ b");
    }

    #[test]
    fn more_references() {
        // An empty variable takes the default, as an unset one does.
        assert_eq!(text(sub("key: ${EMPTY:-d}").unwrap()), "d");
        assert!(sub("key: ${1API_KEY}").is_err());
        assert!(sub("key: ${API_$KEY}").is_err());
        assert_eq!(text(sub("key: ${STRING_VALUE").unwrap()), "${STRING_VALUE");
        assert_eq!(text(sub("key: x${}y").unwrap()), "x${}y");
        // In a sequence, in a nested map.
        let tree = substitute_tree(
            parse("a:\n  - ${INT_VALUE}\n  - b: ${STRING_VALUE}\n").unwrap(),
            &env(),
            "",
        )
        .unwrap();
        let Node::Map(m) = tree else { panic!() };
        let Node::Seq(items) = &m[0].1 else { panic!() };
        assert_eq!(items[0], Node::Int(1));
        let Node::Map(inner) = &items[1] else {
            panic!()
        };
        assert_eq!(text(inner[0].1.clone()), "value");
    }

    #[test]
    fn the_path_of_an_invalid_reference() {
        let err = substitute_tree(parse("a:\n  - b: ${X:?no}\n").unwrap(), &env(), "").unwrap_err();
        assert_eq!(err.0, "a[0].b");
        assert!(err.1.is_some());
    }
}
