//! Setup: one call installs tracing, metrics and logs from the environment
//! or from a declarative configuration file (`OTEL_CONFIG_FILE`).
//!
//! [`init`] reads everything from the standard `OTEL_*` variables;
//! [`Telemetry::builder`] does the same with code-level defaults: a builder
//! value is overridden by its variable (or the configuration file) unless set
//! with a `force_*` setter. Both return a [`Telemetry`] guard that
//! flushes and shuts every provider down when dropped.

mod batch_export;
mod builder;
mod compose;
mod guard;
mod limits;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
mod otlp;
#[cfg(feature = "prometheus")]
mod prometheus;
mod runtime;
mod span_pipeline;

pub use builder::TelemetryBuilder;
pub use guard::{SetupReport, ShutdownError, Telemetry, ValueSource};
pub use span_pipeline::ExportStats;
pub(crate) use span_pipeline::SpanPipeline;

use crate::config::Diagnostics;
use std::fmt;

/// Installs tracing, metrics and logs configured from the `OTEL_*`
/// environment, with the global providers and propagator set.
///
/// Equivalent to `Telemetry::builder().install()`. Invalid values are reported
/// on stderr (naming the variable and value) and in
/// [`Telemetry::report`], and their defaults are used.
///
/// ```no_run
/// # fn main() -> Result<(), otel_kit_core::SetupError> {
/// let telemetry = otel_kit_core::init()?;
/// // ... serve requests ...
/// drop(telemetry); // flushes and shuts down every provider
/// # Ok(()) }
/// ```
pub fn init() -> Result<Telemetry, SetupError> {
    Telemetry::builder().install()
}

/// Why setup failed. Without strict mode only the export runtime failing to
/// start is an error: every configuration problem is a diagnostic instead.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupError {
    /// Strict mode: the configuration had problems (every one is listed).
    InvalidConfiguration(Diagnostics),
    /// The export runtime (a dedicated thread) could not start.
    Runtime(std::io::Error),
    /// The declarative configuration file cannot be used (unreadable, not
    /// YAML, an invalid `${...}` reference, an unknown `file_format`).
    #[cfg(feature = "config-file")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config-file")))]
    ConfigFile(crate::config::file::FileError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::InvalidConfiguration(d) => {
                write!(
                    f,
                    "invalid OpenTelemetry configuration ({} problems):\n{d}",
                    d.len()
                )
            }
            SetupError::Runtime(e) => write!(f, "cannot start the export runtime: {e}"),
            #[cfg(feature = "config-file")]
            SetupError::ConfigFile(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetupError::Runtime(e) => Some(e),
            SetupError::InvalidConfiguration(_) => None,
            #[cfg(feature = "config-file")]
            SetupError::ConfigFile(e) => Some(e),
        }
    }
}
