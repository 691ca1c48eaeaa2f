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

/// Why a probe failed, or what ended a search: the rule its lowest failing
/// probe broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Requests failed.
    Failures,
    /// Spans did not all reach the sink.
    Loss,
    /// The server did not keep pace (its last answer came more than 5 %
    /// late): the rate is above what the machine serves, spans or not.
    Pace,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::Failures => "failed requests",
            Limit::Loss => "lost spans",
            Limit::Pace => "pace",
        }
    }
}

impl Probe {
    /// The rule this probe broke (the first of failures, loss, pace), `None`
    /// when it passed.
    pub fn limit(&self) -> Option<Limit> {
        if self.passed {
            None
        } else if self.samples.failed > 0 {
            Some(Limit::Failures)
        } else if self.spans_lost.unwrap_or(0) > 0 {
            Some(Limit::Loss)
        } else {
            Some(Limit::Pace)
        }
    }
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

    /// What bounded the lossless throughput: the limit of the lowest failing
    /// probe (`None`: every probe passed).
    pub fn limit(&self) -> Option<Limit> {
        self.probes
            .iter()
            .filter(|p| !p.passed)
            .min_by_key(|p| p.rate)
            .and_then(Probe::limit)
    }
}

/// Waits until the sink has `target` spans, or their count has not grown
/// for the batch delay plus 2 s, at most 40 s; returns the count and when
/// it last grew (the last span's arrival, as seen every 50 ms).
fn drain(sink: &mut SinkProcess, target: u64) -> std::io::Result<(u64, Instant)> {
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
    Ok((last, last_change))
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
        drain(&mut sink, requests)?.0
    } else {
        0
    };
    // Runs one phase and drains its spans: (samples, spans lost, when the
    // phase's work ended: its last span's arrival, or its last answer).
    let mut phase = |saturation: Option<usize>,
                     rate: u64|
     -> std::io::Result<(Samples, Option<u64>, Instant)> {
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
        let answered = Instant::now();
        let (lost, ended) = if exports {
            let (now, last_arrival) = drain(&mut sink, requests)?;
            let received = now.saturating_sub(spans_before);
            spans_before = now;
            (
                Some(samples.ok.saturating_sub(received)),
                last_arrival.max(answered),
            )
        } else {
            (None, answered)
        };
        Ok((samples, lost, ended))
    };

    let sink_before = process::cpu_time(sink_pid).ok();
    let export_before = process::threads_cpu_time(server.pid(), EXPORT_THREADS).ok();
    let started = Instant::now();
    let (saturation, saturation_lost, ended) = phase(Some(plan.workers), 0)?;
    let memory = process::memory(server.pid()).ok();
    // CPU over the phase and its drain up to the last span's arrival: a
    // drain that waits out a stalled count (spans were lost) adds idle
    // seconds that would dilute the figure.
    let busy = ended.duration_since(started).as_secs_f64();
    let export_cores = export_before.and_then(|b| {
        let cpu = process::threads_cpu_time(server.pid(), EXPORT_THREADS)
            .ok()?
            .saturating_sub(b);
        Some(cpu.as_secs_f64() / busy)
    });
    let sink_cores = sink_before.and_then(|b| {
        let cpu = process::cpu_time(sink_pid).ok()?.saturating_sub(b);
        Some(cpu.as_secs_f64() / busy)
    });

    let mut probes = Vec::new();
    let mut lo = 0;
    let mut hi = saturation.rate().ceil() as u64 + 1;
    for _ in 0..plan.steps {
        let rate = midpoint(lo, hi);
        if rate == 0 || rate == lo {
            break;
        }
        let (samples, spans_lost, _) = phase(None, rate)?;
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
         the saturation phase and its drain up to the last span's arrival, in cores.\n",
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
                let why = match p.limit() {
                    None => "ok".to_string(),
                    Some(Limit::Failures) => format!("{} failed", p.samples.failed),
                    Some(Limit::Loss) => format!("{} lost", p.spans_lost.unwrap_or(0)),
                    Some(Limit::Pace) => format!("{:.1} s", p.samples.elapsed.as_secs_f64()),
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
        let limits = results
            .iter()
            .filter(|r| r.variant == Variant::OursSampled || r.variant == peer.variant)
            .map(|r| {
                format!(
                    "{} by {}",
                    r.variant.name(),
                    r.limit().map_or("none (every probe passed)", Limit::name)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "Searches bounded: {limits}.");
        // With no span lost, the search measures how fast the machine serves
        // the requests, and the uninstrumented server bounds that.
        if let Some(bare) = results.iter().find(|r| r.variant == Variant::Bare) {
            let ceiling = bare.lossless_rate() as f64 / peer.lossless_rate().max(1) as f64;
            let _ = writeln!(
                out,
                "Ceiling: bare's lossless throughput over the best peer's: {ceiling:.2}x, what instrumentation \
                 costing nothing would reach{}",
                if ceiling < 1.2 {
                    " (below the 1.2x target: no instrumentation could meet it in this run)"
                } else {
                    ""
                }
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(ok: u64, failed: u64, secs: f64) -> Samples {
        Samples {
            ok,
            failed,
            latencies: Vec::new(),
            elapsed: Duration::from_secs_f64(secs),
            max_send_lag: Duration::ZERO,
        }
    }

    fn probe(rate: u64, secs: f64, lost: u64) -> Probe {
        Probe {
            rate,
            samples: samples(rate * 10, 0, secs),
            spans_lost: Some(lost),
            passed: secs <= 10.5 && lost == 0,
        }
    }

    fn result(variant: Variant, probes: Vec<Probe>) -> SearchResult {
        SearchResult {
            variant,
            saturation: samples(300_000, 0, 10.0),
            saturation_lost: variant.exports_spans().then_some(0),
            saturation_rss: None,
            saturation_peak_rss: None,
            sink_cores: None,
            export_cores: None,
            probes,
            load_average: String::new(),
        }
    }

    fn plan() -> SearchPlan {
        SearchPlan {
            variants: Vec::new(),
            phase: Duration::from_secs(10),
            workers: 32,
            steps: 3,
            warmup: 0,
        }
    }

    #[test]
    fn the_lowest_failing_probe_names_what_bounded_the_search() {
        let r = result(
            Variant::OursSampled,
            vec![
                probe(10_000, 10.0, 0),
                probe(15_000, 10.0, 12),
                probe(20_000, 12.0, 0),
            ],
        );
        assert_eq!(r.lossless_rate(), 10_000);
        assert_eq!(r.limit(), Some(Limit::Loss));
        assert_eq!(r.probes[2].limit(), Some(Limit::Pace));
        let r = result(Variant::OursSampled, vec![probe(10_000, 10.0, 0)]);
        assert_eq!(r.limit(), None);
    }

    #[test]
    fn the_summary_gives_the_ratio_the_bounds_and_the_ceiling_bare_sets() {
        let results = [
            result(
                Variant::Bare,
                vec![probe(24_000, 10.0, 0), probe(26_000, 11.0, 0)],
            ),
            result(
                Variant::OursSampled,
                vec![probe(19_000, 10.0, 0), probe(21_000, 10.8, 0)],
            ),
            result(
                Variant::InstrumentationTower,
                vec![probe(21_000, 10.0, 0), probe(22_000, 10.0, 3)],
            ),
        ];
        let text = markdown(&results, &plan());
        assert!(
            text.contains(
                "best peer's (instrumentation_tower): 0.90x (target ≥ 1.2x: **not met**)"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "Searches bounded: ours_sampled by pace, instrumentation_tower by lost spans."
            ),
            "{text}"
        );
        assert!(
            text.contains("Ceiling: bare's lossless throughput over the best peer's: 1.14x"),
            "{text}"
        );
        assert!(
            text.contains("no instrumentation could meet it in this run"),
            "{text}"
        );
        assert!(text.contains("22000: 3 lost"), "{text}");

        // A ceiling above the target says nothing more.
        let results = [
            result(Variant::Bare, vec![probe(40_000, 10.0, 0)]),
            results[1].clone(),
            results[2].clone(),
        ];
        let text = markdown(&results, &plan());
        assert!(
            text.contains("best peer's: 1.90x, what instrumentation costing nothing would reach\n"),
            "{text}"
        );
    }
}
