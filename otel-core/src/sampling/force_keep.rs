use opentelemetry::Context;

/// Marker stored in a [`Context`] when an upstream asked for this trace to be
/// kept whatever the sampler would decide: the B3 debug flag (`b3: …-d`,
/// `X-B3-Flags: 1`), the Jaeger debug flag, or an explicit force-trace header.
///
/// Propagators set it on extract and re-propagate it on inject; the samplers in
/// this module honour it (see `ForceKeepSampler`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForceKeep;

/// Returns `cx` with the force-keep marker set.
pub fn with_force_keep(cx: &Context) -> Context {
    cx.with_value(ForceKeep)
}

/// Whether `cx` carries the force-keep marker.
pub fn is_force_keep(cx: &Context) -> bool {
    cx.get::<ForceKeep>().is_some()
}
