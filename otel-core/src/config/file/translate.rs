//! The translation of a file's sections into the configuration the
//! environment path produces: each supported field becomes the `OTEL_*`
//! variable with the same meaning (read by the same parser, so a value is
//! checked exactly as the environment's is), and what no variable can say
//! (typed resource attributes, the parent-based sampler's branches, resource
//! detectors) is kept aside for [`FileSettings::complete`](super::FileSettings::complete).
//! Every problem names its YAML path.

use super::diagnostics::join;
use super::node::Node;
use crate::config::{
    CardinalityLimits, Diagnostics, Environment, MeshSettings, MetricView, ProcessorKind,
};
use crate::resource::ResourceDetection;
use crate::sampling::SamplerSpec;
use opentelemetry::KeyValue;

/// What the file says, as variables plus what no variable can say.
pub(crate) struct Translation<'e> {
    /// The deployment's environment (substitution is already done; the
    /// service detector reads `OTEL_SERVICE_NAME` from it).
    pub(crate) deployment: &'e Environment,
    /// `(variable, value, YAML path)` in the order set.
    pub(crate) vars: Vec<(String, String, String)>,
    /// Problems found, each named by its YAML path.
    pub(crate) diag: Diagnostics,
    /// `tracer_provider.sampler`.
    pub(crate) sampler: Option<SamplerSpec>,
    /// `resource.attributes`, typed.
    pub(crate) resource: Vec<KeyValue>,
    /// `resource.detection/development.detectors`.
    pub(crate) detection: ResourceDetection,
    /// Extra YAML paths that set something (for the report's sources).
    pub(crate) used: Vec<String>,
    /// Batch or simple span processors.
    pub(crate) span_processor: ProcessorKind,
    /// Batch or simple log processors.
    pub(crate) log_processor: ProcessorKind,
    /// `meter_provider.views`.
    pub(crate) views: Vec<MetricView>,
    /// The `mesh` propagator.
    pub(crate) mesh: MeshSettings,
    /// The readers' `cardinality_limits`, and the path that set them.
    pub(crate) cardinality_limits: Option<(CardinalityLimits, String)>,
}

impl<'e> Translation<'e> {
    pub(crate) fn new(deployment: &'e Environment) -> Self {
        Self {
            deployment,
            vars: Vec::new(),
            diag: Diagnostics::default(),
            sampler: None,
            resource: Vec::new(),
            detection: ResourceDetection::none(),
            used: Vec::new(),
            span_processor: ProcessorKind::Batch,
            log_processor: ProcessorKind::Batch,
            views: Vec::new(),
            mesh: MeshSettings::default(),
            cardinality_limits: None,
        }
    }

    /// Sets `var` (the meaning of the field at `path`).
    pub(crate) fn set(&mut self, var: impl Into<String>, value: impl Into<String>, path: &str) {
        let var = var.into();
        self.vars.retain(|(v, _, _)| *v != var);
        self.vars.push((var, value.into(), path.to_owned()));
    }

    /// Whether `var` was set by the file.
    pub(crate) fn is_set(&self, var: &str) -> bool {
        self.vars.iter().any(|(v, _, _)| v == var)
    }

    /// A field the schema has but this crate does not honour.
    pub(crate) fn unsupported(&mut self, path: &str, node: &Node, why: &str) {
        self.diag.push(
            path,
            describe(node),
            format!("not supported by otel-kit-core{why}"),
            "ignored",
        );
    }

    /// A field the schema does not have (a typo, or a newer format).
    pub(crate) fn unknown(&mut self, path: &str, node: &Node) {
        self.diag.push(
            path,
            describe(node),
            "unknown field (not in file format 1.1)",
            "ignored",
        );
    }

    /// A value of the wrong type or out of range.
    pub(crate) fn invalid(
        &mut self,
        path: &str,
        node: &Node,
        problem: impl Into<String>,
        action: impl Into<String>,
    ) {
        self.diag.push(path, describe(node), problem, action);
    }

    /// The entries of the mapping at `path` (`None` for null, reported when
    /// not a mapping).
    pub(crate) fn map<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [(String, Node)]> {
        match node {
            Node::Map(entries) => Some(entries),
            Node::Null => None,
            other => {
                self.invalid(
                    path,
                    other,
                    format!("expected a mapping, found {}", other.kind()),
                    "ignored",
                );
                None
            }
        }
    }

    /// The items of the sequence at `path`.
    pub(crate) fn seq<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match node {
            Node::Seq(items) => Some(items),
            Node::Null => None,
            other => {
                self.invalid(
                    path,
                    other,
                    format!("expected a sequence, found {}", other.kind()),
                    "ignored",
                );
                None
            }
        }
    }

    /// A string field (numbers and booleans are taken as their text).
    pub(crate) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match node {
            Node::Seq(_) | Node::Map(_) => {
                self.invalid(
                    path,
                    node,
                    format!("expected a string, found {}", node.kind()),
                    "ignored",
                );
                None
            }
            other => other.scalar_text(),
        }
    }

    /// An integer field (a numeric string is accepted).
    pub(crate) fn integer(&mut self, node: &Node, path: &str) -> Option<i128> {
        match node {
            Node::Null => None,
            Node::Int(i) => Some(*i),
            Node::Str(s) if s.text.trim().parse::<i128>().is_ok() => s.text.trim().parse().ok(),
            other => {
                self.invalid(
                    path,
                    other,
                    format!("expected an integer, found {}", other.kind()),
                    "ignored",
                );
                None
            }
        }
    }

    /// An integer field that must be at least `min`, as text for a variable.
    pub(crate) fn integer_at_least(
        &mut self,
        node: &Node,
        path: &str,
        min: i128,
    ) -> Option<String> {
        let v = self.integer(node, path)?;
        if v < min {
            self.invalid(path, node, format!("must be at least {min}"), "ignored");
            return None;
        }
        Some(v.to_string())
    }

    /// A number field.
    pub(crate) fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        match node {
            Node::Null => None,
            Node::Int(i) => Some(*i as f64),
            Node::Float(f) => Some(*f),
            Node::Str(s) if s.text.trim().parse::<f64>().is_ok() => s.text.trim().parse().ok(),
            other => {
                self.invalid(
                    path,
                    other,
                    format!("expected a number, found {}", other.kind()),
                    "ignored",
                );
                None
            }
        }
    }

    /// A boolean field.
    pub(crate) fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node {
            Node::Null => None,
            Node::Bool(b) => Some(*b),
            Node::Str(s) if s.text.eq_ignore_ascii_case("true") => Some(true),
            Node::Str(s) if s.text.eq_ignore_ascii_case("false") => Some(false),
            other => {
                self.invalid(
                    path,
                    other,
                    format!("expected true or false, found {}", other.kind()),
                    "ignored",
                );
                None
            }
        }
    }

    /// Reports every entry of `entries` other than `known` as unknown
    /// (`extensions`: entries the caller handles) and returns the node of
    /// each known key that is present.
    pub(crate) fn fields<'n, const N: usize>(
        &mut self,
        entries: &'n [(String, Node)],
        path: &str,
        known: [&str; N],
    ) -> [Option<&'n Node>; N] {
        let mut out = [None; N];
        for (key, node) in entries {
            match known.iter().position(|k| k == key) {
                Some(i) => out[i] = Some(node),
                None => self.unknown(&join(path, key), node),
            }
        }
        out
    }
}

/// The value of a node for a diagnostic: its text, or its kind.
pub(crate) fn describe(node: &Node) -> String {
    match node {
        Node::Seq(_) | Node::Map(_) => format!("<{}>", node.kind()),
        Node::Null => String::new(),
        other => other.scalar_text().unwrap_or_default(),
    }
}

/// The single `name: body` entry of a plugin mapping (an exporter, a
/// sampler, a processor, a propagator, a detector): `None`, reported, when
/// the mapping has not exactly one entry.
pub(crate) fn single<'n>(
    t: &mut Translation<'_>,
    node: &'n Node,
    path: &str,
    what: &str,
) -> Option<(&'n str, &'n Node)> {
    let entries = match node {
        Node::Map(entries) => entries.as_slice(),
        other => {
            t.invalid(
                path,
                other,
                format!(
                    "expected a mapping naming one {what}, found {}",
                    other.kind()
                ),
                "ignored",
            );
            return None;
        }
    };
    match entries {
        [(name, body)] => Some((name.as_str(), body)),
        _ => {
            t.invalid(
                path,
                node,
                format!("must name exactly one {what}, found {}", entries.len()),
                "ignored",
            );
            None
        }
    }
}
