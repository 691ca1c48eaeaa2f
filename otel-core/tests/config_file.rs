//! The declarative configuration file through the whole setup: a file equal
//! to an environment gives the same effective configuration, the other
//! `OTEL_*` variables are ignored and reported, code defaults sit below the
//! file, and a broken file stops setup.
#![cfg(feature = "config-file")]

use otel_kit_core::config::Environment;
use otel_kit_core::resource::ResourceDetection;
use otel_kit_core::{SetupError, Telemetry, ValueSource};
use std::path::PathBuf;

/// Writes `yaml` to a file of its own and returns its path.
fn write(name: &str, yaml: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("otel-kit-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The report without the lines that say where values came from.
fn effective(t: &Telemetry) -> String {
    t.report()
        .to_string()
        .lines()
        .filter(|l| !l.starts_with("sources:") && !l.starts_with("config file:"))
        .collect::<Vec<_>>()
        .join("\n")
}

const EQUIVALENT: &str = r#"
file_format: "1.1"
resource:
  attributes:
    - name: service.name
      value: equal
  attributes_list: team=payments
propagator:
  composite_list: tracecontext,baggage,b3
tracer_provider:
  processors:
    - batch:
        schedule_delay: 200
        max_queue_size: 1000
        exporter:
          otlp_grpc:
            endpoint: http://collector:4317
            timeout: 5000
            compression: gzip
            headers_list: x-tenant=acme
  limits:
    event_count_limit: 64
  sampler:
    parent_based:
      root:
        trace_id_ratio_based:
          ratio: 0.5
meter_provider:
  readers:
    - periodic:
        interval: 1000
        exporter:
          console:
logger_provider:
  processors: []
"#;

#[test]
fn a_file_equal_to_an_environment_gives_the_same_configuration() {
    let from_env = Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_SERVICE_NAME", "equal"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team=payments"),
            ("OTEL_PROPAGATORS", "tracecontext,baggage,b3"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://collector:4317",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "5000"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=acme"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "1000"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "64"),
            ("OTEL_METRICS_EXPORTER", "console"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]))
        .resource_detection(ResourceDetection::none())
        .install_global(false)
        .strict(true)
        .install()
        .expect("environment setup");
    let path = write("equivalent.yaml", EQUIVALENT);
    let from_file = Telemetry::builder()
        .environment(Environment::from_pairs([(
            "OTEL_CONFIG_FILE",
            path.to_str().unwrap(),
        )]))
        .install_global(false)
        .strict(true)
        .install()
        .expect("file setup");
    assert_eq!(effective(&from_env), effective(&from_file));
    assert!(
        effective(&from_file).contains("sampler: parentbased_traceidratio(0.5) + force-keep"),
        "{}",
        from_file.report()
    );
    let report = from_file.report();
    assert_eq!(report.config_file(), Some(path.as_path()));
    assert_eq!(report.sources()["service.name"], ValueSource::File);
    assert_eq!(
        report.sources()["tracer_provider.processors[0].batch.exporter.otlp_grpc.endpoint"],
        ValueSource::File
    );
    assert_eq!(
        report.sources()["tracer_provider.sampler"],
        ValueSource::File
    );
    assert!(
        !report.sources().keys().any(|k| k.starts_with("OTEL_")),
        "{report}"
    );
    assert_eq!(from_env.report().config_file(), None);
    assert!(from_env.report().ignored_variables().is_empty());
}

#[test]
fn the_other_variables_are_ignored_and_reported() {
    let path = write(
        "ignored.yaml",
        "file_format: \"1.1\"\nresource:\n  attributes:\n    - name: service.name\n      value: ${NAME:-from-file}\n",
    );
    let t = Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_CONFIG_FILE", path.to_str().unwrap()),
            ("OTEL_SERVICE_NAME", "from-env"),
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
        ]))
        .install_global(false)
        .strict(true)
        .install()
        .unwrap();
    let report = t.report();
    assert_eq!(
        report
            .resource()
            .get(&"service.name".into())
            .map(|v| v.to_string())
            .as_deref(),
        Some("from-file")
    );
    assert!(report.trace_exporters().is_empty());
    assert_eq!(
        report.ignored_variables(),
        [
            "OTEL_SERVICE_NAME",
            "OTEL_TRACES_EXPORTER",
            "OTEL_TRACES_SAMPLER"
        ]
    );
    let text = report.to_string();
    assert!(
        text.contains(&format!("config file: {}", path.display())),
        "{text}"
    );
    assert!(
        text.contains(
            "ignored (the file replaces them, ${VAR} substitution aside): OTEL_SERVICE_NAME"
        ),
        "{text}"
    );
    // The default sampler of the schema, not the environment's always_off.
    assert!(text.contains("sampler: parentbased_always_on"), "{text}");
}

#[test]
fn code_defaults_sit_below_the_file_and_the_variable_beats_the_builder_path() {
    let with_name = write(
        "named.yaml",
        "file_format: \"1.1\"\nresource:\n  attributes:\n    - name: service.name\n      value: file-name\n",
    );
    let unnamed = write("unnamed.yaml", "file_format: \"1.1\"\n");
    let name = |t: &Telemetry| {
        t.report()
            .resource()
            .get(&"service.name".into())
            .map(|v| v.to_string())
    };
    let t = Telemetry::builder()
        .environment(Environment::default())
        .config_file(&unnamed)
        .service_name("code-name")
        .install_global(false)
        .install()
        .unwrap();
    assert_eq!(name(&t).as_deref(), Some("code-name"));
    assert_eq!(t.report().sources()["service.name"], ValueSource::Code);
    assert_eq!(t.report().config_file(), Some(unnamed.as_path()));
    // OTEL_CONFIG_FILE wins over the builder's file.
    let t = Telemetry::builder()
        .environment(Environment::from_pairs([(
            "OTEL_CONFIG_FILE",
            with_name.to_str().unwrap(),
        )]))
        .config_file(&unnamed)
        .service_name("code-name")
        .install_global(false)
        .install()
        .unwrap();
    assert_eq!(name(&t).as_deref(), Some("file-name"));
    assert_eq!(t.report().sources()["service.name"], ValueSource::File);
    // A forced name still wins.
    let t = Telemetry::builder()
        .environment(Environment::default())
        .config_file(&with_name)
        .force_service_name("forced")
        .install_global(false)
        .install()
        .unwrap();
    assert_eq!(name(&t).as_deref(), Some("forced"));
}

#[test]
fn unsupported_fields_warn_and_fail_in_strict_mode() {
    let path = write(
        "unsupported.yaml",
        "file_format: \"1.1\"\ntracer_provider:\n  processors: []\n  id_generator:\n    custom:\n",
    );
    let builder = || {
        Telemetry::builder()
            .environment(Environment::default())
            .config_file(&path)
            .install_global(false)
    };
    let t = builder().install().unwrap();
    let d = t.report().diagnostics();
    assert_eq!(d.len(), 1, "{d}");
    assert_eq!(
        d.iter().next().unwrap().variable,
        "tracer_provider.id_generator"
    );
    match builder().strict(true).install() {
        Err(SetupError::InvalidConfiguration(d)) => {
            assert!(d.mentions("tracer_provider.id_generator"), "{d}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_broken_file_stops_setup_with_its_line_and_column() {
    let path = write(
        "broken.yaml",
        "file_format: \"1.1\"\nresource:\n  attributes: [\n",
    );
    let err = Telemetry::builder()
        .environment(Environment::default())
        .config_file(&path)
        .install_global(false)
        .install()
        .unwrap_err();
    let SetupError::ConfigFile(e) = &err else {
        panic!("{err:?}")
    };
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}:4:1: not valid YAML", path.display())),
        "{text}"
    );
    let missing = Telemetry::builder()
        .environment(Environment::from_pairs([(
            "OTEL_CONFIG_FILE",
            "/nonexistent/otel.yaml",
        )]))
        .install_global(false)
        .install()
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("/nonexistent/otel.yaml: cannot read"),
        "{missing}"
    );
}

#[test]
fn bad_values_in_a_file_name_the_path_in_the_report() {
    let path = write(
        "bad.yaml",
        "file_format: \"1.1\"\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          otlp_http:\n            endpoint: \"htp:/x\"\n",
    );
    let t = Telemetry::builder()
        .environment(Environment::default())
        .config_file(&path)
        .install_global(false)
        .install()
        .unwrap();
    let text = t.report().diagnostics().to_string();
    assert_eq!(
        text,
        "tracer_provider.processors[0].batch.exporter.otlp_http.endpoint=\"htp:/x\": \
         not an http:// or https:// URL; value ignored"
    );
}

/// The example a user copies parses without a single diagnostic, with and
/// without its variables set.
#[test]
fn the_example_file_is_clean() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/otel-config.yaml");
    for env in [
        Environment::default(),
        Environment::from_pairs([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("SAMPLE_RATIO", "0.25"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team=shop"),
        ]),
    ] {
        let file = otel_kit_core::config::file::FileSettings::load(path, &env).unwrap();
        let (config, diagnostics) = file.config();
        assert!(diagnostics.is_empty(), "{diagnostics}");
        assert_eq!(
            config.traces_exporter.as_deref(),
            Some(&[otel_kit_core::config::ExporterKind::Otlp][..])
        );
        assert!(config.sampler_spec.is_some());
    }
}

/// The `mesh` propagator extension forwards the headers it lists (and the
/// builder's) besides `x-request-id`; `enabled: false` turns forwarding off.
#[test]
fn the_mesh_extension_forwards_headers() {
    let fields = |yaml: &str| {
        let path = write("mesh.yaml", yaml);
        let t = Telemetry::builder()
            .environment(Environment::default())
            .config_file(&path)
            .forward_headers(["x-from-code"])
            .install_global(false)
            .strict(true)
            .install()
            .unwrap();
        let fields: Vec<String> = t.propagator().fields().map(str::to_owned).collect();
        fields
    };
    let on = fields(
        "file_format: \"1.1\"\npropagator:\n  composite:\n    - tracecontext:\n    - mesh:\n        headers: [x-tenant]\n",
    );
    for name in ["traceparent", "x-request-id", "x-tenant", "x-from-code"] {
        assert!(on.iter().any(|f| f == name), "{name} in {on:?}");
    }
    let off = fields(
        "file_format: \"1.1\"\npropagator:\n  composite:\n    - tracecontext:\n    - mesh:\n        enabled: false\n",
    );
    assert!(!off.iter().any(|f| f == "x-request-id"), "{off:?}");
    assert!(off.iter().any(|f| f == "traceparent"), "{off:?}");
}

/// A `pull` reader with the Prometheus exporter serves the file's view of
/// the metrics on the file's host and port.
#[cfg(feature = "prometheus")]
#[test]
fn a_pull_reader_serves_prometheus() {
    use std::io::{Read, Write};
    let path = write(
        "prometheus.yaml",
        r#"
file_format: "1.1"
meter_provider:
  readers:
    - pull:
        exporter:
          prometheus/development:
            host: 127.0.0.1
            port: 0
  views:
    - selector: {instrument_name: "pulled.*"}
      stream:
        attribute_keys:
          included: [kind]
"#,
    );
    let t = Telemetry::builder()
        .environment(Environment::default())
        .config_file(&path)
        .install_global(false)
        .strict(true)
        .install()
        .unwrap();
    assert_eq!(t.report().metric_exporters(), ["prometheus"]);
    t.meter("prom").u64_counter("pulled.things").build().add(
        7,
        &[
            otel_kit_core::opentelemetry::KeyValue::new("kind", "test"),
            otel_kit_core::opentelemetry::KeyValue::new("dropped", "yes"),
        ],
    );
    let addr = t.prometheus_addr().expect("endpoint");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("pulled_things_total{kind=\"test\""), "{body}");
    assert!(!body.contains("dropped=\"yes\""), "{body}");
}

/// A reader's `cardinality_limits` bound every stream of their instrument
/// kind, views included, unless the view sets its own limit.
#[test]
fn reader_cardinality_limits_bound_the_streams() {
    use otel_kit_core::opentelemetry::KeyValue;
    use otel_kit_core::opentelemetry_sdk::metrics::InMemoryMetricExporter;
    use otel_kit_core::opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    let path = write(
        "cardinality.yaml",
        r#"
file_format: "1.1"
meter_provider:
  readers:
    - periodic:
        exporter: {console: }
        cardinality_limits:
          default: 4
          counter: 3
  views:
    - selector: {instrument_name: "viewed.*"}
      stream: {description: selected}
    - selector: {instrument_name: own}
      stream: {aggregation_cardinality_limit: 5}
"#,
    );
    let exporter = InMemoryMetricExporter::default();
    let t = Telemetry::builder()
        .environment(Environment::default())
        .config_file(&path)
        .with_metric_exporter(exporter.clone())
        .install_global(false)
        .strict(true)
        .install()
        .unwrap();
    let meter = t.meter("limits");
    let counters = ["limited", "viewed.count", "own"].map(|n| meter.u64_counter(n).build());
    let gauge = meter.i64_up_down_counter("updown").build();
    for i in 0..10 {
        let attrs = [KeyValue::new("i", i)];
        for c in &counters {
            c.add(1, &attrs);
        }
        gauge.add(1, &attrs);
    }
    t.meter_provider().force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();
    let points = |name: &str| {
        let m = metrics
            .iter()
            .flat_map(|rm| rm.scope_metrics())
            .flat_map(|sm| sm.metrics())
            .find(|m| m.name() == name)
            .unwrap_or_else(|| panic!("{name} not exported"));
        match m.data() {
            AggregatedMetrics::U64(MetricData::Sum(s)) => s.data_points().count(),
            AggregatedMetrics::I64(MetricData::Sum(s)) => s.data_points().count(),
            other => panic!("{name}: {other:?}"),
        }
    };
    // opentelemetry_sdk 0.33 keeps `limit` attribute sets plus one overflow
    // point (`otel.metric.overflow`); without a limit all 10 would be kept.
    assert_eq!(points("limited"), 3 + 1);
    assert_eq!(points("viewed.count"), 3 + 1);
    assert_eq!(points("own"), 5 + 1);
    assert_eq!(points("updown"), 4 + 1);
}
