use std::collections::HashMap;

/// A snapshot of environment variables, read once.
///
/// Everything in this crate that reads the environment reads it through an
/// `Environment`, so tests can hand in a fake one (no process-global state,
/// safe in parallel tests) and setup reads the process environment exactly once.
///
/// Per the OpenTelemetry specification an empty value is the same as an unset
/// one: [`Environment::get`] returns `None` for both.
#[derive(Clone, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
    /// Every name looked up through [`Environment::get`] (unit tests only:
    /// how `config::KNOWN_VARIABLES` is checked against the parser).
    #[cfg(test)]
    read_log: Option<ReadLog>,
}

/// The names an [`Environment`] was asked for (unit tests only).
#[cfg(test)]
pub(crate) type ReadLog = std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>;

impl std::fmt::Debug for Environment {
    /// Names only: values may be credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Environment")
            .field("names", &names)
            .finish()
    }
}

impl Environment {
    /// Reads every variable of the current process. Variables whose name or
    /// value is not valid Unicode are skipped.
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::with_vars(vars)
    }

    fn with_vars(vars: HashMap<String, String>) -> Self {
        Self {
            vars,
            #[cfg(test)]
            read_log: None,
        }
    }

    /// An environment holding exactly these variables (for tests and embedding).
    pub fn from_pairs<K, V, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::with_vars(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// This environment, recording every name later looked up in it or in
    /// its clones, and the log of those names (unit tests only).
    #[cfg(test)]
    pub(crate) fn recording(mut self) -> (Self, ReadLog) {
        let log = ReadLog::default();
        self.read_log = Some(log.clone());
        (self, log)
    }

    /// The value of `name`, trimmed of surrounding whitespace; `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        #[cfg(test)]
        if let Some(log) = &self.read_log {
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_owned());
        }
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name` exactly as set (not trimmed; empty when set
    /// empty), for configuration-file substitution.
    #[cfg(feature = "config-file")]
    pub(crate) fn raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// This environment without its `OTEL_*` variables (a configuration
    /// file replaces them).
    #[cfg(feature = "config-file")]
    pub(crate) fn without_otel(&self) -> Self {
        Self::with_vars(
            self.vars
                .iter()
                .filter(|(k, _)| !k.starts_with("OTEL_"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// The names of the set (non-empty) variables that start with `OTEL_`,
    /// sorted.
    pub fn otel_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .vars
            .iter()
            .filter(|(k, v)| k.starts_with("OTEL_") && !v.trim().is_empty())
            .map(|(k, _)| k.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// Sets (or replaces) a variable in this snapshot; the process is not touched.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_value_is_unset() {
        let env = Environment::from_pairs([("A", ""), ("B", "  "), ("C", " x ")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), None);
        assert_eq!(env.get("C"), Some("x"));
        assert_eq!(env.get("D"), None);
    }
}
