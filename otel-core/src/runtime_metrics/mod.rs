//! Process and Tokio runtime metrics (opt-in), through the setup's meter
//! provider.
//!
//! Turn them on with `OTEL_KIT_RUNTIME_METRICS=process,tokio` (also `none`)
//! or [`TelemetryBuilder::runtime_metrics`](crate::TelemetryBuilder::runtime_metrics);
//! the variable wins over the builder.
//!
//! ```no_run
//! use otel_kit_core::runtime_metrics::RuntimeMetric;
//!
//! # #[tokio::main] async fn main() -> Result<(), otel_kit_core::SetupError> {
//! let telemetry = otel_kit_core::Telemetry::builder()
//!     .service_name("checkout")
//!     .runtime_metrics(&[RuntimeMetric::Process, RuntimeMetric::Tokio])
//!     .install()?; // inside the runtime to observe (or `.tokio_runtime(handle)`)
//! # drop(telemetry); Ok(()) }
//! ```
//!
//! **`process`**: the process metrics of the semantic conventions (v1.44),
//! read from `/proc/self` at each collection. Linux (and Android) only: on
//! other platforms none is reported and setup says so in its diagnostics.
//!
//! | metric | instrument | unit | attributes |
//! |---|---|---|---|
//! | `process.cpu.time` | counter | `s` | `cpu.mode` = `user`, `system` |
//! | `process.cpu.utilization` | gauge | `1` | `cpu.mode`; CPU time since the previous collection over elapsed time × available CPUs |
//! | `process.memory.usage` | updowncounter | `By` | resident set size |
//! | `process.memory.virtual` | updowncounter | `By` | virtual memory size |
//! | `process.thread.count` | updowncounter | `{thread}` | |
//! | `process.unix.file_descriptor.count` | updowncounter | `{file_descriptor}` | open descriptors (the v1.44 name of `process.open_file_descriptor.count`) |
//! | `process.context_switches` | counter | `{context_switch}` | `process.context_switch.type` = `voluntary`, `involuntary` |
//! | `process.uptime` | gauge | `s` | |
//!
//! **`tokio`**: this project's `tokio.*` metrics from the stable
//! [`RuntimeMetrics`](::tokio::runtime::RuntimeMetrics) of the runtime
//! `install` runs in (or the one given to
//! [`tokio_runtime`](crate::TelemetryBuilder::tokio_runtime)); see
//! `semconv/model` for their definitions.
//!
//! | metric | instrument | unit | when |
//! |---|---|---|---|
//! | `tokio.worker.count` | updowncounter | `{thread}` | always |
//! | `tokio.task.count` | updowncounter | `{task}` | always: tasks alive |
//! | `tokio.global_queue.depth` | updowncounter | `{task}` | always: tasks in the global (injection) queue |
//! | `tokio.worker.busy_time` | counter | `s` | per worker (`tokio.worker.index`), platforms with 64-bit atomics |
//! | `tokio.worker.parks` | counter | `{park}` | per worker, platforms with 64-bit atomics |
//! | `tokio.worker.polls` | counter | `{poll}` | per worker, only when built with `RUSTFLAGS="--cfg tokio_unstable"` |
//! | `tokio.worker.steals` | counter | `{steal}` | per worker, only when built with `RUSTFLAGS="--cfg tokio_unstable"` |

mod process;
mod tokio;

use crate::config::{Diagnostics, Environment};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;

/// The variable listing the runtime metrics to report.
pub(crate) const VARIABLE: &str = "OTEL_KIT_RUNTIME_METRICS";

/// A group of runtime metrics (`OTEL_KIT_RUNTIME_METRICS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuntimeMetric {
    /// `process.*` from `/proc/self` (Linux).
    Process,
    /// `tokio.*` from the Tokio runtime's `RuntimeMetrics`.
    Tokio,
}

impl RuntimeMetric {
    /// The variable's spelling: `process`, `tokio`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeMetric::Process => "process",
            RuntimeMetric::Tokio => "tokio",
        }
    }

    fn parse(s: &str) -> Result<Option<RuntimeMetric>, &'static str> {
        match s {
            "process" => Ok(Some(RuntimeMetric::Process)),
            "tokio" => Ok(Some(RuntimeMetric::Tokio)),
            "none" => Ok(None),
            _ => Err(" (expected process, tokio or none)"),
        }
    }
}

/// The runtime metrics `OTEL_KIT_RUNTIME_METRICS` asks for (none when unset).
pub(crate) fn from_env(env: &Environment, diag: &mut Diagnostics) -> Vec<RuntimeMetric> {
    crate::config::parse::enum_list(env, diag, VARIABLE, RuntimeMetric::parse)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// What [`register`] needs, resolved before anything is built (so that a
/// missing runtime is a diagnostic that strict mode sees).
#[derive(Debug, Default)]
pub(crate) struct RuntimeMetrics {
    process: bool,
    tokio: Option<::tokio::runtime::Handle>,
}

impl RuntimeMetrics {
    /// Resolves `kinds`: the Tokio runtime is `handle` or the current one.
    pub(crate) fn resolve(
        kinds: &[RuntimeMetric],
        handle: Option<::tokio::runtime::Handle>,
        diag: &mut Diagnostics,
    ) -> Self {
        let value = kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let process = kinds.contains(&RuntimeMetric::Process);
        if process && !process::SUPPORTED {
            diag.push(
                VARIABLE,
                &value,
                "process metrics are read from /proc and only available on Linux",
                "no process metrics",
            );
        }
        let tokio = if kinds.contains(&RuntimeMetric::Tokio) {
            let handle = handle.or_else(|| ::tokio::runtime::Handle::try_current().ok());
            if handle.is_none() {
                diag.push(
                    VARIABLE,
                    &value,
                    "setup did not run inside a Tokio runtime and none was given \
                     (TelemetryBuilder::tokio_runtime)",
                    "no tokio metrics",
                );
            }
            handle
        } else {
            None
        };
        Self {
            process: process && process::SUPPORTED,
            tokio,
        }
    }

    /// Registers the instruments with `provider`.
    pub(crate) fn register(self, provider: &SdkMeterProvider) {
        if !self.process && self.tokio.is_none() {
            return;
        }
        let meter = provider.meter_with_scope(crate::instrument::scope(
            "otel-kit-core",
            env!("CARGO_PKG_VERSION"),
        ));
        if self.process {
            process::register(&meter);
        }
        if let Some(handle) = self.tokio {
            tokio::register(&meter, handle);
        }
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests;
