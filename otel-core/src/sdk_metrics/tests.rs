//! The `otel.sdk.*` metrics, read back through the setup's own meter
//! provider.

use crate::Telemetry;
use crate::config::Environment;
use crate::testing::{DataPoint, MetricsSnapshot, SnapshotExporter};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
};
use opentelemetry::{Context, KeyValue};

fn install(pairs: &[(&str, &str)]) -> (Telemetry, SnapshotExporter) {
    let mut env = Environment::from_pairs(pairs.iter().copied());
    for (k, v) in [
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ] {
        if env.get(k).is_none() {
            env.set(k, v);
        }
    }
    let exporter = SnapshotExporter::default();
    let telemetry = Telemetry::builder()
        .environment(env)
        .with_metric_exporter(exporter.clone())
        .install_global(false)
        .install()
        .expect("setup");
    (telemetry, exporter)
}

fn collect(telemetry: &Telemetry, exporter: &SnapshotExporter) -> MetricsSnapshot {
    exporter.clear();
    telemetry.meter_provider().force_flush().expect("collect");
    exporter.take()
}

fn kv(k: &'static str, v: &'static str) -> KeyValue {
    KeyValue::new(k, v)
}

/// The collector is down: every span sent is either dropped at the full
/// queue (`processed` with `error.type=queue_full`) or handed to the
/// exporter (`processed` without `error.type`) and then lost in a failed
/// export (`exported` with the failure's `error.type`); the metrics say
/// exactly that, and agree with `Telemetry::export_stats`.
#[test]
fn collector_down_every_span_is_counted_exactly() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let (telemetry, exporter) = install(&[
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "300"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4"),
        ("OTEL_BSP_SCHEDULE_DELAY", "10"),
        ("OTEL_LOG_LEVEL", "none"),
    ]);
    const SENT: u64 = 300;
    let tracer = telemetry.tracer("test");
    for i in 0..SENT {
        tracer.in_span(format!("s{i}"), |_| {});
    }
    // Traces first, so that the final exports are counted when metrics are
    // collected.
    telemetry
        .tracer_provider()
        .shutdown()
        .expect("traces shut down");
    let stats = telemetry.export_stats();
    let m = collect(&telemetry, &exporter);

    let component = [kv("otel.component.type", "batching_span_processor")];
    let processed = m.sum_u64("otel.sdk.processor.span.processed");
    let handed = processed
        .matching(&component)
        .filter(|p| p.attr("error.type").is_none())
        .map(|p| p.value)
        .sum::<u64>();
    let dropped = processed.value_with(&[kv("error.type", "queue_full")]);
    assert!(dropped > 0, "the queue overflowed");
    assert!(handed > 0, "{processed:?}");
    assert_eq!(handed + dropped, SENT, "{processed:?}");
    eprintln!("sent {SENT}: dropped {dropped}, handed to the exporter {handed}");
    assert_eq!(dropped, stats.spans_dropped, "{stats:?}");

    let exported = m.sum_u64("otel.sdk.exporter.span.exported");
    let exporter_type = [kv("otel.component.type", "otlp_http_span_exporter")];
    let ok: u64 = exported
        .matching(&exporter_type)
        .filter(|p| p.attr("error.type").is_none())
        .map(|p| p.value)
        .sum();
    let failed: Vec<_> = exported
        .matching(&exporter_type)
        .filter(|p| p.attr("error.type").is_some())
        .collect();
    assert_eq!(ok, 0, "{exported:?}");
    assert_eq!(
        failed.iter().map(|p| p.value).sum::<u64>(),
        handed,
        "every span handed to the exporter failed: {exported:?}"
    );
    assert_eq!(handed, stats.spans_failed, "{stats:?}");
    for p in &failed {
        let kind = p.attr("error.type").unwrap().as_str();
        assert!(
            ["network_error", "timeout"].contains(&kind.as_ref()),
            "a refused connection is a network error: {p:?}"
        );
    }

    m.sum_i64("otel.sdk.exporter.span.inflight")
        .assert_value(&exporter_type, 0);
    m.sum_i64("otel.sdk.processor.span.queue.size")
        .assert_value(&component, 0);
    m.sum_i64("otel.sdk.processor.span.queue.capacity")
        .assert_value(&component, 16);
    m.sum_i64("otel.sdk.span.live")
        .assert_value(&[kv("otel.span.sampling_result", "RECORD_AND_SAMPLE")], 0);
    m.sum_u64("otel.sdk.span.started").assert_value(
        &[
            kv("otel.span.sampling_result", "RECORD_AND_SAMPLE"),
            kv("otel.span.parent.origin", "none"),
        ],
        SENT,
    );
    // One duration per export, each a failure.
    let durations = m.histogram("otel.sdk.exporter.operation.duration");
    let exports = durations
        .matching(&exporter_type)
        .map(|p| {
            assert!(p.attr("error.type").is_some(), "{p:?}");
            p.count
        })
        .sum::<u64>();
    assert!(
        (handed.div_ceil(4)..=handed).contains(&exports),
        "{handed} spans in batches of at most 4: {durations:?}"
    );
}

/// Started spans by sampling result and parent origin; live spans.
#[test]
fn starts_by_sampling_result_and_parent_origin() {
    let (telemetry, exporter) = install(&[("OTEL_TRACES_SAMPLER", "parentbased_always_on")]);
    let tracer = telemetry.tracer("test");
    tracer.in_span("root", |cx| {
        let _local = tracer.start_with_context("local child", &cx);
    });
    let remote = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(1u128),
        SpanId::from(2u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ));
    drop(tracer.start_with_context("remote child", &remote));
    let unsampled_remote = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(3u128),
        SpanId::from(4u64),
        TraceFlags::default(),
        true,
        TraceState::default(),
    ));
    drop(tracer.start_with_context("dropped", &unsampled_remote));
    let m = collect(&telemetry, &exporter);
    let started = m.sum_u64("otel.sdk.span.started");
    for (result, origin, n) in [
        ("RECORD_AND_SAMPLE", "none", 1),
        ("RECORD_AND_SAMPLE", "local", 1),
        ("RECORD_AND_SAMPLE", "remote", 1),
        ("DROP", "remote", 1),
    ] {
        started.assert_value(
            &[
                kv("otel.span.sampling_result", result),
                kv("otel.span.parent.origin", origin),
            ],
            n,
        );
    }
    assert_eq!(started.total(), 4);
    // No span pipeline (traces exporter `none`): nothing reports ends.
    m.assert_absent("otel.sdk.span.live");
    m.assert_absent("otel.sdk.processor.span.processed");
}

/// Metric exports are counted in data points, under the exporter's type.
#[test]
fn metric_exports_count_their_data_points() {
    let (telemetry, exporter) = install(&[]);
    let first = collect(&telemetry, &exporter);
    let points: usize = first.metrics().iter().map(|m| m.point_count()).sum();
    let second = collect(&telemetry, &exporter);
    let exported = second.sum_u64("otel.sdk.exporter.metric_data_point.exported");
    let ok: u64 = exported
        .matching(&[])
        .filter(|p| p.attr("error.type").is_none())
        .map(|p| p.value)
        .sum();
    assert_eq!(ok, points as u64, "{exported:?}");
    let point = exported.point_with(&[]);
    assert!(
        point
            .attr("otel.component.type")
            .is_some_and(|t| t.as_str().ends_with("SnapshotExporter")),
        "{point:?}"
    );
    assert_eq!(
        point
            .attr("otel.component.name")
            .map(|n| n.as_str().into_owned()),
        point
            .attr("otel.component.type")
            .map(|t| format!("{}/0", t.as_str()))
    );
}

/// `OTEL_KIT_SDK_METRICS=false` and `sdk_metrics(false)` turn every
/// `otel.sdk.*` metric off; the variable wins over the builder; a bad value
/// is a diagnostic and keeps them on.
#[test]
fn the_off_switch_and_its_precedence() {
    let sdk_names = |m: &MetricsSnapshot| {
        m.names()
            .into_iter()
            .filter(|n| n.starts_with("otel.sdk."))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let off = |env: &[(&'static str, &'static str)], code: Option<bool>| {
        let exporter = SnapshotExporter::default();
        let mut b = Telemetry::builder()
            .environment(Environment::from_pairs(env.iter().copied().chain([
                ("OTEL_TRACES_EXPORTER", "none"),
                ("OTEL_METRICS_EXPORTER", "none"),
                ("OTEL_LOGS_EXPORTER", "none"),
            ])))
            .with_metric_exporter(exporter.clone())
            .install_global(false);
        if let Some(on) = code {
            b = b.sdk_metrics(on);
        }
        let t = b.install().expect("setup");
        t.tracer("test").in_span("s", |_| {});
        let m = collect(&t, &exporter);
        (sdk_names(&m), t.report().diagnostics().len())
    };
    let (names, _) = off(&[("OTEL_KIT_SDK_METRICS", "false")], None);
    assert!(names.is_empty(), "{names:?}");
    let (names, _) = off(&[], Some(false));
    assert!(names.is_empty(), "{names:?}");
    let (names, _) = off(&[("OTEL_KIT_SDK_METRICS", "true")], Some(false));
    assert!(
        names.contains(&"otel.sdk.span.started".to_owned()),
        "{names:?}"
    );
    let (names, diagnostics) = off(&[("OTEL_KIT_SDK_METRICS", "nope")], None);
    assert!(
        names.contains(&"otel.sdk.span.started".to_owned()),
        "{names:?}"
    );
    assert_eq!(diagnostics, 1);
}

/// The guard's shutdown collects metrics last: the final exports of the
/// span pipeline (a flush on SIGTERM) are in the final metrics.
#[test]
fn shutdown_reports_the_final_exports() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let exporter = SnapshotExporter::default();
    let mut telemetry = Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "200"),
            // Nothing is exported before shutdown.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            ("OTEL_LOG_LEVEL", "none"),
        ]))
        .with_metric_exporter(exporter.clone())
        .shutdown_timeout(std::time::Duration::from_secs(20))
        .install_global(false)
        .install()
        .expect("setup");
    let tracer = telemetry.tracer("test");
    for i in 0..10 {
        tracer.in_span(format!("s{i}"), |_| {});
    }
    let _ = telemetry.shutdown_blocking();
    let m = exporter.take();
    let exported = m.sum_u64("otel.sdk.exporter.span.exported");
    let failed: u64 = exported
        .matching(&[])
        .filter(|p| p.attr("error.type").is_some())
        .map(|p| p.value)
        .sum();
    assert_eq!(failed, 10, "{exported:?}");
    m.sum_i64("otel.sdk.exporter.span.inflight")
        .assert_value(&[], 0);
}

/// Log records, collector down: each is dropped at the full queue or handed
/// to the exporter and lost in a failed export, and counted as such.
#[test]
fn log_records_are_counted_exactly_when_the_collector_is_down() {
    use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let (telemetry, exporter) = install(&[
        ("OTEL_LOGS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "300"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "16"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "4"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "10"),
        ("OTEL_LOG_LEVEL", "none"),
    ]);
    const EMITTED: u64 = 300;
    let logger = telemetry.logger_provider().logger("test");
    for i in 0..EMITTED {
        let mut record = logger.create_log_record();
        record.set_body(format!("record {i}").into());
        logger.emit(record);
    }
    telemetry
        .logger_provider()
        .shutdown()
        .expect("logs shut down");
    let m = collect(&telemetry, &exporter);

    let component = [kv("otel.component.type", "batching_log_processor")];
    let processed = m.sum_u64("otel.sdk.processor.log.processed");
    let handed: u64 = processed
        .matching(&component)
        .filter(|p| p.attr("error.type").is_none())
        .map(|p| p.value)
        .sum();
    let dropped = processed.value_with(&[kv("error.type", "queue_full")]);
    assert!(handed > 0 && dropped > 0, "{processed:?}");
    assert_eq!(handed + dropped, EMITTED, "{processed:?}");
    let exporter_type = [kv("otel.component.type", "otlp_http_log_exporter")];
    let exported = m.sum_u64("otel.sdk.exporter.log.exported");
    let (ok, failed) = exported
        .matching(&exporter_type)
        .fold((0, 0), |(ok, failed), p| match p.attr("error.type") {
            None => (ok + p.value, failed),
            Some(_) => (ok, failed + p.value),
        });
    assert_eq!((ok, failed), (0, handed), "{exported:?}");
    m.sum_i64("otel.sdk.exporter.log.inflight")
        .assert_value(&exporter_type, 0);
    m.sum_i64("otel.sdk.processor.log.queue.size")
        .assert_value(&component, 0);
    m.sum_i64("otel.sdk.processor.log.queue.capacity")
        .assert_value(&component, 16);
}
