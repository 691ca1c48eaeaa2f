//! Ready filters over the fully qualified method name (`pkg.Service/Method`,
//! without the leading `/`), to combine with [`otel_kit_core::instrument`]'s
//! [`any`](otel_kit_core::instrument::any), [`all`](otel_kit_core::instrument::all),
//! [`not`](otel_kit_core::instrument::not) and [`FilterExt`](otel_kit_core::instrument::FilterExt).
//!
//! A filter passing means "instrument this call": to skip health checks,
//! pass `not(health_check())`.
//!
//! ```
//! use otel_kit_core::instrument::{Filter, FilterExt, not};
//! use otel_kit_grpc::filter::{health_check, method_prefix};
//!
//! let traced = not(health_check().or(method_prefix("grpc.reflection.")));
//! assert!(traced.matches("shop.Orders/GetOrder"));
//! assert!(!traced.matches("grpc.health.v1.Health/Check"));
//! assert!(!traced.matches("grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
//! ```

use otel_kit_core::instrument::Filter;

/// The standard health-checking service, `grpc.health.v1.Health`.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// Passes for exactly this method (`pkg.Service/Method`; a leading `/` is ignored).
pub fn method(name: impl Into<String>) -> impl Filter<str> + Clone + 'static {
    let name = name.into();
    let name = name.strip_prefix('/').map(str::to_owned).unwrap_or(name);
    move |m: &str| m == name
}

/// Passes for methods starting with `prefix` (e.g. `grpc.` or `shop.v1.Orders/Get`).
pub fn method_prefix(prefix: impl Into<String>) -> impl Filter<str> + Clone + 'static {
    let prefix = prefix.into();
    move |m: &str| m.starts_with(prefix.as_str())
}

/// Passes for every method of the service `pkg.Service`.
pub fn service(name: impl Into<String>) -> impl Filter<str> + Clone + 'static {
    let name = name.into();
    move |m: &str| m.split_once('/').is_some_and(|(s, _)| s == name)
}

/// Passes for the health-checking service's methods (`Check`, `Watch`).
pub fn health_check() -> impl Filter<str> + Clone + 'static {
    service(HEALTH_SERVICE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use otel_kit_core::instrument::{FilterExt, all, any, not};

    #[test]
    fn filters() {
        assert!(method("/a.S/M").matches("a.S/M"));
        assert!(!method("a.S/M").matches("a.S/MM"));
        assert!(service("a.S").matches("a.S/M"));
        assert!(!service("a.S").matches("a.SS/M"));
        assert!(!service("a.S").matches("a.S"));
        assert!(health_check().matches("grpc.health.v1.Health/Watch"));
        let f = all([not(health_check()).boxed(), method_prefix("shop.").boxed()]);
        assert!(f.matches("shop.O/G"));
        assert!(!f.matches("x.O/G"));
        let g = any([method("a.S/M").boxed(), service("b.S").boxed()]);
        assert!(g.matches("b.S/X") && g.matches("a.S/M") && !g.matches("a.S/X"));
    }
}
