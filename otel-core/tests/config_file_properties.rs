//! Property tests of the configuration file (run by `cargo test`; 256 cases
//! each): any text, and any mutation of a valid file or of the values its
//! references expand to, is either a `FileError` or a configuration with
//! diagnostics, never a panic; and substitution never injects structure.
#![cfg(feature = "config-file")]

use otel_kit_core::config::Environment;
use otel_kit_core::config::file::FileSettings;
use proptest::prelude::*;

const VALID: &str = r#"file_format: "1.1"
resource:
  attributes:
    - name: service.name
      value: ${NAME:-svc}
    - name: n
      value: ${N}
      type: int
  attributes_list: ${ATTRS}
propagator:
  composite_list: ${PROPAGATORS:-tracecontext}
tracer_provider:
  processors:
    - batch:
        schedule_delay: ${DELAY}
        exporter:
          otlp_http:
            endpoint: ${ENDPOINT}
            headers_list: ${HEADERS}
  sampler:
    parent_based:
      root:
        trace_id_ratio_based:
          ratio: ${RATIO}
meter_provider:
  readers:
    - periodic:
        exporter:
          console:
  views:
    - selector: {instrument_name: "${VIEW}"}
      stream: {aggregation_cardinality_limit: "${LIMIT}"}
"#;

/// Text with YAML's structural characters, references and escapes.
fn yamlish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("${".to_owned()),
            Just("}".to_owned()),
            Just("$$".to_owned()),
            Just(":-".to_owned()),
            Just(": ".to_owned()),
            Just("\n".to_owned()),
            Just("\n  ".to_owned()),
            Just("- ".to_owned()),
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just("[".to_owned()),
            Just("{".to_owned()),
            Just("&a ".to_owned()),
            Just("*a".to_owned()),
            Just("file_format: \"1.1\"\n".to_owned()),
            "[a-z_]{1,8}".prop_map(|s| s),
            any::<char>().prop_map(String::from),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn any_text_is_an_error_or_a_configuration(text in yamlish()) {
        if let Ok(file) = FileSettings::parse(&text, "p.yaml", &Environment::default()) {
            let _ = file.config();
        }
    }

    #[test]
    fn any_substituted_value_is_reported_never_injected(
        value in yamlish(),
        var in prop::sample::select(vec![
            "NAME", "N", "ATTRS", "PROPAGATORS", "DELAY", "ENDPOINT", "HEADERS",
            "RATIO", "VIEW", "LIMIT",
        ]),
    ) {
        let env = Environment::from_pairs([(var, value.as_str())]);
        let file = FileSettings::parse(VALID, "p.yaml", &env)
            .expect("a valid file stays valid whatever a variable holds");
        let (config, _diagnostics) = file.config();
        // The structure is the file's: one processor, one reader.
        prop_assert_eq!(config.traces_exporter.as_ref().map(Vec::len), Some(1));
        prop_assert_eq!(config.metrics_exporter.as_ref().map(Vec::len), Some(1));
    }
}
