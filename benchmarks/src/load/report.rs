//! The load harness's results as markdown tables, with ratios to `bare`
//! and the targets checked.

use std::fmt::Write;
use std::time::Duration;

use super::{Mode, PhaseResult, Route, Variant, VariantResult};

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// Server CPU seconds per 10 000 requests.
fn cpu_per_10k(p: &PhaseResult) -> f64 {
    p.server_cpu.as_secs_f64() / p.samples.ok.max(1) as f64 * 10_000.0
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::FixedRate => "fixed rate",
        Mode::Saturation => "saturation",
    }
}

fn find(results: &[VariantResult], v: Variant, r: Route, m: Mode) -> Option<&PhaseResult> {
    results
        .iter()
        .find(|x| x.variant == v)?
        .phases
        .iter()
        .find(|p| p.route == r && p.mode == m)
}

/// Extra CPU per request over bare, in percent, and extra p99.
fn versus_bare(results: &[VariantResult], p: &PhaseResult) -> Option<(f64, f64)> {
    let bare = find(results, Variant::Bare, p.route, p.mode)?;
    let cpu = (cpu_per_10k(p) / cpu_per_10k(bare) - 1.0) * 100.0;
    let p99 =
        (p.samples.quantile(0.99).as_secs_f64() - bare.samples.quantile(0.99).as_secs_f64()) * 1e3;
    Some((cpu, p99))
}

/// The phases table, the spans table and the targets, as markdown.
pub fn markdown(results: &[VariantResult], rate: u64, workers: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Fixed rate: {rate} requests/s, open loop. Saturation: {workers} keep-alive workers, closed loop. \
         CPU: the server process's run time on the CPUs (its threads' `/proc/<pid>/task/*/schedstat`, ns) from the phase's first request until \
         its spans have reached rotel (the export of the phase's last batch included); collector: rotel's. \
         Spans lost: the phase's requests minus the spans rotel received for them.\n"
    );
    let _ = writeln!(
        out,
        "| route | mode | variant | requests/s | server CPU s / 10k req | CPU vs bare | p50 ms | p99 ms | p99 vs bare | failed | spans lost | rotel CPU s / 10k req |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for route in Route::ALL {
        for mode in [Mode::FixedRate, Mode::Saturation] {
            for r in results {
                let Some(p) = find(results, r.variant, route, mode) else {
                    continue;
                };
                let (cpu_vs, p99_vs) = match versus_bare(results, p) {
                    Some((c, l)) if r.variant != Variant::Bare => {
                        (format!("{c:+.1} %"), format!("{l:+.3} ms"))
                    }
                    _ => ("–".into(), "–".into()),
                };
                let rotel = p
                    .collector_cpu
                    .map(|c| {
                        format!(
                            "{:.3}",
                            c.as_secs_f64() / p.samples.ok.max(1) as f64 * 10_000.0
                        )
                    })
                    .unwrap_or_else(|| "–".into());
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.0} | {:.3} | {} | {} | {} | {} | {} | {} | {} |",
                    route.path(),
                    mode_name(mode),
                    r.variant.name(),
                    p.samples.rate(),
                    cpu_per_10k(p),
                    cpu_vs,
                    ms(p.samples.quantile(0.5)),
                    ms(p.samples.quantile(0.99)),
                    p99_vs,
                    p.samples.failed,
                    p.spans_lost()
                        .map_or_else(|| "–".to_string(), |l| l.to_string()),
                    rotel,
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\nSpans (one per request expected from every sampled variant):\n"
    );
    let _ = writeln!(
        out,
        "| variant | requests | spans expected | received by rotel | lost (dropped or not exported) | load average at start |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.variant.name(),
            r.requests,
            r.spans_expected,
            r.spans_received,
            r.spans_lost(),
            r.load_average
        );
    }
    let _ = writeln!(out, "\nTargets (fixed rate, both routes):\n");
    for route in Route::ALL {
        if let Some((cpu, p99)) = find(results, Variant::OursSampled, route, Mode::FixedRate)
            .and_then(|p| versus_bare(results, p))
        {
            // This phase's spans only (saturation may drop, by design of
            // the bounded queue).
            let lost = find(results, Variant::OursSampled, route, Mode::FixedRate)
                .and_then(PhaseResult::spans_lost)
                .unwrap_or(0);
            let _ = writeln!(
                out,
                "- `{}` ours 100 %: CPU {cpu:+.1} % (target ≤ +5 %: {}), p99 {p99:+.3} ms (target ≤ +1 ms: {}), lost spans {lost} (target 0: {})",
                route.path(),
                met(cpu <= 5.0),
                met(p99 <= 1.0),
                met(lost == 0),
            );
        }
        if let Some((cpu, _)) = find(results, Variant::OursUnsampled, route, Mode::FixedRate)
            .and_then(|p| versus_bare(results, p))
        {
            let _ = writeln!(
                out,
                "- `{}` ours unsampled: CPU {cpu:+.1} % (target ≤ +1 %: {})",
                route.path(),
                met(cpu <= 1.0),
            );
        }
    }
    out
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}
