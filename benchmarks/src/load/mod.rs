//! The load harness: service-level CPU and latency cost of the
//! instrumentation under real HTTP load on 127.0.0.1.
//!
//! For each [`Variant`] a server process (`load serve`) is started beside a
//! fresh rotel collector (`otel_tests::collector::Collector`, receiving
//! OTLP/gRPC); the driver in the parent process then runs, for each
//! [`Route`], an open-loop phase at a fixed rate below saturation and a
//! closed-loop phase at saturation, reading the server's CPU time (its
//! threads' scheduler run time, [`process::cpu_time`]) around each phase. When the server has stopped (its
//! final export done), the spans rotel received are counted: every variant
//! but `bare` and `ours_unsampled` makes exactly one span per request, so
//! `lost = requests − received` counts what the batch processor dropped or
//! the export lost.
//!
//! Entry point: the `load` binary (`cargo run --profile bench -p
//! otel-benchmarks --bin load -- --help`).

pub mod delay;
pub mod driver;
pub mod lossless;
pub mod process;
pub mod report;
pub mod server;
pub mod sink;
pub mod sink_ceiling;

use std::path::Path;
use std::time::{Duration, Instant};

use otel_tests::collector::Collector;

use driver::{Samples, Stop};
use process::ServerProcess;

/// What instruments the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The app alone.
    Bare,
    /// otel-kit-http's `ServerLayer` (traces + metrics), sampler `AlwaysOff`.
    OursUnsampled,
    /// otel-kit-http's `ServerLayer` (traces + metrics), every request sampled,
    /// batch export over OTLP/gRPC.
    OursSampled,
    /// opentelemetry-instrumentation-tower 0.19 (traces + metrics, `axum` feature).
    InstrumentationTower,
    /// axum-tracing-opentelemetry 0.42 over tracing-opentelemetry 0.34.
    AxumTracingOtel,
    /// tower-http 0.7 `TraceLayer::new_for_http()` over tracing-opentelemetry 0.34.
    TowerHttpTrace,
}

impl Variant {
    /// Every variant, in report order.
    pub const ALL: [Variant; 6] = [
        Variant::Bare,
        Variant::OursUnsampled,
        Variant::OursSampled,
        Variant::InstrumentationTower,
        Variant::AxumTracingOtel,
        Variant::TowerHttpTrace,
    ];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Bare => "bare",
            Variant::OursUnsampled => "ours_unsampled",
            Variant::OursSampled => "ours_sampled",
            Variant::InstrumentationTower => "instrumentation_tower",
            Variant::AxumTracingOtel => "axum_tracing_otel",
            Variant::TowerHttpTrace => "tower_http_trace",
        }
    }

    /// The variant called `name`.
    pub fn parse(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Whether it records and exports one span per request.
    pub fn exports_spans(self) -> bool {
        !matches!(self, Variant::Bare | Variant::OursUnsampled)
    }

    /// Whether it needs a collector to export to.
    pub fn has_telemetry(self) -> bool {
        self != Variant::Bare
    }
}

/// The two handlers of [`server::app`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /hello`: answers at once.
    Hello,
    /// `GET /work`: awaits ~100 µs first.
    Work,
}

impl Route {
    /// Both routes.
    pub const ALL: [Route; 2] = [Route::Hello, Route::Work];

    /// Its path.
    pub fn path(self) -> &'static str {
        match self {
            Route::Hello => "/hello",
            Route::Work => "/work",
        }
    }
}

/// Open loop (fixed rate) or closed loop (saturation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A fixed request rate below saturation.
    FixedRate,
    /// As fast as `workers` keep-alive loops go.
    Saturation,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Variants, in order.
    pub variants: Vec<Variant>,
    /// Requests per second of the open-loop phases.
    pub rate: u64,
    /// Concurrent workers of the closed-loop phases.
    pub workers: usize,
    /// End of each measured phase.
    pub stop: Stop,
    /// Requests per route before measuring (connections, caches, JIT-free warm-up).
    pub warmup: u64,
}

/// One measured phase.
#[derive(Clone, Debug)]
pub struct PhaseResult {
    /// Which server.
    pub variant: Variant,
    /// Which handler.
    pub route: Route,
    /// Open or closed loop.
    pub mode: Mode,
    /// Requests, latencies, wall time.
    pub samples: Samples,
    /// Server CPU time (user + system) during the phase.
    pub server_cpu: Duration,
    /// Collector (rotel) CPU time during the phase, when readable.
    pub collector_cpu: Option<Duration>,
    /// Spans rotel received for this phase's requests (after the drain),
    /// for the variants that export spans.
    pub spans_received: Option<u64>,
}

impl PhaseResult {
    /// Spans of this phase dropped or not exported (`None`: the variant
    /// exports none).
    pub fn spans_lost(&self) -> Option<u64> {
        self.spans_received
            .map(|r| self.samples.ok.saturating_sub(r))
    }
}

/// What one variant's run ended with.
#[derive(Clone, Debug)]
pub struct VariantResult {
    /// Which server.
    pub variant: Variant,
    /// Its phases.
    pub phases: Vec<PhaseResult>,
    /// Successful requests in total, warm-up included.
    pub requests: u64,
    /// Spans rotel received (0 for variants without a collector).
    pub spans_received: u64,
    /// Spans expected: one per successful request for the sampled variants.
    pub spans_expected: u64,
    /// Load average when the variant started.
    pub load_average: String,
}

impl VariantResult {
    /// Spans the batch processor dropped or the export lost.
    pub fn spans_lost(&self) -> u64 {
        self.spans_expected.saturating_sub(self.spans_received)
    }
}

/// Number of complete lines rotel's processor has written to `spans.jsonl`.
fn spans_received(collector: &Collector) -> u64 {
    std::fs::read(collector.dir().join("spans.jsonl"))
        .map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64)
        .unwrap_or(0)
}

/// The servers' batch schedule delay: `OTEL_BSP_SCHEDULE_DELAY` (ms) of
/// this process, which the servers inherit, else the SDK's 5 s.
fn schedule_delay() -> Duration {
    std::env::var("OTEL_BSP_SCHEDULE_DELAY")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_millis)
}

/// Waits until rotel has `target` spans in all, or their count has not
/// grown for two seconds more than the batch schedule delay (the rest were
/// dropped), at most 40 s; returns
/// the count. The server's batch processor exports a phase's last spans
/// after the phase: waiting here keeps them (and the CPU spent exporting
/// them) in their own phase.
fn drain_spans(collector: &Collector, target: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(40);
    let stall = schedule_delay() + Duration::from_secs(2);
    let mut last = spans_received(collector);
    let mut last_change = Instant::now();
    while last < target && Instant::now() < deadline && last_change.elapsed() < stall {
        std::thread::sleep(Duration::from_millis(100));
        let now = spans_received(collector);
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    last
}

/// Rotel's process id, from the pid file it writes in the collector's directory.
fn collector_pid(collector: &Collector) -> Option<u32> {
    std::fs::read_to_string(collector.dir().join("rotel.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Runs one variant: collector, server process, warm-up, the four phases,
/// stop (final export), span count. `exe` is the `load` binary itself.
pub fn run_variant(exe: &Path, variant: Variant, plan: &Plan) -> std::io::Result<VariantResult> {
    let load_average = process::load_average();
    let collector = variant.has_telemetry().then(Collector::start);
    let endpoint = collector.as_ref().map(|c| c.grpc_endpoint());
    let server = ServerProcess::start(exe, variant, endpoint.as_deref())?;
    let rotel_pid = collector.as_ref().and_then(collector_pid);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let base = format!("http://127.0.0.1:{}", server.port());
    let mut phases = Vec::new();
    let mut requests = 0u64;
    runtime.block_on(async {
        let client = driver::client();
        for route in Route::ALL {
            let uri: http::Uri = format!("{base}{}", route.path()).parse().expect("uri");
            let warm =
                driver::closed_loop(&client, &uri, plan.workers.min(8), Stop::Count(plan.warmup))
                    .await;
            requests += warm.ok;
            let mut spans_before = match &collector {
                Some(c) if variant.exports_spans() => {
                    tokio::task::block_in_place(|| drain_spans(c, requests))
                }
                _ => 0,
            };
            for mode in [Mode::FixedRate, Mode::Saturation] {
                let cpu_before = server.cpu_time()?;
                let rotel_before = rotel_pid.and_then(|p| process::cpu_time(p).ok());
                let samples = match mode {
                    Mode::FixedRate => {
                        driver::open_loop(&client, &uri, plan.rate, plan.stop, 16_384).await
                    }
                    Mode::Saturation => {
                        driver::closed_loop(&client, &uri, plan.workers, plan.stop).await
                    }
                };
                requests += samples.ok;
                // The phase's spans, exported after its last request, and
                // the CPU that costs, both count for this phase.
                let spans_received = match &collector {
                    Some(c) if variant.exports_spans() => {
                        let now = tokio::task::block_in_place(|| drain_spans(c, requests));
                        let phase = now.saturating_sub(spans_before);
                        spans_before = now;
                        Some(phase)
                    }
                    _ => None,
                };
                let server_cpu = server.cpu_time()?.saturating_sub(cpu_before);
                let collector_cpu = match (rotel_pid, rotel_before) {
                    (Some(p), Some(b)) => process::cpu_time(p).ok().map(|a| a.saturating_sub(b)),
                    _ => None,
                };
                phases.push(PhaseResult {
                    variant,
                    route,
                    mode,
                    samples,
                    server_cpu,
                    collector_cpu,
                    spans_received,
                });
            }
        }
        Ok::<_, std::io::Error>(())
    })?;
    drop(runtime); // closes the keep-alive connections: the server can stop
    server.stop()?;
    let spans_expected = if variant.exports_spans() { requests } else { 0 };
    let mut spans = 0;
    if let Some(c) = &collector {
        // Rotel may write what it received a little after acknowledging it.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            spans = spans_received(c);
            if spans >= spans_expected || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if spans_expected == 0 {
            // Nothing should arrive; give a late batch a moment to show up.
            std::thread::sleep(Duration::from_millis(300));
            spans = spans_received(c);
        }
    }
    Ok(VariantResult {
        variant,
        phases,
        requests,
        spans_received: spans,
        spans_expected,
        load_average,
    })
}
