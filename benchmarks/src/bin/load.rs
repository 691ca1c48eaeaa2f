//! The load harness (see `otel_benchmarks::load`).
//!
//! ```text
//! load [--quick | --smoke] [--rate N] [--seconds S] [--workers N]
//!      [--variants bare,ours_sampled,...] [--out FILE]
//! load serve <variant> [otlp-grpc-endpoint]     (the server child; internal)
//! ```
//!
//! Default: 10 s per phase at 1000 requests/s (open loop) and 32 workers
//! (closed loop). `--quick`: 3 s per phase. `--smoke`: a few hundred
//! requests per variant, checking only correctness (every request succeeds,
//! every expected span reaches the collector); exits non-zero otherwise.
//! Needs `OTEL_TEST_ROTEL` (set by `scripts/test`) or the repo's `.venv`.

use std::time::Duration;

use otel_benchmarks::load::driver::Stop;
use otel_benchmarks::load::{Plan, Variant, report, run_variant, server};

fn usage() -> ! {
    eprintln!(
        "usage: load [--quick | --smoke] [--rate N] [--seconds S] [--workers N] [--variants a,b] [--out FILE]\n\
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

    let mut smoke = false;
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
            "--rate" => rate = value().parse().unwrap_or_else(|_| usage()),
            "--seconds" => seconds = value().parse().unwrap_or_else(|_| usage()),
            "--workers" => workers = value().parse().unwrap_or_else(|_| usage()),
            "--variants" => {
                variants = value()
                    .split(',')
                    .map(|v| Variant::parse(v).unwrap_or_else(|| usage()))
                    .collect()
            }
            "--out" => out = Some(value()),
            _ => usage(),
        }
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
