//! The setup builder: environment vs builder precedence, diagnostics and
//! strict mode, exporter selection, limits, and the Prometheus endpoint.

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, TraceContextExt, Tracer};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor};
use otel_kit_core::config::{Environment, ExporterKind};
use otel_kit_core::{SetupError, Telemetry, TelemetryBuilder, ValueSource};

fn quiet(pairs: &[(&str, &str)]) -> TelemetryBuilder {
    let mut env = Environment::from_pairs(pairs.iter().copied());
    for (k, v) in [
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ] {
        if !pairs.iter().any(|(name, _)| *name == k) {
            env.set(k, v);
        }
    }
    Telemetry::builder().environment(env).install_global(false)
}

fn resource_value(t: &Telemetry, key: &str) -> Option<String> {
    t.report()
        .resource()
        .get(&opentelemetry::Key::from(key.to_string()))
        .map(|v| v.to_string())
}

/// The deployment wins: every builder value is a default that the matching
/// variable overrides (issue: `OTEL_SERVICE_NAME=payments` was ignored by a
/// binary that named itself in code).
#[test]
fn the_environment_wins_over_builder_defaults() {
    let t = quiet(&[
        ("OTEL_SERVICE_NAME", "from-env"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.version=9.9.9,team=payments",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://env:4318/v1/traces",
        ),
    ])
    .service_name("from-code")
    .service_version("1.2.3")
    .resource_attributes([KeyValue::new("team", "code"), KeyValue::new("tier", "gold")])
    .otlp_endpoint("http://code:4318")
    .install()
    .unwrap();
    assert_eq!(
        resource_value(&t, "service.name").as_deref(),
        Some("from-env")
    );
    assert_eq!(
        resource_value(&t, "service.version").as_deref(),
        Some("9.9.9")
    );
    assert_eq!(resource_value(&t, "team").as_deref(), Some("payments"));
    // A default the environment does not touch stays.
    assert_eq!(resource_value(&t, "tier").as_deref(), Some("gold"));
    // A per-signal endpoint in the environment keeps the whole endpoint group.
    assert_eq!(
        t.report().config().otlp_traces.endpoint,
        "http://env:4318/v1/traces"
    );
    let sources = t.report().sources();
    assert_eq!(sources["service.name"], ValueSource::Environment);
    assert_eq!(sources["service.version"], ValueSource::Environment);
    assert_eq!(
        sources["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"],
        ValueSource::Environment
    );
    assert!(!sources.contains_key("OTEL_EXPORTER_OTLP_ENDPOINT"));
    assert!(
        t.report().diagnostics().is_empty(),
        "{}",
        t.report().diagnostics()
    );
    assert!(t.report().to_string().contains("service.name=environment"));
}

/// Without the deployment's variables, the builder's defaults apply.
#[test]
fn builder_defaults_apply_when_the_environment_is_silent() {
    let t = quiet(&[])
        .service_name("from-code")
        .service_version("1.2.3")
        .otlp_endpoint("http://code:4318")
        .install()
        .unwrap();
    assert_eq!(
        resource_value(&t, "service.name").as_deref(),
        Some("from-code")
    );
    assert_eq!(
        resource_value(&t, "service.version").as_deref(),
        Some("1.2.3")
    );
    assert_eq!(
        t.report().config().otlp_traces.endpoint,
        "http://code:4318/v1/traces"
    );
    let sources = t.report().sources();
    assert_eq!(sources["service.name"], ValueSource::Code);
    assert_eq!(sources["OTEL_EXPORTER_OTLP_ENDPOINT"], ValueSource::Code);
    // `quiet` put the exporters in the environment.
    assert_eq!(sources["OTEL_TRACES_EXPORTER"], ValueSource::Environment);
}

/// `service.name` in `OTEL_RESOURCE_ATTRIBUTES` is the deployment's too.
#[test]
fn resource_attributes_service_name_beats_the_code_default() {
    let t = quiet(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=attrs")])
        .service_name("from-code")
        .install()
        .unwrap();
    assert_eq!(resource_value(&t, "service.name").as_deref(), Some("attrs"));
    assert_eq!(
        t.report().sources()["service.name"],
        ValueSource::Environment
    );
}

/// The explicitly named setters win over the environment.
#[test]
fn forcing_setters_win_over_the_environment() {
    let t = quiet(&[
        ("OTEL_SERVICE_NAME", "from-env"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=payments"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_TRACES_SAMPLER", "always_off"),
    ])
    .force_service_name("forced")
    .force_resource_attributes([KeyValue::new("team", "forced")])
    .force_var("OTEL_BSP_MAX_QUEUE_SIZE", "4096")
    .force_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
    .install()
    .unwrap();
    assert_eq!(
        resource_value(&t, "service.name").as_deref(),
        Some("forced")
    );
    assert_eq!(resource_value(&t, "team").as_deref(), Some("forced"));
    let sources = t.report().sources();
    assert_eq!(sources["service.name"], ValueSource::Forced);
    assert_eq!(sources["OTEL_BSP_MAX_QUEUE_SIZE"], ValueSource::Forced);
    assert_eq!(sources["OTEL_TRACES_SAMPLER"], ValueSource::Forced);
    assert_eq!(t.report().config().span_batch.max_queue_size, 4096);
    let span = t.tracer("t").start("sampled");
    assert!(span.span_context().is_sampled());
}

/// One row per setter of the precedence table: the variable, set in the
/// environment, wins over the setter's value; without it the setter's value
/// is in effect.
#[test]
fn every_setter_is_a_default_its_variable_overrides() {
    type Row = (
        &'static str,
        &'static str,
        fn(TelemetryBuilder) -> TelemetryBuilder,
    );
    let rows: &[Row] = &[
        ("OTEL_PROPAGATORS", "b3", |b| {
            b.propagators(&[otel_kit_core::config::PropagatorKind::Jaeger])
        }),
        ("OTEL_TRACES_EXPORTER", "console", |b| {
            b.traces_exporter(&[])
        }),
        ("OTEL_METRICS_EXPORTER", "console", |b| {
            b.metrics_exporter(&[])
        }),
        ("OTEL_LOGS_EXPORTER", "console", |b| b.logs_exporter(&[])),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318", |b| {
            b.otlp_endpoint("http://code:4318")
        }),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", |b| {
            b.otlp_protocol(otel_kit_core::config::Protocol::HttpJson)
        }),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-env=1", |b| {
            b.otlp_headers([("x-code", "1")])
        }),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1234", |b| {
            b.otlp_timeout(std::time::Duration::from_millis(999))
        }),
        ("OTEL_BSP_SCHEDULE_DELAY", "1234", |b| {
            b.span_export_delay(std::time::Duration::from_millis(999))
        }),
        ("OTEL_SDK_DISABLED", "false", |b| b.disabled(true)),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "1234", |b| {
            b.var("OTEL_BSP_MAX_QUEUE_SIZE", "999")
        }),
    ];
    for (var, env_value, setter) in rows {
        // With the variable: the environment's value is in effect.
        let with_env = setter(
            Telemetry::builder()
                .environment(Environment::from_pairs([(*var, *env_value)]))
                .install_global(false),
        );
        let t = with_env.install().unwrap_or_else(|e| panic!("{var}: {e}"));
        assert_eq!(
            t.report().sources().get(*var),
            Some(&ValueSource::Environment),
            "{var}: {}",
            t.report()
        );
        drop(t);
        // Without it: the setter's value.
        let t = setter(
            Telemetry::builder()
                .environment(Environment::from_pairs([("OTEL_LOGS_EXPORTER", "none")]))
                .install_global(false),
        )
        .install()
        .unwrap_or_else(|e| panic!("{var}: {e}"));
        if *var != "OTEL_LOGS_EXPORTER" {
            assert_eq!(
                t.report().sources().get(*var),
                Some(&ValueSource::Code),
                "{var}: {}",
                t.report()
            );
        }
    }
}

/// A sampler given in code is a default too.
#[test]
fn the_environment_sampler_wins_over_the_code_default() {
    let t = quiet(&[("OTEL_TRACES_SAMPLER", "always_off")])
        .sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .install()
        .unwrap();
    assert!(!t.tracer("t").start("x").span_context().is_sampled());
    assert_eq!(
        t.report().sources()["OTEL_TRACES_SAMPLER"],
        ValueSource::Environment
    );
    let t = quiet(&[])
        .sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff)
        .install()
        .unwrap();
    assert!(!t.tracer("t").start("x").span_context().is_sampled());
    assert_eq!(
        t.report().sources()["OTEL_TRACES_SAMPLER"],
        ValueSource::Code
    );
}

#[test]
fn environment_service_name_beats_resource_attributes() {
    let t = quiet(&[
        ("OTEL_SERVICE_NAME", "svc"),
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=other"),
    ])
    .install()
    .unwrap();
    assert_eq!(resource_value(&t, "service.name").as_deref(), Some("svc"));
}

#[test]
fn invalid_values_are_reported_and_defaulted() {
    let t = quiet(&[
        ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OTEL_RESOURCE_ATTRIBUTES", "a=%zz"),
        ("OTEL_PROPAGATORS", "tracecontext,carrier-pigeon"),
    ])
    .install()
    .unwrap();
    let d = t.report().diagnostics();
    for var in [
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_PROPAGATORS",
    ] {
        assert!(d.mentions(var), "{var} not reported in:\n{d}");
    }
    let text = d.to_string();
    assert!(
        text.contains("soon") && text.contains("1.5") && text.contains("carrier-pigeon"),
        "{text}"
    );
    assert_eq!(
        t.report().config().span_batch.schedule_delay.as_millis(),
        5000
    );
}

#[test]
fn strict_mode_turns_diagnostics_into_an_error() {
    let err = quiet(&[
        ("OTEL_METRIC_EXPORT_INTERVAL", "-1"),
        ("OTEL_SDK_DISABLED", "yes"),
    ])
    .strict(true)
    .install()
    .unwrap_err();
    match &err {
        SetupError::InvalidConfiguration(d) => {
            assert!(
                d.mentions("OTEL_METRIC_EXPORT_INTERVAL") && d.mentions("OTEL_SDK_DISABLED"),
                "{d}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("OTEL_METRIC_EXPORT_INTERVAL=\"-1\""),
        "{err}"
    );
}

#[test]
fn console_is_the_fallback_only_when_nothing_is_configured() {
    let t = Telemetry::builder()
        .environment(Environment::default())
        .install_global(false)
        .console_when_unconfigured(true)
        .install()
        .unwrap();
    assert_eq!(t.report().trace_exporters(), ["console"]);
    assert_eq!(t.report().metric_exporters(), ["console"]);
    let t = Telemetry::builder()
        .environment(Environment::from_pairs([(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:9",
        )]))
        .install_global(false)
        .console_when_unconfigured(true)
        .shutdown_timeout(std::time::Duration::from_millis(200))
        .install()
        .unwrap();
    assert_eq!(t.report().trace_exporters(), ["otlp"]);
    let t = Telemetry::builder()
        .environment(Environment::default())
        .install_global(false)
        .traces_exporter(&[])
        .metrics_exporter(&[ExporterKind::Console])
        .logs_exporter(&[])
        .install()
        .unwrap();
    assert!(t.report().trace_exporters().is_empty());
    assert_eq!(t.report().metric_exporters(), ["console"]);
}

#[test]
fn exporters_given_in_code_are_listed_in_the_report_by_type() {
    let t = Telemetry::builder()
        .environment(Environment::default())
        .install_global(false)
        .traces_exporter(&[ExporterKind::Console])
        .metrics_exporter(&[])
        .logs_exporter(&[])
        .with_span_exporter(InMemorySpanExporter::default())
        .with_metric_exporter(opentelemetry_sdk::metrics::InMemoryMetricExporter::default())
        .install()
        .unwrap();
    let report = t.report();
    assert_eq!(
        report.trace_exporters(),
        [
            "console",
            "opentelemetry_sdk::trace::in_memory_exporter::InMemorySpanExporter"
        ]
    );
    assert_eq!(
        report.metric_exporters(),
        ["opentelemetry_sdk::metrics::in_memory_exporter::InMemoryMetricExporter"]
    );
    assert!(
        report.to_string().contains("InMemorySpanExporter"),
        "{report}"
    );
}

#[test]
fn sdk_disabled_installs_no_exporter() {
    let t = Telemetry::builder()
        .environment(Environment::from_pairs([("OTEL_SDK_DISABLED", "true")]))
        .install_global(false)
        .install()
        .unwrap();
    assert!(t.report().trace_exporters().is_empty());
    assert!(t.report().metric_exporters().is_empty());
    assert!(t.report().log_exporters().is_empty());
}

fn captured(pairs: &[(&str, &str)]) -> (Telemetry, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let t = quiet(pairs)
        .with_span_processor(SimpleSpanProcessor::new(exporter.clone()))
        .install()
        .unwrap();
    (t, exporter)
}

#[test]
fn sampler_from_the_environment_applies() {
    let (t, exporter) = captured(&[("OTEL_TRACES_SAMPLER", "always_off")]);
    t.tracer("s").start("dropped").end();
    assert!(exporter.get_finished_spans().unwrap().is_empty());
    let (t, exporter) = captured(&[]);
    t.tracer("s").start("kept").end();
    assert_eq!(exporter.get_finished_spans().unwrap().len(), 1);
}

#[test]
fn span_limits_apply() {
    let (t, exporter) = captured(&[
        ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "5"),
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2"),
    ]);
    let mut span = t.tracer("s").start("limited");
    span.set_attribute(KeyValue::new("a", "abcdefgh"));
    span.set_attribute(KeyValue::new("b", 1));
    span.set_attribute(KeyValue::new("c", 2));
    span.end();
    let spans = exporter.get_finished_spans().unwrap();
    let s = &spans[0];
    assert_eq!(s.attributes.len(), 2);
    assert_eq!(s.dropped_attributes_count, 1);
    assert_eq!(s.attributes[0].value.as_str(), "abcde");
}

#[test]
fn report_prints_the_effective_configuration_without_secrets() {
    let t = quiet(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=hunter2"),
        ("OTEL_SERVICE_NAME", "reporter"),
    ])
    .install()
    .unwrap();
    let text = t.report().to_string();
    assert!(text.contains("service.name=reporter"), "{text}");
    assert!(text.contains("x-api-key=<redacted>"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!format!("{t:?}").contains("hunter2"));
}

#[cfg(feature = "prometheus")]
#[test]
fn prometheus_endpoint_serves_metrics() {
    use std::io::{Read, Write};
    let t = quiet(&[
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "0"),
    ])
    .install()
    .unwrap();
    let meter = opentelemetry::metrics::MeterProvider::meter(t.meter_provider(), "prom");
    meter
        .u64_counter("scraped.things")
        .build()
        .add(7, &[KeyValue::new("kind", "test")]);
    let addr = t.prometheus_addr().expect("endpoint");
    let get = |path: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    };
    let body = get("/metrics");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(
        body.contains("scraped_things_total{kind=\"test\""),
        "{body}"
    );
    assert!(body.contains(" 7"), "{body}");
    assert!(get("/other").starts_with("HTTP/1.1 404"));
}

#[test]
fn force_trace_header_is_opt_in() {
    use std::collections::HashMap;
    let headers: HashMap<String, String> = [
        (
            "traceparent".to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".to_string(),
        ),
        ("x-envoy-force-trace".to_string(), "1".to_string()),
        ("x-request-id".to_string(), "req-1".to_string()),
    ]
    .into();
    let default = quiet(&[]).install().unwrap();
    let cx = default.propagator().extract(&headers);
    assert!(
        !otel_kit_core::sampling::is_force_keep(&cx),
        "any client could force traces"
    );
    let fwd =
        otel_kit_core::propagation::ForwardedHeaders::from_context(&cx).expect("mesh headers");
    assert_eq!(fwd.request_id(), Some("req-1"));

    let opted = quiet(&[])
        .force_trace_header("x-envoy-force-trace")
        .install()
        .unwrap();
    let cx = opted.propagator().extract(&headers);
    assert!(otel_kit_core::sampling::is_force_keep(&cx));
    // The forced trace is kept although its parent was not sampled.
    let exporter = InMemorySpanExporter::default();
    let t = quiet(&[])
        .force_trace_header("x-envoy-force-trace")
        .with_span_processor(SimpleSpanProcessor::new(exporter.clone()))
        .install()
        .unwrap();
    let cx = t.propagator().extract(&headers);
    t.tracer("s").start_with_context("forced", &cx).end();
    assert_eq!(exporter.get_finished_spans().unwrap().len(), 1);
}

#[test]
fn exponential_histograms_from_the_environment() {
    use opentelemetry_sdk::metrics::InMemoryMetricExporter;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    let exporter = InMemoryMetricExporter::default();
    let t = quiet(&[(
        "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
        "base2_exponential_bucket_histogram",
    )])
    .with_metric_exporter(exporter.clone())
    .install()
    .unwrap();
    t.meter("m")
        .f64_histogram("latency")
        .with_unit("s")
        .build()
        .record(0.2, &[]);
    t.meter_provider().force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();
    let m = metrics
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .find(|m| m.name() == "latency")
        .expect("latency exported");
    assert!(
        matches!(
            m.data(),
            AggregatedMetrics::F64(MetricData::ExponentialHistogram(_))
        ),
        "{:?}",
        m.data()
    );
}

#[test]
fn zero_otlp_timeout_means_no_limit() {
    let t = quiet(&[])
        .otlp_timeout(std::time::Duration::ZERO)
        .install()
        .unwrap();
    assert!(t.report().config().otlp_traces.timeout > std::time::Duration::from_secs(86_400));
    assert!(t.report().diagnostics().is_empty());
}

/// The `traceparent` the setup's propagator sends for a new root span.
fn root_traceparent(pairs: &[(&str, &str)]) -> String {
    let (t, _exporter) = captured(pairs);
    let cx = opentelemetry::Context::new().with_span(t.tracer("s").start("root"));
    let mut out = std::collections::HashMap::new();
    t.propagator().inject_context(&cx, &mut out);
    out.remove("traceparent").expect("traceparent sent")
}

// W3C Trace Context Level 2: "When at least the right-most 7 bytes of the
// `trace-id` are randomly (or pseudo-randomly) generated, the
// `random-trace-id` flag SHOULD be set to `1`."
#[test]
fn new_traces_carry_the_random_trace_id_flag() {
    assert!(root_traceparent(&[]).ends_with("-03"), "sampled and random");
    let unsampled = root_traceparent(&[("OTEL_TRACES_SAMPLER", "always_off")]);
    assert!(unsampled.ends_with("-02"), "{unsampled}");
}

/// A protocol whose transport otel-kit-core was built without: a diagnostic
/// naming the variable, its value and the cargo feature; an error in strict
/// mode. (Runs in builds with one OTLP transport only, e.g.
/// `cargo test -p otel-kit-core --no-default-features --features otlp-http`.)
#[cfg(all(
    any(feature = "otlp-grpc", feature = "otlp-http"),
    not(all(feature = "otlp-grpc", feature = "otlp-http"))
))]
#[test]
fn a_protocol_whose_feature_is_off_is_reported_by_name() {
    let (protocol, feature) = if cfg!(feature = "otlp-grpc") {
        ("http/json", "otlp-http")
    } else {
        ("grpc", "otlp-grpc")
    };
    let pairs = [
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
    ];
    let t = quiet(&pairs).install().unwrap();
    let d = t.report().diagnostics();
    assert_eq!(d.len(), 1, "{d}");
    let first = d.iter().next().unwrap();
    assert_eq!(first.variable, "OTEL_EXPORTER_OTLP_PROTOCOL");
    assert_eq!(first.value, protocol);
    assert!(first.problem.contains(&format!("`{feature}`")), "{d}");
    assert!(t.report().trace_exporters().is_empty());

    match quiet(&pairs).strict(true).install() {
        Err(SetupError::InvalidConfiguration(d)) => {
            assert!(d.mentions("OTEL_EXPORTER_OTLP_PROTOCOL"), "{d}")
        }
        other => panic!("expected a strict-mode error, got {other:?}"),
    }
}
