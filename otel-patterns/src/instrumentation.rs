//! How the patterns record: the crate's instrumentation scope, the options
//! every pattern builder embeds, and what they resolve to.

use opentelemetry::metrics::Meter;
use opentelemetry::{KeyValue, StringValue, Value};
use otel_kit_core::instrument::{ExceptionEvents, Options, SemconvArea, SpanStarter, scope};
use otel_kit_core::opentelemetry;
use std::sync::Arc;

/// The instrumentation scope name of every span, metric and log record of
/// this crate.
pub const SCOPE: &str = "otel-kit-patterns";

/// The options a pattern builder starts from: the global providers, the
/// exception signal of `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`.
pub(crate) fn options() -> Options {
    Options::new(scope(SCOPE, env!("CARGO_PKG_VERSION")))
}

/// What a built pattern records with.
#[derive(Clone, Debug)]
pub(crate) struct Instruments {
    /// Starts the pattern's spans.
    pub(crate) tracer: SpanStarter,
    /// Builds the pattern's metrics.
    pub(crate) meter: Meter,
    /// Where exceptions go.
    pub(crate) exceptions: ExceptionEvents,
}

impl Instruments {
    /// Fills in the defaults of `options` (global providers are read now).
    pub(crate) fn resolve(options: Options) -> Self {
        let r = options.resolve(SemconvArea::None, "", "");
        Instruments {
            tracer: r.tracer,
            meter: r.meter,
            exceptions: r.exceptions,
        }
    }
}

/// A string attribute sharing `value` (cloning it clones an `Arc`, not the text).
pub(crate) fn shared_kv(key: &'static str, value: Arc<str>) -> KeyValue {
    KeyValue::new(key, Value::String(StringValue::from(value)))
}
