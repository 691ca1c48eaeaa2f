use super::{Diagnostics, Environment};
use std::sync::OnceLock;

/// Which names a convention area emits, from `OTEL_SEMCONV_STABILITY_OPT_IN`.
///
/// This crate family is new and has no legacy names to keep, so the default is
/// the current conventions; `{area}/dup` adds the old names next to them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StabilityMode {
    /// Emit the current conventions only (default; also `http`, `rpc`, `messaging`).
    #[default]
    Current,
    /// Emit the current and the old conventions (`http/dup`, `rpc/dup`, `messaging/dup`).
    Duplicate,
}

impl StabilityMode {
    /// Whether the old names are emitted as well.
    pub fn emit_old(self) -> bool {
        self == StabilityMode::Duplicate
    }
}

/// Where exceptions go, from `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExceptionSignal {
    /// `exception` span events (default).
    #[default]
    SpanEvents,
    /// Log records only (`logs`).
    Logs,
    /// Both span events and log records (`logs/dup`).
    Both,
}

impl ExceptionSignal {
    /// Whether exceptions are recorded as span events.
    pub fn span_events(self) -> bool {
        matches!(self, ExceptionSignal::SpanEvents | ExceptionSignal::Both)
    }

    /// Whether exceptions are emitted as log records.
    pub fn logs(self) -> bool {
        matches!(self, ExceptionSignal::Logs | ExceptionSignal::Both)
    }
}

/// The semantic-convention opt-ins, parsed once and shared by every layer crate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SemconvStability {
    /// HTTP names (`http`, `http/dup`).
    pub http: StabilityMode,
    /// RPC names (`rpc`, `rpc/dup`).
    pub rpc: StabilityMode,
    /// Messaging names (`messaging`, `messaging/dup`).
    pub messaging: StabilityMode,
    /// Exception signal (`OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`).
    pub exceptions: ExceptionSignal,
}

impl SemconvStability {
    /// Parses `OTEL_SEMCONV_STABILITY_OPT_IN` (comma-separated; `/dup` beats the
    /// plain value) and `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`.
    pub fn from_env(env: &Environment, diag: &mut Diagnostics) -> Self {
        let mut out = SemconvStability::default();
        if let Some(raw) = env.get("OTEL_SEMCONV_STABILITY_OPT_IN") {
            for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let item = item.to_ascii_lowercase();
                let (area, dup) = match item.strip_suffix("/dup") {
                    Some(area) => (area, true),
                    None => (item.as_str(), false),
                };
                let slot = match area {
                    "http" => &mut out.http,
                    "rpc" => &mut out.rpc,
                    "messaging" => &mut out.messaging,
                    // Other areas (database, k8s, ...) are not ours: nothing to do.
                    _ => continue,
                };
                if dup {
                    *slot = StabilityMode::Duplicate;
                }
            }
        }
        if let Some(raw) = env.get("OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN") {
            out.exceptions = match raw.to_ascii_lowercase().as_str() {
                "logs" => ExceptionSignal::Logs,
                "logs/dup" => ExceptionSignal::Both,
                _ => {
                    diag.push(
                        "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN",
                        raw,
                        "unknown value (logs or logs/dup)",
                        "exceptions stay span events",
                    );
                    ExceptionSignal::SpanEvents
                }
            };
        }
        out
    }
}

static STABILITY: OnceLock<SemconvStability> = OnceLock::new();

/// The process-wide semantic-convention opt-ins the layer crates read when
/// they are built.
///
/// Set by [`crate::init`] / the setup builder; read from the process
/// environment on first use if setup has not run.
pub fn semconv_stability() -> SemconvStability {
    *STABILITY.get_or_init(|| {
        SemconvStability::from_env(&Environment::from_process(), &mut Diagnostics::default())
    })
}

/// Records the opt-ins chosen by setup. The first value wins: layers built
/// earlier have already read it.
pub(crate) fn set_semconv_stability(value: SemconvStability) {
    let _ = STABILITY.set(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> SemconvStability {
        SemconvStability::from_env(
            &Environment::from_pairs([("OTEL_SEMCONV_STABILITY_OPT_IN", v)]),
            &mut Diagnostics::default(),
        )
    }

    #[test]
    fn opt_in_values() {
        assert_eq!(parse(""), SemconvStability::default());
        assert_eq!(parse("http").http, StabilityMode::Current);
        assert_eq!(parse("http/dup").http, StabilityMode::Duplicate);
        assert_eq!(parse("http,http/dup").http, StabilityMode::Duplicate);
        assert_eq!(parse("http/dup,http").http, StabilityMode::Duplicate);
        let all = parse(" rpc/dup , MESSAGING/dup,database/dup");
        assert_eq!(all.rpc, StabilityMode::Duplicate);
        assert_eq!(all.messaging, StabilityMode::Duplicate);
        assert_eq!(all.http, StabilityMode::Current);
    }

    #[test]
    fn exception_signal() {
        let mut d = Diagnostics::default();
        let get = |v: &str, d: &mut Diagnostics| {
            SemconvStability::from_env(
                &Environment::from_pairs([("OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN", v)]),
                d,
            )
            .exceptions
        };
        assert_eq!(get("logs", &mut d), ExceptionSignal::Logs);
        assert_eq!(get("logs/dup", &mut d), ExceptionSignal::Both);
        assert!(d.is_empty());
        assert_eq!(get("spans", &mut d), ExceptionSignal::SpanEvents);
        assert!(d.mentions("OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN"));
        assert!(ExceptionSignal::Both.logs() && ExceptionSignal::Both.span_events());
    }
}
