//! `tracer_provider.sampler`: `always_on`, `always_off`,
//! `trace_id_ratio_based` and `parent_based` with its five branches, plus
//! this crate's extensions `rate_limiting` (`{per_second: N}`) and `rules`
//! (`{rules: [...]}`, one rule of the
//! [rule syntax](crate::sampling::SamplerSpec#rule-list-syntax-rules-parentbased_rules)
//! per item). An invalid or unsupported sampler is reported and the default
//! `parent_based` / `always_on` is used.

use super::diagnostics::join;
use super::node::Node;
use super::translate::{Translation, single};
use crate::sampling::{ParentBranches, RootSampler, SamplerSpec};

/// The spec of the sampler at `path`; `None`, reported, when unusable.
pub(crate) fn sampler(t: &mut Translation<'_>, node: &Node, path: &str) -> Option<SamplerSpec> {
    let (name, body) = single(t, node, path, "sampler")?;
    if name != "parent_based" {
        return root(t, node, path).map(|r| SamplerSpec::new(r, false));
    }
    let p = join(path, name);
    let mut spec = SamplerSpec::new(RootSampler::AlwaysOn, true);
    let Some(entries) = t.map(body, &p) else {
        return Some(spec);
    };
    let mut branches = ParentBranches::default();
    for (key, node) in entries {
        let q = join(&p, key);
        if *node == Node::Null {
            continue;
        }
        let slot = match key.as_str() {
            "root" => {
                if let Some(r) = root(t, node, &q) {
                    spec.root = r;
                }
                continue;
            }
            "remote_parent_sampled" => &mut branches.remote_parent_sampled,
            "remote_parent_not_sampled" => &mut branches.remote_parent_not_sampled,
            "local_parent_sampled" => &mut branches.local_parent_sampled,
            "local_parent_not_sampled" => &mut branches.local_parent_not_sampled,
            _ => {
                t.unknown(&q, node);
                continue;
            }
        };
        *slot = root(t, node, &q);
    }
    spec.branches = branches;
    Some(spec)
}

/// A sampler that is not parent-based (a root or a branch).
fn root(t: &mut Translation<'_>, node: &Node, path: &str) -> Option<RootSampler> {
    let (name, body) = single(t, node, path, "sampler")?;
    let p = join(path, name);
    let fields: &[&str] = match name {
        "always_on" | "always_off" => &[],
        "trace_id_ratio_based" => &["ratio"],
        "rate_limiting" => &["per_second"],
        "rules" => &["rules"],
        "parent_based" => {
            t.unsupported(&p, body, " (a parent_based sampler inside parent_based)");
            return None;
        }
        _ => {
            t.unsupported(
                &p,
                body,
                " (samplers: always_on, always_off, trace_id_ratio_based, parent_based, \
                 and the extensions rate_limiting, rules); using the default parent_based(always_on)",
            );
            return None;
        }
    };
    let entries: &[(String, Node)] = match body {
        Node::Map(e) => e,
        _ => &[],
    };
    let mut value = None;
    for (key, node) in entries {
        if fields.contains(&key.as_str()) {
            value = Some((join(&p, key), node));
        } else {
            t.unknown(&join(&p, key), node);
        }
    }
    Some(match name {
        "always_on" => RootSampler::AlwaysOn,
        "always_off" => RootSampler::AlwaysOff,
        "trace_id_ratio_based" => {
            let ratio = match value {
                Some((q, n)) => match t.number(n, &q) {
                    Some(r) if (0.0..=1.0).contains(&r) => r,
                    Some(_) => {
                        t.invalid(&q, n, "expected a ratio between 0 and 1", "using 1.0");
                        1.0
                    }
                    None => 1.0,
                },
                None => 1.0,
            };
            RootSampler::TraceIdRatio(ratio)
        }
        "rate_limiting" => {
            let rate = match value {
                Some((q, n)) => match t.number(n, &q) {
                    Some(r) if r >= 0.0 && r.is_finite() => r,
                    Some(_) => {
                        t.invalid(
                            &q,
                            n,
                            "expected a number of traces per second (≥ 0)",
                            format!("using {}", crate::sampling::DEFAULT_RATE_LIMIT),
                        );
                        crate::sampling::DEFAULT_RATE_LIMIT
                    }
                    None => crate::sampling::DEFAULT_RATE_LIMIT,
                },
                None => crate::sampling::DEFAULT_RATE_LIMIT,
            };
            RootSampler::RateLimiting(rate)
        }
        _ => {
            let Some((q, n)) = value else {
                return Some(RootSampler::Rules(Vec::new()));
            };
            let items = t.seq(n, &q).unwrap_or_default();
            let mut rules = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let r = format!("{q}[{i}]");
                let Some(text) = t.string(item, &r) else {
                    continue;
                };
                match crate::sampling::parse_rules(&text) {
                    Ok(mut parsed) => rules.append(&mut parsed),
                    Err(reason) => {
                        t.invalid(&r, item, reason, "sampler ignored");
                        return None;
                    }
                }
            }
            RootSampler::Rules(rules)
        }
    })
}
