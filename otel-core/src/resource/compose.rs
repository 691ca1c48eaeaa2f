//! Merging detected, environment and code-provided attributes into one
//! [`Resource`], in the specification's order of precedence.

use super::env_attributes::{ResourceAttributesError, parse_resource_attributes};
use super::process::ProcessInfo;
use super::service::default_service_name;
use crate::config::Environment;
use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::{ResourceDetector, TelemetryResourceDetector};
use opentelemetry_semantic_conventions::resource::SERVICE_NAME;
use std::fmt;

/// The variable holding extra resource attributes.
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// The variable holding `service.name`.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// A problem with a resource environment variable: the variable, its value and
/// what is wrong. The whole variable was ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceDiagnostic {
    /// The variable, e.g. `OTEL_RESOURCE_ATTRIBUTES`.
    pub variable: &'static str,
    /// Its value, as read (trimmed).
    pub value: String,
    /// What is wrong with it.
    pub error: ResourceAttributesError,
}

impl ResourceDiagnostic {
    /// What was done about it.
    pub fn action(&self) -> &'static str {
        "ignored the whole variable"
    }
}

impl fmt::Display for ResourceDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?}: {}; {}",
            self.variable,
            self.value,
            self.error,
            self.action()
        )
    }
}

impl std::error::Error for ResourceDiagnostic {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Builds the [`Resource`] from its sources, lowest precedence first:
///
/// 1. the SDK's `telemetry.sdk.name`, `telemetry.sdk.language`, `telemetry.sdk.version`;
/// 2. [`detected`](Self::detected) attributes (see [`ResourceDetection`](super::ResourceDetection));
/// 3. `OTEL_RESOURCE_ATTRIBUTES`, read by [`env`](Self::env);
/// 4. `OTEL_SERVICE_NAME` (as `service.name`), read by [`env`](Self::env);
/// 5. attributes given in code, [`with_attributes`](Self::with_attributes);
/// 6. the service name given in code, [`with_service_name`](Self::with_service_name).
///
/// A higher source replaces a lower one's value for the same key (user code wins).
/// When no source sets `service.name`, it is `unknown_service:<executable name>`
/// (see [`with_fallback_service_name`](Self::with_fallback_service_name)).
///
/// Problems are returned as values ([`ResourceDiagnostic`]); nothing is logged and
/// nothing panics.
///
/// ```
/// use otel_kit_core::config::Environment;
/// use otel_kit_core::opentelemetry::KeyValue;
/// use otel_kit_core::resource::{FileSystemRoot, ResourceComposer, ResourceDetection};
///
/// let env = Environment::from_pairs([
///     ("OTEL_SERVICE_NAME", "checkout"),
///     ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod,service.name=ignored"),
/// ]);
/// let mut composer = ResourceComposer::new();
/// composer.detected(ResourceDetection::new().detect(&env, &FileSystemRoot::host()));
/// let problems = composer.env(&env);
/// assert!(problems.is_empty());
/// composer.with_attributes([KeyValue::new("service.version", "1.4.2")]);
/// let resource = composer.build();
/// assert_eq!(
///     resource.get(&"service.name".into()).map(|v| v.to_string()),
///     Some("checkout".to_owned())
/// );
/// assert!(resource.get(&"telemetry.sdk.language".into()).is_some());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ResourceComposer {
    detected: Vec<KeyValue>,
    env_attributes: Vec<KeyValue>,
    env_service_name: Option<String>,
    attributes: Vec<KeyValue>,
    service_name: Option<String>,
    fallback_service_name: Option<String>,
}

impl ResourceComposer {
    /// An empty composer: only the SDK attributes and the fallback service name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds detected attributes (lowest precedence after the SDK's own); later
    /// calls win over earlier ones for the same key.
    pub fn detected<I: IntoIterator<Item = KeyValue>>(&mut self, attributes: I) -> &mut Self {
        self.detected.extend(attributes);
        self
    }

    /// Reads `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` from `env`,
    /// replacing what an earlier call read.
    ///
    /// An invalid `OTEL_RESOURCE_ATTRIBUTES` is ignored as a whole and
    /// returned as a diagnostic naming the variable, its value and the problem.
    #[must_use = "the diagnostics must be reported to the user"]
    pub fn env(&mut self, env: &Environment) -> Vec<ResourceDiagnostic> {
        let mut diagnostics = Vec::new();
        self.env_attributes = match env.get(OTEL_RESOURCE_ATTRIBUTES) {
            None => Vec::new(),
            Some(value) => match parse_resource_attributes(value) {
                Ok(attributes) => attributes,
                Err(error) => {
                    diagnostics.push(ResourceDiagnostic {
                        variable: OTEL_RESOURCE_ATTRIBUTES,
                        value: value.to_owned(),
                        error,
                    });
                    Vec::new()
                }
            },
        };
        self.env_service_name = env.get(OTEL_SERVICE_NAME).map(str::to_owned);
        diagnostics
    }

    /// Adds attributes from code; they win over everything but
    /// [`with_service_name`](Self::with_service_name).
    pub fn with_attributes<I: IntoIterator<Item = KeyValue>>(
        &mut self,
        attributes: I,
    ) -> &mut Self {
        self.attributes.extend(attributes);
        self
    }

    /// Sets `service.name` from code; it wins over every other source.
    pub fn with_service_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.service_name = Some(name.into());
        self
    }

    /// Sets the `service.name` used when no source sets one; by default
    /// `unknown_service:<executable name>` of the running process
    /// ([`default_service_name`]).
    pub fn with_fallback_service_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.fallback_service_name = Some(name.into());
        self
    }

    /// The resource, with every source merged in precedence order.
    pub fn build(&self) -> Resource {
        let sdk = TelemetryResourceDetector.detect();
        let mut all: Vec<KeyValue> = sdk
            .iter()
            .map(|(key, value)| KeyValue::new(key.clone(), value.clone()))
            .collect();
        all.extend(self.detected.iter().cloned());
        all.extend(self.env_attributes.iter().cloned());
        if let Some(name) = &self.env_service_name {
            all.push(KeyValue::new(SERVICE_NAME, name.clone()));
        }
        all.extend(self.attributes.iter().cloned());
        if let Some(name) = &self.service_name {
            all.push(KeyValue::new(SERVICE_NAME, name.clone()));
        }
        if !all.iter().any(|kv| kv.key.as_str() == SERVICE_NAME) {
            let fallback = self
                .fallback_service_name
                .clone()
                .unwrap_or_else(|| default_service_name(&ProcessInfo::current()));
            all.push(KeyValue::new(SERVICE_NAME, fallback));
        }
        Resource::builder_empty().with_attributes(all).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::{Key, Value};
    use opentelemetry_semantic_conventions::resource::{
        HOST_NAME, SERVICE_INSTANCE_ID, SERVICE_VERSION, TELEMETRY_SDK_LANGUAGE,
        TELEMETRY_SDK_NAME, TELEMETRY_SDK_VERSION,
    };

    fn get(resource: &Resource, key: &'static str) -> Option<String> {
        resource
            .get(&Key::from_static_str(key))
            .map(|v| v.as_str().into_owned())
    }

    /// Which source wins for `service.name`, each row adding one more source.
    #[test]
    fn service_name_precedence() {
        struct Case {
            detected: Option<&'static str>,
            resource_attributes: Option<&'static str>,
            service_name_var: Option<&'static str>,
            code_attribute: Option<&'static str>,
            code_service_name: Option<&'static str>,
            expected: &'static str,
        }
        let none = Case {
            detected: None,
            resource_attributes: None,
            service_name_var: None,
            code_attribute: None,
            code_service_name: None,
            expected: "fallback",
        };
        let cases = [
            Case { ..none },
            Case {
                detected: Some("detected"),
                expected: "detected",
                ..none
            },
            Case {
                detected: Some("detected"),
                resource_attributes: Some("service.name=from-attrs"),
                expected: "from-attrs",
                ..none
            },
            Case {
                detected: Some("detected"),
                resource_attributes: Some("service.name=from-attrs"),
                service_name_var: Some("from-var"),
                expected: "from-var",
                ..none
            },
            Case {
                detected: Some("detected"),
                resource_attributes: Some("service.name=from-attrs"),
                service_name_var: Some("from-var"),
                code_attribute: Some("code-attr"),
                expected: "code-attr",
                ..none
            },
            Case {
                detected: Some("detected"),
                resource_attributes: Some("service.name=from-attrs"),
                service_name_var: Some("from-var"),
                code_attribute: Some("code-attr"),
                code_service_name: Some("code-name"),
                expected: "code-name",
            },
            // An invalid OTEL_RESOURCE_ATTRIBUTES contributes nothing.
            Case {
                detected: Some("detected"),
                resource_attributes: Some("service.name=from-attrs,bad"),
                expected: "detected",
                ..none
            },
        ];
        for (i, case) in cases.iter().enumerate() {
            let mut pairs = Vec::new();
            if let Some(v) = case.resource_attributes {
                pairs.push((OTEL_RESOURCE_ATTRIBUTES, v));
            }
            if let Some(v) = case.service_name_var {
                pairs.push((OTEL_SERVICE_NAME, v));
            }
            let mut composer = ResourceComposer::new();
            composer.with_fallback_service_name("fallback");
            if let Some(v) = case.detected {
                composer.detected([KeyValue::new(SERVICE_NAME, v)]);
            }
            let _ = composer.env(&Environment::from_pairs(pairs));
            if let Some(v) = case.code_attribute {
                composer.with_attributes([KeyValue::new(SERVICE_NAME, v)]);
            }
            if let Some(v) = case.code_service_name {
                composer.with_service_name(v);
            }
            let resource = composer.build();
            assert_eq!(
                get(&resource, SERVICE_NAME).as_deref(),
                Some(case.expected),
                "case {i}"
            );
        }
    }

    #[test]
    fn layers_merge_per_key_and_keep_sdk_attributes() {
        let env = Environment::from_pairs([
            (
                OTEL_RESOURCE_ATTRIBUTES,
                "host.name=env-host,deployment.environment.name=prod,team=a%2Cb",
            ),
            (OTEL_SERVICE_NAME, "checkout"),
        ]);
        let mut composer = ResourceComposer::new();
        composer.detected([
            KeyValue::new(HOST_NAME, "detected-host"),
            KeyValue::new(SERVICE_INSTANCE_ID, "detected-id"),
            KeyValue::new("team", "detected-team"),
        ]);
        assert!(composer.env(&env).is_empty());
        composer.with_attributes([
            KeyValue::new(SERVICE_VERSION, "1.2.3"),
            KeyValue::new("team", "code-team"),
        ]);
        let resource = composer.build();

        let expected: &[(&'static str, &str)] = &[
            (HOST_NAME, "env-host"),
            (SERVICE_INSTANCE_ID, "detected-id"),
            ("deployment.environment.name", "prod"),
            ("team", "code-team"),
            (SERVICE_NAME, "checkout"),
            (SERVICE_VERSION, "1.2.3"),
            (TELEMETRY_SDK_NAME, "opentelemetry"),
            (TELEMETRY_SDK_LANGUAGE, "rust"),
        ];
        for (key, value) in expected {
            assert_eq!(get(&resource, key).as_deref(), Some(*value), "{key}");
        }
        assert!(get(&resource, TELEMETRY_SDK_VERSION).is_some());
        assert_eq!(resource.len(), expected.len() + 1, "{resource:?}");
        assert_eq!(resource.schema_url(), None);
    }

    #[test]
    fn invalid_resource_attributes_are_reported_not_used() {
        let value = "a=1,b=%zz";
        let env = Environment::from_pairs([(OTEL_RESOURCE_ATTRIBUTES, value)]);
        let mut composer = ResourceComposer::new();
        let diagnostics = composer.env(&env);
        assert_eq!(diagnostics.len(), 1);
        let diagnostic = &diagnostics[0];
        assert_eq!(diagnostic.variable, "OTEL_RESOURCE_ATTRIBUTES");
        assert_eq!(diagnostic.value, value);
        assert!(matches!(
            diagnostic.error,
            ResourceAttributesError::InvalidPercentEscape { member: 2, .. }
        ));
        let text = diagnostic.to_string();
        assert!(
            text.starts_with(
                "OTEL_RESOURCE_ATTRIBUTES=\"a=1,b=%zz\": member 2 has an invalid percent-escape"
            ),
            "{text}"
        );
        assert!(text.ends_with("; ignored the whole variable"), "{text}");
        let resource = composer.build();
        assert_eq!(
            get(&resource, "a"),
            None,
            "nothing from a rejected variable"
        );
    }

    #[test]
    fn env_replaces_what_an_earlier_call_read() {
        let mut composer = ResourceComposer::new();
        let _ = composer.env(&Environment::from_pairs([
            (OTEL_RESOURCE_ATTRIBUTES, "a=1"),
            (OTEL_SERVICE_NAME, "first"),
        ]));
        let _ = composer.env(&Environment::from_pairs([(
            OTEL_RESOURCE_ATTRIBUTES,
            "b=2",
        )]));
        composer.with_fallback_service_name("fb");
        let resource = composer.build();
        assert_eq!(get(&resource, "a"), None);
        assert_eq!(get(&resource, "b").as_deref(), Some("2"));
        assert_eq!(get(&resource, SERVICE_NAME).as_deref(), Some("fb"));
    }

    #[test]
    fn default_fallback_is_unknown_service_with_executable() {
        let resource = ResourceComposer::new().build();
        let name = get(&resource, SERVICE_NAME).expect("service.name always set");
        assert!(name.starts_with("unknown_service:otel_kit_core"), "{name}");
        // Only the SDK attributes and the name.
        assert_eq!(resource.len(), 4, "{resource:?}");
        assert_eq!(
            resource.get(&Key::from_static_str(TELEMETRY_SDK_LANGUAGE)),
            Some(Value::from("rust"))
        );
    }
}
