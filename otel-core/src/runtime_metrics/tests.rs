//! Runtime metrics read back through the setup's meter provider: real
//! values of this test process and of a runtime it builds.

use super::RuntimeMetric;
use crate::Telemetry;
use crate::config::Environment;
use crate::testing::{MetricsSnapshot, SnapshotExporter};
use opentelemetry::KeyValue;

fn install(
    env: &[(&str, &str)],
    kinds: Option<&[RuntimeMetric]>,
    handle: Option<tokio::runtime::Handle>,
) -> (Telemetry, SnapshotExporter) {
    let exporter = SnapshotExporter::default();
    let mut b = Telemetry::builder()
        .environment(Environment::from_pairs(env.iter().copied().chain([
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_KIT_SDK_METRICS", "false"),
        ])))
        .with_metric_exporter(exporter.clone())
        .install_global(false);
    if let Some(kinds) = kinds {
        b = b.runtime_metrics(kinds);
    }
    if let Some(handle) = handle {
        b = b.tokio_runtime(handle);
    }
    (b.install().expect("setup"), exporter)
}

fn collect(telemetry: &Telemetry, exporter: &SnapshotExporter) -> MetricsSnapshot {
    exporter.clear();
    telemetry.meter_provider().force_flush().expect("collect");
    exporter.take()
}

#[test]
fn off_by_default() {
    let (t, e) = install(&[], None, None);
    let m = collect(&t, &e);
    assert!(m.is_empty(), "{:?}", m.names());
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn process_metrics_are_this_process() {
    let (t, e) = install(&[("OTEL_KIT_RUNTIME_METRICS", "process")], None, None);
    let m = collect(&t, &e);
    for (name, unit) in [
        ("process.cpu.time", "s"),
        ("process.cpu.utilization", "1"),
        ("process.memory.usage", "By"),
        ("process.memory.virtual", "By"),
        ("process.thread.count", "{thread}"),
        ("process.unix.file_descriptor.count", "{file_descriptor}"),
        ("process.context_switches", "{context_switch}"),
        ("process.uptime", "s"),
    ] {
        assert_eq!(m.metric(name).unit(), unit, "{name}");
    }
    let cpu = m.sum_f64("process.cpu.time");
    let user = cpu.value_with(&[KeyValue::new("cpu.mode", "user")]);
    let system = cpu.value_with(&[KeyValue::new("cpu.mode", "system")]);
    assert!(user + system > 0.0, "{cpu:?}");
    let utilization = m.gauge_f64("process.cpu.utilization");
    for p in &utilization {
        assert!((0.0..=1.0).contains(&p.value), "{p:?}");
    }
    assert!(m.sum_i64("process.thread.count").total() >= 1);
    // The test harness, this setup's reader thread and the export runtime:
    // several threads.
    let rss = m.sum_i64("process.memory.usage").total();
    let vsz = m.sum_i64("process.memory.virtual").total();
    assert!(rss > 0 && vsz >= rss, "rss {rss} virtual {vsz}");
    assert!(m.sum_i64("process.unix.file_descriptor.count").total() >= 3);
    let switches = m.sum_u64("process.context_switches");
    assert!(
        switches
            .point_with(&[KeyValue::new("process.context_switch.type", "voluntary")])
            .value
            > 0
    );
    let uptime = m.gauge_f64("process.uptime").total();
    assert!(uptime > 0.0, "{uptime}");
    // Counters grow between collections.
    let mut x = 0u64;
    for i in 0..50_000_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
    let later = collect(&t, &e);
    assert!(later.sum_f64("process.cpu.time").total() >= user + system);
    assert!(later.gauge_f64("process.uptime").total() >= uptime);
}

#[test]
fn tokio_metrics_of_the_runtime_setup_runs_in() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .enable_all()
        .build()
        .unwrap();
    let (t, e) = rt.block_on(async { install(&[], Some(&[RuntimeMetric::Tokio]), None) });
    // Five tasks that stay alive until told.
    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let mut rx = tx.subscribe();
            rt.spawn(async move {
                let _ = rx.recv().await;
            })
        })
        .collect();
    let m = collect(&t, &e);
    m.sum_i64("tokio.worker.count").assert_value(&[], 3);
    let alive = m.sum_i64("tokio.task.count").total();
    assert!(alive >= 5, "{alive}");
    assert!(m.sum_i64("tokio.global_queue.depth").total() >= 0);
    #[cfg(target_has_atomic = "64")]
    {
        let busy = m.sum_f64("tokio.worker.busy_time");
        for i in 0..3i64 {
            assert!(
                busy.get(&[KeyValue::new("tokio.worker.index", i)])
                    .is_some(),
                "{busy:?}"
            );
        }
        assert_eq!(m.sum_u64("tokio.worker.parks").matching(&[]).count(), 3);
    }
    #[cfg(not(tokio_unstable))]
    {
        m.assert_absent("tokio.worker.polls");
        m.assert_absent("tokio.worker.steals");
    }
    tx.send(()).unwrap();
    rt.block_on(async {
        for task in tasks {
            task.await.unwrap();
        }
    });
    let after = collect(&t, &e);
    let alive = after.sum_i64("tokio.task.count").total();
    assert!(alive < 5, "the five tasks ended: {alive}");
    drop(t);
    drop(rt);
}

#[test]
fn tokio_outside_a_runtime_is_a_diagnostic_unless_one_is_given() {
    let (t, e) = install(&[("OTEL_KIT_RUNTIME_METRICS", "tokio")], None, None);
    let diagnostics = t.report().diagnostics().to_string();
    assert!(
        diagnostics.contains("OTEL_KIT_RUNTIME_METRICS") && diagnostics.contains("Tokio runtime"),
        "{diagnostics}"
    );
    collect(&t, &e).assert_absent("tokio.worker.count");

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (t, e) = install(
        &[("OTEL_KIT_RUNTIME_METRICS", "tokio")],
        None,
        Some(rt.handle().clone()),
    );
    assert!(t.report().diagnostics().is_empty());
    collect(&t, &e)
        .sum_i64("tokio.worker.count")
        .assert_value(&[], 1);
}

#[test]
fn the_variable_wins_and_bad_values_are_diagnostics() {
    let (t, e) = install(
        &[("OTEL_KIT_RUNTIME_METRICS", "none")],
        Some(&[RuntimeMetric::Process]),
        None,
    );
    assert!(collect(&t, &e).is_empty());
    assert_eq!(
        t.report().sources()["OTEL_KIT_RUNTIME_METRICS"],
        crate::ValueSource::Environment
    );
    let (t, _) = install(&[("OTEL_KIT_RUNTIME_METRICS", "prcess")], None, None);
    let diagnostics = t.report().diagnostics().to_string();
    assert!(diagnostics.contains("prcess"), "{diagnostics}");
}

#[test]
fn the_console_exporter_prints_them() {
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let t = Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_KIT_RUNTIME_METRICS", "process,tokio"),
        ]))
        .with_metric_exporter(crate::export::ConsoleMetricExporter::with_writer(
            buffer.clone(),
        ))
        .tokio_runtime(rt.handle().clone())
        .install_global(false)
        .install()
        .expect("setup");
    opentelemetry::trace::Tracer::in_span(&t.tracer("test"), "work", |_| {});
    t.meter_provider().force_flush().expect("flush");
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    for name in ["tokio.worker.count", "otel.sdk.span.started"] {
        assert!(text.contains(name), "{name} in:\n{text}");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    assert!(text.contains("process.cpu.time"), "{text}");
    drop(t);
}
