//! Turning the configuration into the sampler, propagator and resource.

use crate::config::{Config, Diagnostics, Environment, PropagatorKind};
use crate::propagation::{
    B3Propagator, BaggagePropagator, ForwardHeadersPropagator, JaegerPropagator,
    TraceContextPropagator,
};
use crate::resource::{FileSystemRoot, ResourceComposer, ResourceDetection};
use crate::sampling::SamplerSpec;
use opentelemetry::KeyValue;

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::ShouldSample;

/// The sampler named by `OTEL_TRACES_SAMPLER` / `_ARG`; an invalid argument is
/// reported and treated as unset, an unknown sampler as the default
/// `parentbased_always_on` (see `SamplerSpecError::fallback`).
pub(crate) fn sampler(
    config: &Config,
    force_keep: bool,
    diag: &mut Diagnostics,
) -> (Box<dyn ShouldSample>, String) {
    let name = config.sampler.as_deref();
    let arg = if name.is_some() {
        config.sampler_arg.as_deref()
    } else {
        None
    };
    let spec = match &config.sampler_spec {
        Some(spec) => Ok(spec.clone()),
        None => SamplerSpec::from_env_values(name, arg),
    };
    let spec = spec.unwrap_or_else(|e| {
        let fallback = e.fallback();
        diag.push(
            e.variable(),
            e.value(),
            e.to_string(),
            format!("using {fallback}"),
        );
        fallback
    });
    let spec = spec.with_force_keep(force_keep);
    let text = spec.to_string();
    (spec.build(), text)
}

/// The composite propagator in `OTEL_PROPAGATORS` order, followed by mesh
/// header forwarding (`x-request-id` plus `extra`) unless `forward` is `None`.
/// A force-trace header is honoured only when named (any client can send one,
/// so it is opt-in). Invalid extra names are reported and skipped.
pub(crate) fn propagator(
    kinds: &[PropagatorKind],
    forward: Option<&[String]>,
    force_trace_header: Option<&str>,
    diag: &mut Diagnostics,
) -> TextMapCompositePropagator {
    let mut list: Vec<Box<dyn TextMapPropagator + Send + Sync>> = kinds
        .iter()
        .map(|k| -> Box<dyn TextMapPropagator + Send + Sync> {
            match k {
                PropagatorKind::TraceContext => Box::new(TraceContextPropagator::new()),
                PropagatorKind::Baggage => Box::new(BaggagePropagator::new()),
                PropagatorKind::B3 => Box::new(B3Propagator::single()),
                PropagatorKind::B3Multi => Box::new(B3Propagator::multi()),
                PropagatorKind::Jaeger => Box::new(JaegerPropagator::new()),
            }
        })
        .collect();
    if let Some(extra) = forward {
        let mut b = ForwardHeadersPropagator::builder().without_force_trace();
        if let Some(name) = force_trace_header {
            b = b.force_trace_header(name);
        }
        for name in extra {
            match ForwardHeadersPropagator::builder()
                .header(name.clone())
                .build()
            {
                Ok(_) => b = b.header(name.clone()),
                Err(e) => diag.push(
                    "forward_headers",
                    name.clone(),
                    e.to_string(),
                    "header not forwarded",
                ),
            }
        }
        for p in &list {
            b = b.exclude_fields_of(p.as_ref());
        }
        match b.build() {
            Ok(fwd) => list.push(Box::new(fwd)),
            Err(e) => diag.push(
                "forward_headers",
                extra.join(","),
                e.to_string(),
                "only x-request-id is forwarded",
            ),
        }
    }
    TextMapCompositePropagator::new(list)
}

/// The resource: detected < code defaults < `OTEL_RESOURCE_ATTRIBUTES` <
/// `OTEL_SERVICE_NAME` < a file's typed attributes < forced by code.
pub(crate) fn resource(
    config: &Config,
    env: &Environment,
    detection: ResourceDetection,
    defaults: Vec<KeyValue>,
    forced: Vec<KeyValue>,
    diag: &mut Diagnostics,
) -> Resource {
    let mut c = ResourceComposer::new();
    c.detected(detection.detect(env, &FileSystemRoot::host()));
    // Code's defaults rank above detection and below the deployment.
    c.detected(defaults);
    for d in c.env(env) {
        diag.push(d.variable, d.value.clone(), d.error.to_string(), d.action());
    }
    // A configuration file's typed attributes rank above its attributes_list.
    c.with_attributes(config.resource.iter().cloned());
    c.with_attributes(forced);
    c.build()
}
