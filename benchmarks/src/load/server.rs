//! The server side of the load harness: an axum app with two routes,
//! instrumented as one [`Variant`], run in its own process (the driver
//! starts it as `load serve <variant> <otlp-endpoint>`), so its CPU time is
//! accounted on its own.
//!
//! Protocol with the driver, one line each: the server prints
//! `READY <port>` once it listens on 127.0.0.1; it stops serving when it
//! reads `STOP` (or end of file) on stdin, then shuts its telemetry down
//! (the final export) and prints `DONE`.

use std::io::{BufRead, Write};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use otel_kit_core::Telemetry;
use otel_kit_core::config::Environment;
use otel_kit_core::opentelemetry::trace::TracerProvider as _;
use otel_kit_core::opentelemetry_sdk::trace::Sampler;
use otel_kit_core::resource::ResourceDetection;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

use super::Variant;
use super::delay::Delay;

/// How long `/work` awaits before answering.
pub const WORK: Duration = Duration::from_micros(100);

/// The app every variant serves: `GET /hello` answers at once, `GET /work`
/// awaits [`WORK`] first.
pub fn app(delay: Delay) -> Router {
    Router::new()
        .route("/hello", get(|| async { "Hello, World!" }))
        .route(
            "/work",
            get(move || {
                let delay = delay.clone();
                async move {
                    delay.wait(WORK).await;
                    "done"
                }
            }),
        )
}

/// The telemetry every instrumented variant shares: the providers of
/// otel-kit-core's setup, installed globally (the peers read the globals),
/// exporting spans and metrics over OTLP/gRPC with the SDK's default batch
/// settings; `ParentBased(AlwaysOn)`, or `AlwaysOff` for `ours_unsampled`.
fn telemetry(variant: Variant, otlp_endpoint: &str) -> Telemetry {
    let sampler = if variant == Variant::OursUnsampled {
        Sampler::AlwaysOff
    } else {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    };
    let mut env = vec![
        ("OTEL_SERVICE_NAME", format!("load-{}", variant.name())),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_endpoint.to_string()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_string()),
        ("OTEL_LOGS_EXPORTER", "none".to_string()),
    ];
    // The smoke test shortens the batch delay (`super::schedule_delay`);
    // the other batch settings pass through to try them under load.
    for name in [
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
    ] {
        if let Ok(v) = std::env::var(name) {
            env.push((name, v));
        }
    }
    Telemetry::builder()
        .environment(Environment::from_pairs(env))
        .resource_detection(ResourceDetection::none())
        .sampler(sampler)
        .install_global(true)
        .strict(true)
        .install()
        .expect("telemetry setup")
}

/// Installs a `tracing` subscriber that turns spans into OpenTelemetry
/// spans on the setup's provider (the tracing-based peers), letting
/// `target` through at `level`.
fn tracing_bridge(telemetry: &Telemetry, target: &'static str, level: LevelFilter) {
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_opentelemetry::layer().with_tracer(telemetry.tracer_provider().tracer("load")),
        )
        .with(Targets::new().with_target(target, level));
    tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
}

/// The app with the variant's instrumentation, each peer set up as its
/// documentation recommends (see `/work/shared/PEERS.md`).
fn instrumented(variant: Variant, telemetry: Option<&Telemetry>, delay: Delay) -> Router {
    let app = app(delay);
    match (variant, telemetry) {
        (Variant::Bare, _) => app,
        (Variant::OursUnsampled | Variant::OursSampled, Some(_)) => {
            app.layer(otel_kit_http::server::ServerLayer::new())
        }
        (Variant::InstrumentationTower, Some(_)) => app.layer(
            opentelemetry_instrumentation_tower::http::server::LayerBuilder::builder()
                .build()
                .expect("instrumentation-tower layer"),
        ),
        (Variant::AxumTracingOtel, Some(t)) => {
            // Its spans are made at TRACE on `otel::tracing`.
            tracing_bridge(t, "otel::tracing", LevelFilter::TRACE);
            app.layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
                .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default())
        }
        (Variant::TowerHttpTrace, Some(t)) => {
            tracing_bridge(t, "tower_http", LevelFilter::DEBUG);
            app.layer(tower_http::trace::TraceLayer::new_for_http())
        }
        (v, None) => panic!("variant {} needs an OTLP endpoint", v.name()),
    }
}

/// Runs the server of `variant` until `STOP` on stdin (see the module docs).
pub fn serve(variant: Variant, otlp_endpoint: Option<&str>) {
    let mut telemetry = match variant {
        Variant::Bare => None,
        _ => Some(telemetry(
            variant,
            otlp_endpoint.expect("an OTLP endpoint for an instrumented variant"),
        )),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            match line {
                Ok(l) if l.trim() == "STOP" => break,
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        let _ = stop_tx.send(());
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("server runtime");
    let delay = Delay::start();
    let router = instrumented(variant, telemetry.as_ref(), delay);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        println!("READY {port}");
        std::io::stdout().flush().expect("stdout");
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
            .expect("serve");
    });
    drop(runtime);
    if let Some(t) = telemetry.as_mut() {
        t.shutdown_blocking()
            .expect("telemetry shutdown (final export)");
    }
    println!("DONE");
    std::io::stdout().flush().expect("stdout");
}
