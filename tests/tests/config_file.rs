//! The declarative configuration file end to end: `OTEL_CONFIG_FILE` ->
//! providers -> spans, metrics and logs at a real OTLP collector (rotel)
//! over the network, one transport per signal, with the endpoints given by
//! `${VAR}` substitution, a metric view, and the environment's own OTLP
//! variables ignored.

use otel_kit_core::Telemetry;
use otel_kit_core::config::Environment;
use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use otel_kit_core::opentelemetry::trace::{SpanKind, Tracer};
use otel_tests::collector::Collector;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

const FILE: &str = r#"
file_format: "1.1"
resource:
  attributes:
    - name: service.name
      value: ${SERVICE}
    - name: replicas
      value: 3
      type: int
  attributes_list: deployment.environment.name=e2e
propagator:
  composite:
    - tracecontext:
    - baggage:
tracer_provider:
  processors:
    - simple:
        exporter:
          otlp_http:
            endpoint: ${HTTP}/v1/traces
            compression: gzip
            headers:
              - name: x-tenant
                value: acme
  sampler:
    parent_based:
      root:
        always_on:
meter_provider:
  readers:
    - periodic:
        interval: 600000
        exporter:
          otlp_grpc:
            endpoint: ${GRPC}
            temporality_preference: delta
  views:
    - selector:
        instrument_name: orders
      stream:
        name: shop.orders
        attribute_keys:
          included: [state]
logger_provider:
  processors:
    - batch:
        schedule_delay: 600000
        exporter:
          otlp_http:
            endpoint: ${HTTP}/v1/logs
            encoding: json
"#;

#[test]
fn every_signal_arrives_as_the_file_says() {
    let collector = Collector::start();
    let path = collector.dir().join("otel-config.yaml");
    std::fs::write(&path, FILE).unwrap();
    let mut telemetry = Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_CONFIG_FILE", path.to_str().unwrap()),
            ("SERVICE", "config-file-e2e"),
            ("HTTP", collector.http_endpoint().as_str()),
            ("GRPC", collector.grpc_endpoint().as_str()),
            // Ignored: the file replaces every OTEL_* variable.
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
            ("OTEL_SERVICE_NAME", "not-this-one"),
        ]))
        .install_global(false)
        .strict(true)
        .install()
        .expect("setup from the file");
    let report = telemetry.report();
    assert_eq!(report.trace_exporters(), ["otlp"]);
    assert_eq!(report.metric_exporters(), ["otlp"]);
    assert_eq!(report.log_exporters(), ["otlp"]);
    assert_eq!(
        report.ignored_variables(),
        ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"]
    );

    let tracer = telemetry.tracer("config-file");
    tracer
        .span_builder("GET /orders")
        .with_kind(SpanKind::Server)
        .start(&tracer);
    // A simple processor exports as each span ends: no flush needed.
    let spans = collector.wait_for_spans(1, WAIT);
    assert_eq!(spans[0].name, "GET /orders");

    let counter = telemetry.meter("config-file").u64_counter("orders").build();
    counter.add(
        2,
        &[
            KeyValue::new("state", "paid"),
            KeyValue::new("customer", "alice"),
        ],
    );
    let logger = telemetry.logger_provider().logger("config-file");
    let mut record = logger.create_log_record();
    record.set_body(AnyValue::from("order paid"));
    record.set_severity_number(Severity::Info);
    logger.emit(record);
    telemetry.shutdown_blocking().expect("clean shutdown");

    let span = &collector.wait_for_spans(1, WAIT)[0];
    assert_eq!(span.resource_str("service.name"), Some("config-file-e2e"));
    assert_eq!(
        span.resource_str("deployment.environment.name"),
        Some("e2e")
    );
    assert_eq!(
        span.resource.get("replicas").and_then(|v| v.as_i64()),
        Some(3),
        "{:?}",
        span.resource
    );
    let metrics = collector.wait_for_metrics(1, WAIT);
    // The view renamed the stream and kept only the listed attribute.
    let orders = metrics
        .iter()
        .find(|m| m.name == "shop.orders")
        .unwrap_or_else(|| panic!("no shop.orders in {metrics:#?}"));
    assert_eq!(orders.value(), Some(2.0));
    assert_eq!(orders.attr_str("state"), Some("paid"));
    assert_eq!(orders.attr_str("customer"), None);
    assert!(!metrics.iter().any(|m| m.name == "orders"), "{metrics:#?}");
    assert_eq!(orders.resource_str("service.name"), Some("config-file-e2e"));
    let logs = collector.wait_for_logs(1, WAIT);
    assert_eq!(logs[0].body_str(), Some("order paid"));
    assert_eq!(
        logs[0].resource_str("service.name"),
        Some("config-file-e2e")
    );
}
