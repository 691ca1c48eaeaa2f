//! The load harness (see `otel_benchmarks::load`).
//!
//! ```text
//! load [--quick | --smoke] [--rate N] [--seconds S] [--workers N]
//!      [--variants bare,ours_sampled,...] [--out FILE]
//! load --lossless [--quick] [--seconds S] [--workers N] [--steps N]
//!      [--variants ...] [--out FILE]
//! load sink-ceiling [--seconds S] [--batch N] [--connections 1,4]
//! load serve <variant> [otlp-grpc-endpoint]     (the server child; internal)
//! load sink                                     (the span sink child; internal)
//! ```
//!
//! `--lossless`: per variant (all but `ours_unsampled` unless `--variants`),
//! the loss at saturation and the lossless throughput with the counting
//! sink instead of rotel (`otel_benchmarks::load::lossless`); `--steps`
//! probes (default 6, 3 with phases under 10 s). `sink-ceiling`: the sink's
//! own ceiling in spans/s (`otel_benchmarks::load::sink_ceiling`).
//!
//! Default: 10 s per phase at 1000 requests/s (open loop) and 32 workers
//! (closed loop). `--quick`: 3 s per phase. `--smoke`: a few hundred
//! requests per variant, checking only correctness (every request succeeds,
//! every expected span reaches the collector); exits non-zero otherwise.
//! Needs `OTEL_TEST_ROTEL` (set by `scripts/test`) or the repo's `.venv`.

use std::time::Duration;

use otel_benchmarks::load::driver::Stop;
use otel_benchmarks::load::{
    Plan, Variant, lossless, report, run_variant, server, sink, sink_ceiling,
};

fn usage() -> ! {
    eprintln!(
        "usage: load [--quick | --smoke | --lossless] [--rate N] [--seconds S] [--workers N] [--steps N] [--variants a,b] [--out FILE]\n\
         \x20      load sink-ceiling [--seconds S] [--batch N] [--connections a,b]\n\
         variants: {}",
        Variant::ALL.map(|v| v.name()).join(", ")
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let variant = args
            .get(1)
            .and_then(|v| Variant::parse(v))
            .unwrap_or_else(|| usage());
        server::serve(variant, args.get(2).map(String::as_str));
        return;
    }
    if args.first().map(String::as_str) == Some("sink") {
        sink::serve();
        return;
    }
    if args.first().map(String::as_str) == Some("sink-ceiling") {
        sink_ceiling_main(&args[1..]);
        return;
    }

    let mut smoke = false;
    let mut lossless = false;
    let mut steps = None;
    let mut variants_given = false;
    let mut seconds = 10.0;
    let mut rate = 1000;
    let mut workers = 32;
    let mut variants = Variant::ALL.to_vec();
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--quick" => seconds = 3.0,
            "--smoke" => smoke = true,
            "--lossless" => lossless = true,
            "--steps" => steps = Some(value().parse().unwrap_or_else(|_| usage())),
            "--rate" => rate = value().parse().unwrap_or_else(|_| usage()),
            "--seconds" => seconds = value().parse().unwrap_or_else(|_| usage()),
            "--workers" => workers = value().parse().unwrap_or_else(|_| usage()),
            "--variants" => {
                variants_given = true;
                variants = value()
                    .split(',')
                    .map(|v| Variant::parse(v).unwrap_or_else(|| usage()))
                    .collect()
            }
            "--out" => out = Some(value()),
            _ => usage(),
        }
    }
    if lossless {
        if !variants_given {
            variants.retain(|&v| v != Variant::OursUnsampled);
        }
        let plan = lossless::SearchPlan {
            variants,
            phase: Duration::from_secs_f64(seconds),
            workers,
            steps: steps.unwrap_or(if seconds < 10.0 { 3 } else { 6 }),
            warmup: 2000,
        };
        lossless_main(&plan, out);
        return;
    }
    let plan = if smoke {
        Plan {
            variants,
            rate: 500,
            workers: 4,
            stop: Stop::Count(100),
            warmup: 50,
        }
    } else {
        Plan {
            variants,
            rate,
            workers,
            stop: Stop::After(Duration::from_secs_f64(seconds)),
            warmup: 500,
        }
    };

    let exe = std::env::current_exe().expect("own path");
    let mut results = Vec::new();
    for &variant in &plan.variants {
        eprintln!(
            "load: {} (load average {})",
            variant.name(),
            otel_benchmarks::load::process::load_average()
        );
        let r = run_variant(&exe, variant, &plan)
            .unwrap_or_else(|e| panic!("variant {}: {e}", variant.name()));
        results.push(r);
    }

    if smoke {
        let mut failed_variants = 0;
        for r in &results {
            let failed: u64 = r.phases.iter().map(|p| p.samples.failed).sum();
            // Each phase's own spans arrived (counted between phases).
            let phase_lost: u64 = r.phases.iter().filter_map(|p| p.spans_lost()).sum();
            println!(
                "load smoke: {}: {} requests ok, {failed} failed; spans expected {}, received {}, lost in phases {phase_lost}",
                r.variant.name(),
                r.requests,
                r.spans_expected,
                r.spans_received
            );
            if failed > 0 || r.spans_received != r.spans_expected || phase_lost > 0 {
                eprintln!("load smoke: FAILED {}", r.variant.name());
                failed_variants += 1;
            }
        }
        println!(
            "load smoke: {} passed, {failed_variants} failed",
            results.len() - failed_variants
        );
        if failed_variants > 0 {
            std::process::exit(1);
        }
        return;
    }

    let table = report::markdown(&results, plan.rate, plan.workers);
    print!("{table}");
    if let Some(path) = out {
        std::fs::write(&path, &table).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
}

/// `load sink-ceiling [--seconds S] [--batch N] [--connections a,b]`: the
/// sink's ceiling over both transports, as a markdown table on stdout.
fn sink_ceiling_main(args: &[String]) {
    let mut seconds = 5.0;
    let mut batch = 512;
    let mut connections = vec![1, 4];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--seconds" => seconds = value().parse().unwrap_or_else(|_| usage()),
            "--batch" => batch = value().parse().unwrap_or_else(|_| usage()),
            "--connections" => {
                connections = value()
                    .split(',')
                    .map(|c| c.parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            _ => usage(),
        }
    }
    let exe = std::env::current_exe().expect("own path");
    let mut ceilings = Vec::new();
    for transport in [
        sink_ceiling::Transport::Grpc,
        sink_ceiling::Transport::HttpProtobuf,
    ] {
        for &c in &connections {
            let r =
                sink_ceiling::measure(&exe, transport, batch, c, Duration::from_secs_f64(seconds))
                    .unwrap_or_else(|e| panic!("sink ceiling ({}): {e}", transport.name()));
            eprintln!(
                "load sink-ceiling: {} x{c}: {:.0} spans/s",
                transport.name(),
                r.spans_per_second
            );
            ceilings.push(r);
        }
    }
    print!("{}", sink_ceiling::markdown(&ceilings));
}

/// `load --lossless`: each variant's lossless throughput and loss at
/// saturation with the counting sink, as a markdown table.
fn lossless_main(plan: &lossless::SearchPlan, out: Option<String>) {
    let exe = std::env::current_exe().expect("own path");
    let mut results = Vec::new();
    for &variant in &plan.variants {
        eprintln!(
            "load lossless: {} (load average {})",
            variant.name(),
            otel_benchmarks::load::process::load_average()
        );
        let r = lossless::search_variant(&exe, variant, plan)
            .unwrap_or_else(|e| panic!("variant {}: {e}", variant.name()));
        results.push(r);
    }
    let table = lossless::markdown(&results, plan);
    print!("{table}");
    if let Some(path) = out {
        std::fs::write(&path, &table).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
}
