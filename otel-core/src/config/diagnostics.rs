use std::fmt;

/// One problem found in the configuration: which variable (or builder option),
/// the value it had, what is wrong with it and what setup did instead.
///
/// Values of secret settings (OTLP headers, key files' contents) are never
/// stored here: [`Diagnostic::value`] then holds a redacted form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The environment variable (or builder option) the value came from.
    pub variable: String,
    /// The offending value, redacted for secret settings.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
    /// What setup did instead (e.g. `using the default 5000`).
    pub action: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?}: {}; {}",
            self.variable, self.value, self.problem, self.action
        )
    }
}

/// Every [`Diagnostic`] found while reading the configuration, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// Records a problem with `variable`'s `value`.
    pub fn push(
        &mut self,
        variable: impl Into<String>,
        value: impl Into<String>,
        problem: impl Into<String>,
        action: impl Into<String>,
    ) {
        self.0.push(Diagnostic {
            variable: variable.into(),
            value: value.into(),
            problem: problem.into(),
            action: action.into(),
        });
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Appends every diagnostic of `other`.
    pub(crate) fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Renames variables (`(old, new)` pairs) where a diagnostic names them,
    /// in its variable and in its texts (a configuration file's fields stand
    /// for variables).
    #[cfg_attr(not(feature = "config-file"), allow(dead_code))]
    pub(crate) fn rename(&mut self, renames: &[(String, String)]) {
        for d in &mut self.0 {
            for (old, new) in renames {
                if d.variable == *old {
                    d.variable = new.clone();
                    if d.action == "variable ignored" {
                        d.action = "value ignored".to_owned();
                    }
                }
                for text in [&mut d.problem, &mut d.action] {
                    if text.contains(old.as_str()) {
                        *text = replace_word(text, old, new);
                    }
                }
            }
        }
    }

    /// Whether any diagnostic names `variable`.
    pub fn mentions(&self, variable: &str) -> bool {
        self.0.iter().any(|d| d.variable == variable)
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// `text` with every whole-word `old` (not part of a longer variable name)
/// replaced by `new`.
fn replace_word(text: &str, old: &str, new: &str) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(old) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + old.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(is_name) || after.is_some_and(is_name) {
            out.push_str(old);
        } else {
            out.push_str(new);
        }
        rest = &rest[i + old.len()..];
    }
    out.push_str(rest);
    out
}
