//! The parsed YAML document: a tree of nodes that remembers, for each string
//! scalar, whether it was plain (unquoted) and where it starts, so that
//! substitution can re-type plain scalars afterwards (the specification's
//! "node types are interpreted after substitution") and problems can name a
//! line.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// One YAML node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// `~`, `null` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer (decimal, `0x`, `0o`).
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A string scalar.
    Str(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order; keys are never substituted.
    Map(Vec<(String, Node)>),
}

/// A string scalar and what the parser told about it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Scalar {
    /// The text.
    pub(crate) text: String,
    /// Plain (unquoted): its type is re-read after substitution.
    pub(crate) plain: bool,
    /// Byte offset of the text in the file, when known.
    pub(crate) offset: Option<usize>,
}

impl Node {
    /// A short description for messages (`a string`, `a mapping`, ...).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) => "an integer",
            Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a sequence",
            Node::Map(_) => "a mapping",
        }
    }

    /// The scalar as text, for messages and string fields.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match self {
            Node::Null => None,
            Node::Bool(b) => Some(b.to_string()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Str(s) => Some(s.text.clone()),
            Node::Seq(_) | Node::Map(_) => None,
        }
    }
}

/// Parses `text` as one YAML document.
pub(crate) fn parse(text: &str) -> Result<Node, serde_norway::Error> {
    NodeSeed { base: text }.deserialize(serde_norway::Deserializer::from_str(text))
}

/// The 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    (line, offset.min(text.len()) - start + 1)
}

/// Resolves a plain scalar's text with the YAML 1.2 core schema (null,
/// booleans, integers in decimal, octal `0o` and hex `0x`, floats).
pub(crate) fn resolve_plain(text: &str) -> Node {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        "true" | "True" | "TRUE" => return Node::Bool(true),
        "false" | "False" | "FALSE" => return Node::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Node::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Node::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Node::Float(f64::NAN),
        _ => {}
    }
    let radix = |prefix: &str, radix: u32| {
        text.strip_prefix(prefix)
            .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()))
            .and_then(|r| i128::from_str_radix(r, radix).ok())
    };
    if let Some(i) = radix("0x", 16).or_else(|| radix("0o", 8)) {
        return Node::Int(i);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse::<i128>()
    {
        return Node::Int(i);
    }
    let float_chars = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if float_chars
        && digits.bytes().any(|b| b.is_ascii_digit())
        && let Ok(f) = text.parse::<f64>()
    {
        return Node::Float(f);
    }
    Node::Str(Scalar {
        text: text.to_owned(),
        plain: true,
        offset: None,
    })
}

struct NodeSeed<'a> {
    base: &'a str,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'de> {
    type Value = Node;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor { base: self.base })
    }
}

struct NodeVisitor<'a> {
    base: &'a str,
}

impl<'de> Visitor<'de> for NodeVisitor<'de> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        i128::try_from(v)
            .map(Node::Int)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        NodeSeed { base: self.base }.deserialize(d)
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node, E> {
        // A borrowed scalar is a slice of the file: its address gives its
        // position, and the byte before it tells a quoted scalar from a
        // plain one.
        let start = self.base.as_ptr() as usize;
        let at = v.as_ptr() as usize;
        let offset = (at >= start && at + v.len() <= start + self.base.len()).then(|| at - start);
        let plain = match offset {
            Some(0) => true,
            Some(o) => !matches!(self.base.as_bytes()[o - 1], b'"' | b'\''),
            None => false,
        };
        Ok(Node::Str(Scalar {
            text: v.to_owned(),
            plain,
            offset,
        }))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        // Not a slice of the file: a quoted scalar with escapes or a block
        // or multi-line scalar; none of them is re-typed.
        Ok(Node::Str(Scalar {
            text: v.to_owned(),
            plain: false,
            offset: None,
        }))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(NodeSeed { base: self.base })? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(key) = map.next_key_seed(NodeSeed { base: self.base })? {
            let key = key.scalar_text().unwrap_or_else(|| "null".to_owned());
            let value = map.next_value_seed(NodeSeed { base: self.base })?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn str_node(n: &Node) -> &Scalar {
        match n {
            Node::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn plain_and_quoted_scalars_are_told_apart() {
        let text = "a: ${X}\nb: \"${X}\"\nc: '${X}'\nd: 1\ne:\n";
        let Node::Map(m) = parse(text).unwrap() else {
            panic!()
        };
        assert!(str_node(&m[0].1).plain);
        assert_eq!(str_node(&m[0].1).offset, Some(3));
        assert!(!str_node(&m[1].1).plain);
        assert!(!str_node(&m[2].1).plain);
        assert_eq!(m[3].1, Node::Int(1));
        assert_eq!(m[4].1, Node::Null);
        assert_eq!(line_column(text, 3), (1, 4));
        assert_eq!(line_column(text, text.find("'").unwrap()), (3, 4));
    }

    #[test]
    fn core_schema_resolution() {
        assert_eq!(resolve_plain(""), Node::Null);
        assert_eq!(resolve_plain("true"), Node::Bool(true));
        assert_eq!(resolve_plain("1"), Node::Int(1));
        assert_eq!(resolve_plain("-7"), Node::Int(-7));
        assert_eq!(resolve_plain("0xdeadbeef"), Node::Int(3735928559));
        assert_eq!(resolve_plain("1.1"), Node::Float(1.1));
        assert!(matches!(resolve_plain("value\nkey:value"), Node::Str(_)));
        assert!(matches!(resolve_plain("1.2.3"), Node::Str(_)));
        assert!(matches!(resolve_plain("yes"), Node::Str(_)));
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        assert!(parse("a: 1\na: 2\n").is_err());
    }
}
