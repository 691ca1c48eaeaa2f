use super::*;
use crate::config::{Compression, ExporterKind, Protocol, TemporalityPreference};
use crate::sampling::RootSampler;
use std::time::Duration;

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/config/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(yaml: &str) -> (Config, Diagnostics) {
    parse_with(yaml, &Environment::default())
}

fn parse_with(yaml: &str, env: &Environment) -> (Config, Diagnostics) {
    FileSettings::parse(yaml, "test.yaml", env)
        .unwrap_or_else(|e| panic!("{e}"))
        .config()
}

fn paths(d: &Diagnostics) -> Vec<&str> {
    d.iter().map(|x| x.variable.as_str()).collect()
}

#[test]
fn getting_started_example() {
    let env = Environment::from_pairs([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=prod",
        ),
        ("OTEL_SERVICE_NAME", "payments"),
    ]);
    let file = FileSettings::parse(&data("otel-getting-started.yaml"), "x", &env).unwrap();
    let (c, d) = file.config();
    assert!(d.is_empty(), "{d}");
    assert_eq!(c.otlp_traces.endpoint, "http://collector:4318/v1/traces");
    assert_eq!(c.otlp_metrics.endpoint, "http://collector:4318/v1/metrics");
    assert_eq!(c.otlp_logs.endpoint, "http://collector:4318/v1/logs");
    assert_eq!(c.otlp_logs.protocol, Protocol::HttpProtobuf);
    assert_eq!(
        c.traces_exporter.as_deref(),
        Some(&[ExporterKind::Otlp][..])
    );
    assert_eq!(
        c.resource_attributes.as_deref(),
        Some("deployment.environment.name=prod")
    );
    // Messages about a full queue name the file's field, not the variable.
    assert_eq!(
        c.span_batch.queue_setting,
        "tracer_provider.processors[].batch.max_queue_size"
    );
    // The service detector reads OTEL_SERVICE_NAME, as the schema says.
    assert_eq!(c.service_name.as_deref(), Some("payments"));
    let detection = c.resource_detection.unwrap();
    assert!(detection.is_enabled(crate::resource::Detector::Host));
    assert!(!detection.is_enabled(crate::resource::Detector::Kubernetes));
    assert_eq!(
        c.sampler_spec.unwrap().to_string(),
        "parentbased_always_on + force-keep"
    );
    // Substitution defaults apply when the variables are unset.
    let (c, _) = FileSettings::parse(
        &data("otel-getting-started.yaml"),
        "x",
        &Environment::default(),
    )
    .unwrap()
    .config();
    assert_eq!(c.otlp_traces.endpoint, "http://localhost:4318/v1/traces");
}

#[test]
fn sdk_config_example_reports_each_unsupported_field_by_path() {
    let (c, d) = parse(&data("otel-sdk-config.yaml"));
    assert_eq!(
        paths(&d),
        ["logger_provider.limits.attribute_count_limit"],
        "{d}"
    );
    assert_eq!(c.span_batch.schedule_delay, Duration::from_millis(5000));
    assert_eq!(c.log_batch.schedule_delay, Duration::from_millis(1000));
    assert_eq!(c.otlp_traces.compression, Compression::Gzip);
    assert_eq!(c.otlp_traces.timeout, Duration::from_millis(10_000));
    assert_eq!(c.metrics.export_interval, Duration::from_millis(60_000));
    assert_eq!(c.metrics.temporality, TemporalityPreference::Cumulative);
    assert_eq!(c.limits.span_attribute_count, 128);
    assert_eq!(c.resource.len(), 1);
    let spec = c.sampler_spec.unwrap();
    assert!(spec.parent_based);
    assert_eq!(
        spec.branches.remote_parent_not_sampled,
        Some(RootSampler::AlwaysOff)
    );
}

#[test]
fn migration_example_follows_the_environment_through_substitution() {
    let env = Environment::from_pairs([
        ("OTEL_SERVICE_NAME", "billing"),
        ("OTEL_PROPAGATORS", "b3multi,tracecontext"),
        ("OTEL_BSP_SCHEDULE_DELAY", "250"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=s3cr3t"),
        ("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup"),
    ]);
    let (c, d) = parse_with(&data("otel-sdk-migration-config.yaml"), &env);
    assert_eq!(
        paths(&d),
        ["logger_provider.limits.attribute_count_limit"],
        "{d}"
    );
    assert_eq!(c.span_batch.schedule_delay, Duration::from_millis(250));
    assert_eq!(
        c.propagators,
        [
            crate::config::PropagatorKind::B3Multi,
            crate::config::PropagatorKind::TraceContext
        ]
    );
    assert_eq!(
        c.otlp_traces.headers,
        [("api-key".to_owned(), "s3cr3t".to_owned())]
    );
    assert_eq!(c.semconv.http, crate::config::StabilityMode::Duplicate);
    assert_eq!(c.resource[0].value.as_str(), "billing");
}

#[test]
fn malformed_yaml_fails_with_line_and_column() {
    let err = FileSettings::parse(
        "file_format: \"1.1\"\ntracer_provider:\n  processors: [\n    - batch\n",
        "bad.yaml",
        &Environment::default(),
    )
    .unwrap_err();
    let FileError::Parse { line, column, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(line.is_some() && column.is_some(), "{err}");
    assert!(err.to_string().starts_with("bad.yaml:"), "{err}");

    let err = FileSettings::parse(
        "file_format: \"1.1\"\nresource:\n  attributes:\n\t- name: x\n",
        "tab.yaml",
        &Environment::default(),
    )
    .unwrap_err();
    let FileError::Parse { line, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, Some(4), "{err}");
}

#[test]
fn invalid_references_and_formats_stop_everything() {
    let err = FileSettings::parse(
        "file_format: \"1.1\"\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          console: ${X:?required}\n",
        "f.yaml",
        &Environment::default(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(
            "f.yaml:6: tracer_provider.processors[0].batch.exporter.console: \"${X:?required}\""
        ),
        "{text}"
    );
    for (yaml, value) in [
        ("tracer_provider: {}\n", None),
        ("file_format: \"0.4\"\n", Some("0.4")),
        ("file_format: \"2.0\"\n", Some("2.0")),
        ("- a\n", None),
    ] {
        match FileSettings::parse(yaml, "f.yaml", &Environment::default()) {
            Err(FileError::FileFormat { value: v, .. }) => assert_eq!(v.as_deref(), value),
            other => panic!("{yaml}: {other:?}"),
        }
    }
    assert!(FileSettings::parse("file_format: 1.0\n", "f", &Environment::default()).is_ok());
    let newer =
        FileSettings::parse("file_format: \"1.2\"\n", "f", &Environment::default()).unwrap();
    assert_eq!(paths(newer.diagnostics()), ["file_format"]);
    let err = FileSettings::load("/nonexistent/otel.yaml", &Environment::default()).unwrap_err();
    assert!(matches!(err, FileError::Read { .. }), "{err}");
}

#[test]
fn bad_values_name_the_path_and_the_problem() {
    let (c, d) = parse(
        r#"
file_format: "1.1"
tracer_provider:
  processors:
    - batch:
        max_queue_size: 0
        schedule_delay: soon
        exporter:
          otlp_http:
            endpoint: "htp:/x"
            compression: zstd
            timeout: -5
  sampler:
    trace_id_ratio_based:
      ratio: 1.5
  limits:
    event_count_limt: 3
meter_provider:
  readers:
    - periodic:
        exporter:
          otlp_grpc:
            temporality_preference: sometimes
logger_provider:
  processors:
    - batch: {}
"#,
    );
    let text = d.to_string();
    for expected in [
        "tracer_provider.processors[0].batch.max_queue_size=\"0\": must be at least 1",
        "tracer_provider.processors[0].batch.schedule_delay=\"soon\": expected an integer, found a string",
        "tracer_provider.processors[0].batch.exporter.otlp_http.endpoint=\"htp:/x\": not an http:// or https:// URL; value ignored",
        "tracer_provider.processors[0].batch.exporter.otlp_http.compression=\"zstd\": unknown compression",
        "tracer_provider.processors[0].batch.exporter.otlp_http.timeout=\"-5\": must be at least 0",
        "tracer_provider.sampler.trace_id_ratio_based.ratio=\"1.5\": expected a ratio between 0 and 1",
        "tracer_provider.limits.event_count_limt=\"3\": unknown field",
        "meter_provider.readers[0].periodic.exporter.otlp_grpc.temporality_preference=\"sometimes\": unknown value",
        "logger_provider.processors[0].batch=\"<a mapping>\": exporter is required",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(d.len(), 9, "{text}");
    assert_eq!(c.span_batch.max_queue_size, 2048);
    assert_eq!(c.otlp_traces.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(c.logs_exporter.as_deref(), Some(&[][..]));
}

#[test]
fn absent_providers_export_nothing_and_no_propagator_is_installed() {
    let (c, d) = parse("file_format: \"1.0\"\n");
    assert!(d.is_empty(), "{d}");
    assert_eq!(c.traces_exporter.as_deref(), Some(&[][..]));
    assert_eq!(c.metrics_exporter.as_deref(), Some(&[][..]));
    assert_eq!(c.logs_exporter.as_deref(), Some(&[][..]));
    assert!(c.propagators.is_empty());
    assert!(c.sampler_spec.is_none());
}

#[test]
fn every_section_is_translated() {
    let env = Environment::from_pairs([("TOKEN", "a b,c"), ("OTEL_TRACES_SAMPLER", "always_off")]);
    let (c, d) = parse_with(
        r#"
file_format: "1.1"
disabled: false
log_level: warn
attribute_limits:
  attribute_value_length_limit: 256
resource:
  attributes:
    - name: service.name
      value: checkout
    - name: replicas
      value: 3
      type: int
    - name: zones
      value: [a, b]
      type: string_array
  attributes_list: team=payments
  detection/development:
    detectors:
      - kubernetes:
propagator:
  composite:
    - tracecontext:
    - b3:
    - jaeger:
    - ottrace:
tracer_provider:
  processors:
    - simple:
        exporter:
          otlp_grpc:
            endpoint: http://collector:4317
            headers:
              - name: authorization
                value: ${TOKEN}
            tls:
              ca_file: /etc/ca.pem
              insecure: false
    - simple:
        exporter:
          console:
  sampler:
    parent_based:
      root:
        rate_limiting:
          per_second: 50
      remote_parent_not_sampled:
        rules:
          rules: ["name=GET /health*:never", "*:always"]
meter_provider:
  readers:
    - periodic:
        interval: 5000
        exporter:
          otlp_http:
            endpoint: http://collector:4318/v1/metrics
            encoding: json
            temporality_preference: delta
            default_histogram_aggregation: base2_exponential_bucket_histogram
    - pull:
        exporter:
          prometheus/development:
            host: 0.0.0.0
            port: 9999
  views:
    - selector: {instrument_name: x}
      stream: {name: y}
  exemplar_filter: always_on
logger_provider:
  processors:
    - batch:
        exporter:
          console:
"#,
        &env,
    );
    assert_eq!(
        paths(&d),
        [
            "propagator.composite[3].ottrace",
            "meter_provider.exemplar_filter",
        ],
        "{d}"
    );
    assert_eq!(c.log_level, crate::config::LogLevel::Warn);
    assert_eq!(c.limits.span_attribute_value_length, Some(256));
    assert_eq!(c.resource.len(), 3);
    assert_eq!(c.resource_attributes.as_deref(), Some("team=payments"));
    assert!(
        c.resource_detection
            .unwrap()
            .is_enabled(crate::resource::Detector::Kubernetes)
    );
    assert_eq!(
        c.propagators,
        [
            crate::config::PropagatorKind::TraceContext,
            crate::config::PropagatorKind::B3,
            crate::config::PropagatorKind::Jaeger
        ]
    );
    assert_eq!(
        c.traces_exporter.as_deref(),
        Some(&[ExporterKind::Otlp, ExporterKind::Console][..])
    );
    assert_eq!(c.span_processor, ProcessorKind::Simple);
    assert_eq!(c.log_processor, ProcessorKind::Batch);
    assert_eq!(c.otlp_traces.protocol, Protocol::Grpc);
    assert_eq!(c.otlp_traces.endpoint, "http://collector:4317");
    assert_eq!(
        c.otlp_traces.headers,
        [("authorization".to_owned(), "a b,c".to_owned())]
    );
    assert_eq!(
        c.otlp_traces.certificate.as_deref(),
        Some(Path::new("/etc/ca.pem"))
    );
    // The environment's sampler is ignored: the file's wins.
    assert_eq!(c.sampler, None);
    let spec = c.sampler_spec.clone().unwrap();
    assert_eq!(spec.root, RootSampler::RateLimiting(50.0));
    assert!(matches!(
        spec.branches.remote_parent_not_sampled,
        Some(RootSampler::Rules(ref r)) if r.len() == 2
    ));
    assert!(
        spec.to_string()
            .contains("remote_parent_not_sampled=rules("),
        "{spec}"
    );
    assert_eq!(
        c.metrics_exporter.as_deref(),
        Some(&[ExporterKind::Otlp, ExporterKind::Prometheus][..])
    );
    assert_eq!(c.otlp_metrics.protocol, Protocol::HttpJson);
    assert_eq!(c.metrics.export_interval, Duration::from_millis(5000));
    assert_eq!(c.metrics.temporality, TemporalityPreference::Delta);
    assert!(c.metrics.exponential_histograms);
    assert_eq!(c.metric_views.len(), 1);
    assert_eq!(c.metric_views[0].name.as_deref(), Some("y"));
    let shown = c.to_string();
    assert!(shown.contains("metric view: x -> y"), "{shown}");
    assert!(
        shown.contains("processors: spans=Simple logs=Batch"),
        "{shown}"
    );
    assert_eq!(c.prometheus.host, "0.0.0.0");
    assert_eq!(c.prometheus.port, 9999);
    assert_eq!(
        c.logs_exporter.as_deref(),
        Some(&[ExporterKind::Console][..])
    );
}

#[test]
fn a_second_otlp_exporter_or_mixed_processors_are_reported() {
    let (c, d) = parse(
        r#"
file_format: "1.1"
tracer_provider:
  processors:
    - batch:
        schedule_delay: 100
        exporter: {otlp_http: {endpoint: "http://a:4318/v1/traces"}}
    - batch:
        exporter: {otlp_grpc: {endpoint: "http://b:4317"}}
    - simple:
        exporter: {console: }
    - batch:
        schedule_delay: 200
        exporter: {console: }
"#,
    );
    assert_eq!(
        paths(&d),
        [
            "tracer_provider.processors[1].batch.exporter.otlp_grpc",
            "tracer_provider.processors[2].simple",
            "tracer_provider.processors[3].batch.schedule_delay",
        ],
        "{d}"
    );
    assert_eq!(c.otlp_traces.endpoint, "http://a:4318/v1/traces");
    assert_eq!(c.span_batch.schedule_delay, Duration::from_millis(100));
    assert_eq!(
        c.traces_exporter.as_deref(),
        Some(&[ExporterKind::Otlp, ExporterKind::Console][..])
    );
}

#[test]
fn substituted_values_are_typed_after_substitution() {
    let env = Environment::from_pairs([("DELAY", "750"), ("OFF", "true")]);
    let (c, d) = parse_with(
        "file_format: \"1.1\"\ndisabled: ${OFF}\ntracer_provider:\n  processors:\n    - batch:\n        schedule_delay: ${DELAY}\n        exporter: {console: }\n",
        &env,
    );
    assert!(d.is_empty(), "{d}");
    assert!(c.sdk_disabled);
    assert_eq!(c.span_batch.schedule_delay, Duration::from_millis(750));
}

#[test]
fn views_select_and_shape_streams() {
    use opentelemetry_sdk::metrics::{Aggregation, InstrumentKind};
    let (c, d) = parse(
        r#"
file_format: "1.1"
meter_provider:
  readers:
    - periodic:
        exporter: {console: }
  views:
    - selector:
        instrument_name: http.server.request.duration
        instrument_type: histogram
        meter_name: otel-kit-http
      stream:
        name: http.duration
        aggregation:
          explicit_bucket_histogram:
            boundaries: [0.1, 1, 10]
            record_min_max: false
        attribute_keys:
          included: [http.route]
    - selector: {instrument_name: "rpc.*"}
      stream:
        aggregation: {base2_exponential_bucket_histogram: {max_scale: 10}}
        aggregation_cardinality_limit: 100
    - selector: {instrument_name: "db.*"}
      stream: {aggregation: {drop: }}
    - selector: {instrument_name: "a.*"}
      stream: {name: renamed}
    - selector: {instrument_type: dial}
      stream: {}
    - selector: {instrument_name: x}
      stream:
        attribute_keys: {excluded: [secret]}
        aggregation: {explicit_bucket_histogram: {boundaries: [2, 1]}}
    - selector: {instrument_name: y}
"#,
    );
    assert_eq!(
        paths(&d),
        [
            "meter_provider.views[3].stream.name",
            "meter_provider.views[4].selector.instrument_type",
            "meter_provider.views[5].stream.attribute_keys.excluded",
            "meter_provider.views[5].stream.aggregation.explicit_bucket_histogram.boundaries",
            "meter_provider.views[6]",
        ],
        "{d}"
    );
    let v = &c.metric_views;
    assert_eq!(v.len(), 3, "{v:#?}");
    assert_eq!(v[0].instrument_kind, Some(InstrumentKind::Histogram));
    assert_eq!(v[0].meter_name.as_deref(), Some("otel-kit-http"));
    assert_eq!(
        v[0].aggregation,
        Some(Aggregation::ExplicitBucketHistogram {
            boundaries: vec![0.1, 1.0, 10.0],
            record_min_max: false
        })
    );
    assert_eq!(v[0].attribute_keys, Some(vec!["http.route".to_owned()]));
    assert!(v[0].stream().is_some());
    assert_eq!(
        v[1].aggregation,
        Some(Aggregation::Base2ExponentialHistogram {
            max_size: 160,
            max_scale: 10,
            record_min_max: true
        })
    );
    assert_eq!(v[1].cardinality_limit, Some(100));
    assert!(v[1].name_matches("rpc.client.duration"));
    assert_eq!(v[2].aggregation, Some(Aggregation::Drop));
}

#[test]
fn reader_cardinality_limits_are_one_set() {
    let (c, d) = parse(
        r#"
file_format: "1.1"
meter_provider:
  readers:
    - periodic:
        exporter: {console: }
        cardinality_limits: {default: 100, histogram: 10, gauges: 3}
    - periodic:
        exporter: {otlp_http: }
        cardinality_limits: {default: 50}
    - pull:
        exporter: {prometheus/development: }
        cardinality_limits: {counter: 0}
"#,
    );
    assert_eq!(
        paths(&d),
        [
            "meter_provider.readers[0].periodic.cardinality_limits.gauges",
            "meter_provider.readers[1].periodic.cardinality_limits",
            "meter_provider.readers[2].pull.cardinality_limits.counter",
        ],
        "{d}"
    );
    let l = c.cardinality_limits;
    assert_eq!(
        l.for_kind(opentelemetry_sdk::metrics::InstrumentKind::Histogram),
        Some(10)
    );
    assert_eq!(
        l.for_kind(opentelemetry_sdk::metrics::InstrumentKind::Counter),
        Some(100)
    );
}
