//! Table-driven tests of every variable `Config::from_env` reads.

use super::*;

fn read(pairs: &[(&str, &str)]) -> (Config, Diagnostics) {
    Config::from_env(&Environment::from_pairs(pairs.iter().copied()))
}

#[test]
fn defaults_follow_the_specification() {
    let (c, d) = read(&[]);
    assert!(d.is_empty(), "{d}");
    assert!(!c.sdk_disabled);
    assert_eq!(
        c.propagators,
        vec![PropagatorKind::TraceContext, PropagatorKind::Baggage]
    );
    assert_eq!(c.traces_exporter, None);
    assert_eq!(c.span_batch.schedule_delay, Duration::from_millis(5000));
    assert_eq!(c.span_batch.export_timeout, Duration::from_millis(30_000));
    assert_eq!(c.span_batch.max_queue_size, 2048);
    assert_eq!(c.span_batch.max_export_batch_size, 512);
    assert_eq!(c.span_batch.max_concurrent_exports, 4);
    assert_eq!(c.log_batch.max_concurrent_exports, 1);
    assert_eq!(c.log_batch.schedule_delay, Duration::from_millis(1000));
    assert_eq!(c.metrics.export_interval, Duration::from_millis(60_000));
    assert_eq!(c.metrics.export_timeout, Duration::from_millis(30_000));
    assert_eq!(c.metrics.temporality, TemporalityPreference::Cumulative);
    assert_eq!(c.limits.span_attribute_count, 128);
    assert_eq!(c.limits.span_attribute_value_length, None);
    assert_eq!(
        c.prometheus,
        PrometheusSettings {
            host: "localhost".into(),
            port: 9464
        }
    );
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.otlp_traces.protocol, Protocol::unset_default());
    assert!(!c.otlp_traces.endpoint_configured);
}

/// (variable, value, field check, warns)
type Case = (&'static str, &'static str, fn(&Config) -> bool, bool);

#[test]
fn every_variable_valid_and_invalid() {
    let cases: &[Case] = &[
        ("OTEL_SDK_DISABLED", "true", |c| c.sdk_disabled, false),
        ("OTEL_SDK_DISABLED", "TRUE", |c| c.sdk_disabled, false),
        ("OTEL_SDK_DISABLED", "1", |c| !c.sdk_disabled, true),
        ("OTEL_SDK_DISABLED", "", |c| !c.sdk_disabled, false),
        (
            "OTEL_SERVICE_NAME",
            "checkout",
            |c| c.service_name.as_deref() == Some("checkout"),
            false,
        ),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "a=b",
            |c| c.resource_attributes.as_deref() == Some("a=b"),
            false,
        ),
        (
            "OTEL_PROPAGATORS",
            "b3multi,tracecontext",
            |c| c.propagators == [PropagatorKind::B3Multi, PropagatorKind::TraceContext],
            false,
        ),
        (
            "OTEL_PROPAGATORS",
            "B3, b3 ,jaeger",
            |c| c.propagators == [PropagatorKind::B3, PropagatorKind::Jaeger],
            false,
        ),
        (
            "OTEL_PROPAGATORS",
            "none",
            |c| c.propagators.is_empty(),
            false,
        ),
        (
            "OTEL_PROPAGATORS",
            "tracecontext,xray",
            |c| c.propagators == [PropagatorKind::TraceContext],
            true,
        ),
        (
            "OTEL_PROPAGATORS",
            "bogus",
            |c| c.propagators == [PropagatorKind::TraceContext, PropagatorKind::Baggage],
            true,
        ),
        (
            "OTEL_TRACES_SAMPLER",
            "traceidratio",
            |c| c.sampler.as_deref() == Some("traceidratio"),
            false,
        ),
        (
            "OTEL_TRACES_SAMPLER_ARG",
            "0.25",
            |c| c.sampler_arg.as_deref() == Some("0.25"),
            false,
        ),
        (
            "OTEL_TRACES_EXPORTER",
            "console",
            |c| c.traces_exporter.as_deref() == Some(&[ExporterKind::Console]),
            false,
        ),
        (
            "OTEL_TRACES_EXPORTER",
            "otlp,console",
            |c| c.traces_exporter.as_deref() == Some(&[ExporterKind::Otlp, ExporterKind::Console]),
            false,
        ),
        (
            "OTEL_TRACES_EXPORTER",
            "none",
            |c| c.traces_exporter.as_deref() == Some(&[]),
            false,
        ),
        (
            "OTEL_TRACES_EXPORTER",
            "zipkin",
            |c| c.traces_exporter.is_none(),
            true,
        ),
        (
            "OTEL_TRACES_EXPORTER",
            "prometheus",
            |c| c.traces_exporter.is_none(),
            true,
        ),
        (
            "OTEL_METRICS_EXPORTER",
            "prometheus",
            |c| c.metrics_exporter.as_deref() == Some(&[ExporterKind::Prometheus]),
            false,
        ),
        (
            "OTEL_METRICS_EXPORTER",
            "logging",
            |c| c.metrics_exporter.is_none(),
            true,
        ),
        (
            "OTEL_LOGS_EXPORTER",
            "otlp",
            |c| c.logs_exporter.as_deref() == Some(&[ExporterKind::Otlp]),
            false,
        ),
        (
            "OTEL_LOGS_EXPORTER",
            "CONSOLE",
            |c| c.logs_exporter.as_deref() == Some(&[ExporterKind::Console]),
            false,
        ),
        (
            "OTEL_BSP_SCHEDULE_DELAY",
            "100",
            |c| c.span_batch.schedule_delay == Duration::from_millis(100),
            false,
        ),
        (
            "OTEL_BSP_SCHEDULE_DELAY",
            "-1",
            |c| c.span_batch.schedule_delay == Duration::from_millis(5000),
            true,
        ),
        (
            "OTEL_BSP_EXPORT_TIMEOUT",
            "0",
            |c| c.span_batch.export_timeout == parse::NO_LIMIT,
            false,
        ),
        (
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "100",
            |c| c.span_batch.max_queue_size == 100 && c.span_batch.max_export_batch_size == 100,
            true,
        ),
        (
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "0",
            |c| c.span_batch.max_queue_size == 2048,
            true,
        ),
        (
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            "64",
            |c| c.span_batch.max_export_batch_size == 64,
            false,
        ),
        (
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            "x",
            |c| c.span_batch.max_export_batch_size == 512,
            true,
        ),
        (
            "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
            "2",
            |c| c.span_batch.max_concurrent_exports == 2,
            false,
        ),
        (
            "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
            "0",
            |c| c.span_batch.max_concurrent_exports == 4,
            true,
        ),
        (
            "OTEL_BLRP_SCHEDULE_DELAY",
            "10",
            |c| c.log_batch.schedule_delay == Duration::from_millis(10),
            false,
        ),
        (
            "OTEL_BLRP_EXPORT_TIMEOUT",
            "5000",
            |c| c.log_batch.export_timeout == Duration::from_millis(5000),
            false,
        ),
        (
            "OTEL_BLRP_MAX_QUEUE_SIZE",
            "4096",
            |c| c.log_batch.max_queue_size == 4096,
            false,
        ),
        (
            "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
            "99999999999",
            |c| c.log_batch.max_export_batch_size == 512,
            true,
        ),
        (
            "OTEL_METRIC_EXPORT_INTERVAL",
            "1000",
            |c| c.metrics.export_interval == Duration::from_millis(1000),
            false,
        ),
        (
            "OTEL_METRIC_EXPORT_INTERVAL",
            "1s",
            |c| c.metrics.export_interval == Duration::from_millis(60_000),
            true,
        ),
        (
            "OTEL_METRIC_EXPORT_TIMEOUT",
            "500",
            |c| c.metrics.export_timeout == Duration::from_millis(500),
            false,
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "Delta",
            |c| c.metrics.temporality == TemporalityPreference::Delta,
            false,
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "lowmemory",
            |c| c.metrics.temporality == TemporalityPreference::LowMemory,
            false,
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "sometimes",
            |c| c.metrics.temporality == TemporalityPreference::Cumulative,
            true,
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
            "base2_exponential_bucket_histogram",
            |c| c.metrics.exponential_histograms,
            false,
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
            "linear",
            |c| !c.metrics.exponential_histograms,
            true,
        ),
        (
            "OTEL_METRICS_EXEMPLAR_FILTER",
            "trace_based",
            |_| true,
            false,
        ),
        ("OTEL_METRICS_EXEMPLAR_FILTER", "always_on", |_| true, true),
        (
            "OTEL_ATTRIBUTE_COUNT_LIMIT",
            "10",
            |c| c.limits.span_attribute_count == 10,
            false,
        ),
        (
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
            "12",
            |c| c.limits.span_attribute_count == 12,
            false,
        ),
        (
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "64",
            |c| c.limits.span_attribute_value_length == Some(64),
            false,
        ),
        (
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "-3",
            |c| c.limits.span_attribute_value_length.is_none(),
            true,
        ),
        (
            "OTEL_SPAN_EVENT_COUNT_LIMIT",
            "5",
            |c| c.limits.span_event_count == 5,
            false,
        ),
        (
            "OTEL_SPAN_LINK_COUNT_LIMIT",
            "6",
            |c| c.limits.span_link_count == 6,
            false,
        ),
        (
            "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
            "7",
            |c| c.limits.event_attribute_count == 7,
            false,
        ),
        (
            "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
            "nope",
            |c| c.limits.link_attribute_count == 128,
            true,
        ),
        ("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "5", |_| true, true),
        (
            "OTEL_EXPORTER_PROMETHEUS_HOST",
            "0.0.0.0",
            |c| c.prometheus.host == "0.0.0.0",
            false,
        ),
        (
            "OTEL_EXPORTER_PROMETHEUS_PORT",
            "9100",
            |c| c.prometheus.port == 9100,
            false,
        ),
        (
            "OTEL_EXPORTER_PROMETHEUS_PORT",
            "70000",
            |c| c.prometheus.port == 9464,
            true,
        ),
        (
            "OTEL_LOG_LEVEL",
            "debug",
            |c| c.log_level == LogLevel::Debug,
            false,
        ),
        (
            "OTEL_LOG_LEVEL",
            "loud",
            |c| c.log_level == LogLevel::Info,
            true,
        ),
        (
            "OTEL_SEMCONV_STABILITY_OPT_IN",
            "http/dup",
            |c| c.semconv.http == StabilityMode::Duplicate,
            false,
        ),
    ];
    for (var, value, check, warns) in cases {
        let (c, d) = read(&[(var, value)]);
        assert!(check(&c), "{var}={value:?}: unexpected config {c:#?}");
        assert_eq!(!d.is_empty(), *warns, "{var}={value:?}: diagnostics: {d}");
        if *warns {
            assert!(d.iter().any(|x| x.variable.starts_with("OTEL_")), "{d}");
            assert!(
                d.to_string().contains(var),
                "diagnostic should name {var}: {d}"
            );
        }
    }
}

#[test]
fn zero_delays_are_rejected() {
    for var in [
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BLRP_SCHEDULE_DELAY",
        "OTEL_METRIC_EXPORT_INTERVAL",
    ] {
        let (c, d) = read(&[(var, "0")]);
        assert!(d.mentions(var), "{var}: {d}");
        assert!(c.span_batch.schedule_delay > Duration::ZERO);
        assert!(c.log_batch.schedule_delay > Duration::ZERO);
        assert!(c.metrics.export_interval > Duration::ZERO);
    }
}

#[test]
fn a_list_mixing_known_and_unknown_values_keeps_the_known_ones() {
    let (c, d) = read(&[("OTEL_TRACES_EXPORTER", "zipkin,console")]);
    assert_eq!(
        c.traces_exporter.as_deref(),
        Some(&[ExporterKind::Console][..])
    );
    assert!(d.mentions("OTEL_TRACES_EXPORTER"));
}

#[test]
fn endpoints_with_userinfo_are_never_printed_with_it() {
    let (c, _) = read(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "https://user:p4ss@collector:4318",
    )]);
    assert_eq!(
        c.otlp_traces.endpoint,
        "https://user:p4ss@collector:4318/v1/traces"
    );
    let shown = format!("{c}\n{c:?}");
    assert!(!shown.contains("p4ss"), "{shown}");
    assert!(
        shown.contains("https://REDACTED@collector:4318/v1/traces"),
        "{shown}"
    );
    let env = Environment::from_pairs([("SECRET_TOKEN", "t0k3n")]);
    assert!(!format!("{env:?}").contains("t0k3n"));
}

#[test]
fn specific_limit_beats_general() {
    let (c, d) = read(&[
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "20"),
    ]);
    assert!(d.is_empty());
    assert_eq!(c.limits.span_attribute_count, 20);
}

#[test]
fn display_redacts_secrets() {
    let (c, _) = read(&[
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20abc123",
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
    ]);
    let text = c.to_string();
    assert!(text.contains("authorization=<redacted>"), "{text}");
    assert!(!text.contains("abc123"), "{text}");
    assert!(text.contains("http://collector:4318/v1/traces"), "{text}");
    assert!(!format!("{c:?}").contains("abc123"));
}
