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
