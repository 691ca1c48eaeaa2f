//! Lossless throughput: per variant, the highest fixed request rate whose
//! phase delivers every span to a sink that keeps up
//! ([`sink`](super::sink)), found by a short bisection, and the loss at
//! saturation with the same sink.
//!
//! For each variant a fresh sink and server process are started (the
//! server exporting over OTLP/gRPC to the sink, otel-kit-core's default
//! settings otherwise). On `GET /hello`, after a warm-up:
//!
//! 1. saturation: `workers` keep-alive loops for one phase; its requests/s
//!    (`S`), its spans lost (requests minus spans the sink received for
//!    them, after the drain), the server's RSS at the phase's end and its
//!    peak, the sink's CPU;
//! 2. bisection over `(0, S]`: `steps` open-loop phases of the same
//!    length, the first at `S / 2`. A rate passes when every request
//!    succeeds, the server keeps pace (the phase's last answer comes at
//!    most 5 % after its nominal length) and, for the variants that export
//!    spans, the sink receives one span per request. The lossless
//!    throughput is the highest passing rate (`0` if none passed).
//!
//! Each phase's spans are drained (counted until they are all there, or
//! their count stalls for the batch delay plus 2 s) before the next starts.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use super::driver::{self, Samples, Stop};
use super::process::{self, ServerProcess};
use super::sink::SinkProcess;
use super::{Route, Variant, schedule_delay};

/// Name prefixes of the server's span export threads (`comm`, 15 bytes).
const EXPORT_THREADS: &[&str] = &["OpenTelemetry.T", "otel-span-batch", "otel-export"];

/// What to run.
#[derive(Clone, Debug)]
pub struct SearchPlan {
    /// Variants, in order.
    pub variants: Vec<Variant>,
    /// Length of each phase (saturation and each probe).
    pub phase: Duration,
    /// Concurrent workers of the saturation phase.
    pub workers: usize,
    /// Probes of the bisection.
    pub steps: usize,
    /// Requests before measuring.
    pub warmup: u64,
}

/// One fixed-rate phase of the search.
#[derive(Clone, Debug)]
pub struct Probe {
    /// Requests per second asked for.
    pub rate: u64,
    /// What the phase measured.
    pub samples: Samples,
    /// Spans the sink did not receive (`None`: the variant exports none).
    pub spans_lost: Option<u64>,
    /// Whether the rate passed (see the module docs).
    pub passed: bool,
}

/// One variant's search.
#[derive(Clone, Debug)]
pub struct SearchResult {
    /// Which server.
    pub variant: Variant,
    /// The saturation phase.
    pub saturation: Samples,
    /// Its spans not received by the sink (`None`: the variant exports none).
    pub saturation_lost: Option<u64>,
    /// The server's resident set at the end of the saturation phase, bytes.
    pub saturation_rss: Option<u64>,
    /// The server's peak resident set (`VmHWM`) after the saturation phase, bytes.
    pub saturation_peak_rss: Option<u64>,
    /// The sink's CPU time over the saturation phase's wall time (cores).
    pub sink_cores: Option<f64>,
    /// The server's span export threads' CPU time (the SDK's or
    /// otel-kit-core's batch processor thread and otel-kit-core's `otel-export` runtime, which
    /// also carries the metric exports) over the same wall time (cores).
    pub export_cores: Option<f64>,
    /// The bisection's probes, in order.
    pub probes: Vec<Probe>,
    /// Load average when the variant started.
    pub load_average: String,
}

impl SearchResult {
    /// The highest passing rate, 0 when none passed.
    pub fn lossless_rate(&self) -> u64 {
        self.probes
            .iter()
            .filter(|p| p.passed)
            .map(|p| p.rate)
            .max()
            .unwrap_or(0)
    }
}

/// Waits until the sink has `target` spans, or their count has not grown
/// for the batch delay plus 2 s, at most 40 s; returns the count.
fn drain(sink: &mut SinkProcess, target: u64) -> std::io::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(40);
    let stall = schedule_delay() + Duration::from_secs(2);
    let mut last = sink.spans()?;
    let mut last_change = Instant::now();
    while last < target && Instant::now() < deadline && last_change.elapsed() < stall {
        std::thread::sleep(Duration::from_millis(50));
        let now = sink.spans()?;
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    Ok(last)
}

/// The next rate of a bisection between the highest passing rate `lo` and
/// the lowest failing one `hi`.
fn midpoint(lo: u64, hi: u64) -> u64 {
    lo + (hi - lo) / 2
}

/// Runs one variant's search. `exe` is the `load` binary itself.
pub fn search_variant(
    exe: &Path,
    variant: Variant,
    plan: &SearchPlan,
) -> std::io::Result<SearchResult> {
    let load_average = process::load_average();
    let mut sink = SinkProcess::start(exe)?;
    let endpoint = variant.has_telemetry().then(|| sink.grpc_endpoint());
    let server = ServerProcess::start(exe, variant, endpoint.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let uri: http::Uri = format!("http://127.0.0.1:{}{}", server.port(), Route::Hello.path())
        .parse()
        .expect("uri");
    let client = driver::client();
    let exports = variant.exports_spans();
    let sink_pid = sink.pid();

    let mut requests = runtime
        .block_on(driver::closed_loop(
            &client,
            &uri,
            plan.workers.min(8),
            Stop::Count(plan.warmup),
        ))
        .ok;
    let mut spans_before = if exports {
        drain(&mut sink, requests)?
    } else {
        0
    };
    // Runs one phase and drains its spans: (samples, spans lost).
    let mut phase = |saturation: Option<usize>,
                     rate: u64|
     -> std::io::Result<(Samples, Option<u64>)> {
        let samples = runtime.block_on(async {
            match saturation {
                Some(workers) => {
                    driver::closed_loop(&client, &uri, workers, Stop::After(plan.phase)).await
                }
                None => {
                    driver::open_loop(&client, &uri, rate, Stop::After(plan.phase), 16_384).await
                }
            }
        });
        requests += samples.ok;
        let lost = if exports {
            let now = drain(&mut sink, requests)?;
            let received = now.saturating_sub(spans_before);
            spans_before = now;
            Some(samples.ok.saturating_sub(received))
        } else {
            None
        };
        Ok((samples, lost))
    };

    let sink_before = process::cpu_time(sink_pid).ok();
    let export_before = process::threads_cpu_time(server.pid(), EXPORT_THREADS).ok();
    let started = Instant::now();
    let (saturation, saturation_lost) = phase(Some(plan.workers), 0)?;
    let memory = process::memory(server.pid()).ok();
    let export_cores = export_before.and_then(|b| {
        let cpu = process::threads_cpu_time(server.pid(), EXPORT_THREADS)
            .ok()?
            .saturating_sub(b);
        Some(cpu.as_secs_f64() / started.elapsed().as_secs_f64())
    });
    let sink_cores = sink_before.and_then(|b| {
        // The sink's CPU from the phase's start until its spans were drained.
        let cpu = process::cpu_time(sink_pid).ok()?.saturating_sub(b);
        Some(cpu.as_secs_f64() / started.elapsed().as_secs_f64())
    });

    let mut probes = Vec::new();
    let mut lo = 0;
    let mut hi = saturation.rate().ceil() as u64 + 1;
    for _ in 0..plan.steps {
        let rate = midpoint(lo, hi);
        if rate == 0 || rate == lo {
            break;
        }
        let (samples, spans_lost) = phase(None, rate)?;
        let kept_pace = samples.elapsed.as_secs_f64() <= plan.phase.as_secs_f64() * 1.05;
        let passed = samples.failed == 0 && kept_pace && spans_lost.unwrap_or(0) == 0;
        eprintln!(
            "load lossless: {} at {rate}/s: {} ok, {} failed, {:.2} s, lost {:?}: {}",
            variant.name(),
            samples.ok,
            samples.failed,
            samples.elapsed.as_secs_f64(),
            spans_lost,
            if passed { "pass" } else { "fail" }
        );
        if passed {
            lo = rate;
        } else {
            hi = rate;
        }
        probes.push(Probe {
            rate,
            samples,
            spans_lost,
            passed,
        });
    }
    drop(runtime);
    server.stop()?;
    Ok(SearchResult {
        variant,
        saturation,
        saturation_lost,
        saturation_rss: memory.map(|m| m.0),
        saturation_peak_rss: memory.map(|m| m.1),
        sink_cores,
        export_cores,
        probes,
        load_average,
    })
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "–".into(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

/// The search's table as markdown.
pub fn markdown(results: &[SearchResult], plan: &SearchPlan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "`GET /hello`, every request sampled, spans exported over OTLP/gRPC to the counting sink (`load sink`); \
         phases of {:.0} s. Saturation: {} keep-alive workers, closed loop. Lossless throughput: the highest fixed rate \
         (open loop, bisection of {} probes over (0, saturation]) whose every request succeeds, whose last answer comes \
         within 5 % of the phase's length, and whose every span reaches the sink. RSS: the server's resident set at the \
         end of the saturation phase (peak in parentheses). Sink CPU and export threads' CPU (the server's batch processor thread and its `otel-export` runtime): their run time over \
         the saturation phase and its drain, in cores.\n",
        plan.phase.as_secs_f64(),
        plan.workers,
        plan.steps
    );
    let _ = writeln!(
        out,
        "| variant | saturation requests/s | spans lost at saturation | RSS at saturation MiB | sink CPU (cores) | export threads' CPU (cores) | lossless throughput requests/s | probes (requests/s: result) | load average at start |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for r in results {
        let lost = match r.saturation_lost {
            Some(l) => format!(
                "{l} ({:.1} %)",
                l as f64 * 100.0 / r.saturation.ok.max(1) as f64
            ),
            None => "–".into(),
        };
        let probes = r
            .probes
            .iter()
            .map(|p| {
                let why = if p.passed {
                    "ok".to_string()
                } else if p.samples.failed > 0 {
                    format!("{} failed", p.samples.failed)
                } else if p.spans_lost.unwrap_or(0) > 0 {
                    format!("{} lost", p.spans_lost.unwrap_or(0))
                } else {
                    format!("{:.1} s", p.samples.elapsed.as_secs_f64())
                };
                format!("{}: {why}", p.rate)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} ({}) | {} | {} | {} | {} | {} |",
            r.variant.name(),
            r.saturation.rate(),
            lost,
            mib(r.saturation_rss),
            mib(r.saturation_peak_rss),
            r.sink_cores
                .map_or_else(|| "–".into(), |c| format!("{c:.2}")),
            r.export_cores
                .map_or_else(|| "–".into(), |c| format!("{c:.2}")),
            r.lossless_rate(),
            probes,
            r.load_average
        );
    }
    let ours = results
        .iter()
        .find(|r| r.variant == Variant::OursSampled)
        .map(SearchResult::lossless_rate);
    let best_peer = results
        .iter()
        .filter(|r| r.variant.exports_spans() && r.variant != Variant::OursSampled)
        .max_by_key(|r| r.lossless_rate());
    if let (Some(ours), Some(peer)) = (ours, best_peer) {
        let ratio = ours as f64 / peer.lossless_rate().max(1) as f64;
        let _ = writeln!(
            out,
            "\nours_sampled's lossless throughput over the best peer's ({}): {ratio:.2}x (target ≥ 1.2x: {})",
            peer.variant.name(),
            if ratio >= 1.2 { "met" } else { "**not met**" }
        );
    }
    if let Some(r) = results.iter().find(|r| r.variant == Variant::OursSampled) {
        let lost = r.saturation_lost.unwrap_or(0);
        let _ = writeln!(
            out,
            "ours_sampled's spans lost at saturation: {lost} (target 0: {})",
            if lost == 0 { "met" } else { "**not met**" }
        );
    }
    out
}
