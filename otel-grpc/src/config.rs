//! Options shared by the server and client layers, and the instruments they
//! build once.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use otel_core::instrument::{BoundCache, DURATION_BUCKETS, Filter, HeaderCapture};
use otel_core::opentelemetry::metrics::{BoundHistogram, Histogram, MeterProvider};
use otel_core::opentelemetry::propagation::TextMapPropagator;
use otel_core::opentelemetry::trace::{SpanBuilder, TraceContextExt, Tracer, TracerProvider};
use otel_core::opentelemetry::{Context, InstrumentationScope, global};
use otel_core::propagation::HostAllowList;

use crate::names;
use crate::target::ServerAddress;

/// Starts a span under a parent and returns the context holding it (the
/// tracer's concrete span type is erased here, once, without a second box).
pub(crate) type StartFn = Arc<dyn Fn(SpanBuilder, &Context) -> Context + Send + Sync>;

/// Which side a layer instruments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// How many attribute sets the duration histogram binds (methods × status
/// codes × targets of a typical service fit; more are recorded unbound).
const BOUND_SETS: usize = 2048;

/// The attribute set of a bound `rpc.*.call.duration`: method, status code
/// and, on the client, the server address and port.
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct DurationKey {
    pub method: Arc<str>,
    pub code: i32,
    pub server: Option<(Arc<str>, Option<u16>)>,
}

pub(crate) struct Shared {
    pub side: Side,
    pub start: StartFn,
    pub propagator: Option<Arc<dyn TextMapPropagator + Send + Sync>>,
    pub duration: Histogram<f64>,
    /// `duration` bound per (method, status, server address) set.
    pub duration_bound: BoundCache<DurationKey, BoundHistogram<f64>>,
    pub old_duration: Option<Histogram<f64>>,
    pub dup: bool,
    pub filter: Option<Box<dyn Filter<str>>>,
    pub known_methods: Option<HashSet<Box<str>>>,
    pub request_metadata: HeaderCapture,
    pub response_metadata: HeaderCapture,
    pub public_endpoint: bool,
    pub target: Option<ServerAddress>,
    /// Client: the destinations context may be sent to (`None`: any).
    pub propagate_to: Option<HostAllowList>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("side", &self.side)
            .field("dup", &self.dup)
            .field("filter", &self.filter.is_some())
            .field(
                "known_methods",
                &self.known_methods.as_ref().map(HashSet::len),
            )
            .field("request_metadata", &self.request_metadata)
            .field("response_metadata", &self.response_metadata)
            .field("public_endpoint", &self.public_endpoint)
            .field("target", &self.target)
            .field("propagate_to", &self.propagate_to)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Whether a client call to `server` may carry context: always without
    /// an allow-list; with one, only to a listed destination (an unknown
    /// destination gets nothing).
    pub(crate) fn may_propagate_to(&self, server: Option<&ServerAddress>) -> bool {
        match (&self.propagate_to, server) {
            (None, _) => true,
            (Some(list), Some(server)) => list.allows(server.address()),
            (Some(_), None) => false,
        }
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("otel-grpc")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Marker for the server flavour of [`LayerBuilder`].
#[derive(Debug, Clone, Copy)]
pub enum ServerSide {}
/// Marker for the client flavour of [`LayerBuilder`].
#[derive(Debug, Clone, Copy)]
pub enum ClientSide {}

/// Options of a [`GrpcServerLayer`](crate::GrpcServerLayer) or
/// [`GrpcClientLayer`](crate::GrpcClientLayer). Every option has a default:
/// the global tracer and meter providers and propagator, every method traced,
/// no metadata captured, `rpc/dup` from `OTEL_SEMCONV_STABILITY_OPT_IN`.
pub struct LayerBuilder<S> {
    start: Option<StartFn>,
    meter: Option<otel_core::opentelemetry::metrics::Meter>,
    propagator: Option<Arc<dyn TextMapPropagator + Send + Sync>>,
    dup: Option<bool>,
    filter: Option<Box<dyn Filter<str>>>,
    known_methods: Option<HashSet<Box<str>>>,
    request_metadata: HeaderCapture,
    response_metadata: HeaderCapture,
    public_endpoint: bool,
    target: Option<ServerAddress>,
    propagate_to: Option<HostAllowList>,
    _side: PhantomData<fn() -> S>,
}

impl<S> fmt::Debug for LayerBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerBuilder")
            .field("dup", &self.dup)
            .field("filter", &self.filter.is_some())
            .field("public_endpoint", &self.public_endpoint)
            .field("target", &self.target)
            .field("propagate_to", &self.propagate_to)
            .finish_non_exhaustive()
    }
}

impl<S> Default for LayerBuilder<S> {
    fn default() -> Self {
        LayerBuilder {
            start: None,
            meter: None,
            propagator: None,
            dup: None,
            filter: None,
            known_methods: None,
            request_metadata: HeaderCapture::default(),
            response_metadata: HeaderCapture::default(),
            public_endpoint: false,
            target: None,
            propagate_to: None,
            _side: PhantomData,
        }
    }
}

impl<S> LayerBuilder<S> {
    /// Spans go to this tracer provider instead of the global one.
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        let tracer = provider.tracer_with_scope(scope());
        self.start = Some(Arc::new(move |builder, parent| {
            parent.with_span(tracer.build_with_context(builder, parent))
        }));
        self
    }

    /// Metrics go to this meter provider instead of the global one.
    pub fn meter_provider<P: MeterProvider>(mut self, provider: &P) -> Self {
        self.meter = Some(provider.meter_with_scope(scope()));
        self
    }

    /// Propagates with this propagator instead of the global one
    /// (`otel_core::init` installs the configured W3C / B3 / Jaeger / mesh
    /// composite globally).
    pub fn propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.propagator = Some(Arc::new(propagator));
        self
    }

    /// Emits the old RPC names as well (`rpc.system`, `rpc.service`, short
    /// `rpc.method`, integer `rpc.grpc.status_code`, `rpc.message` events,
    /// `rpc.{server,client}.duration` in ms). Default: whether
    /// `OTEL_SEMCONV_STABILITY_OPT_IN` contains `rpc/dup`.
    pub fn semconv_dup(mut self, dup: bool) -> Self {
        self.dup = Some(dup);
        self
    }

    /// Only calls whose fully qualified method (`pkg.Service/Method`) passes
    /// `filter` are traced and measured; the others pass through untouched.
    /// See [`crate::filter`] for ready filters.
    pub fn filter(mut self, filter: impl Filter<str> + 'static) -> Self {
        self.filter = Some(Box::new(filter));
        self
    }

    /// The methods (`pkg.Service/Method`) this side knows. A call to any
    /// other method is recorded as `rpc.method=_OTHER` with
    /// `rpc.method_original`, and its span is named `grpc`. Default: every
    /// well-formed path is a known method.
    pub fn known_methods<I, M>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = M>,
        M: AsRef<str>,
    {
        self.known_methods = Some(
            methods
                .into_iter()
                .map(|m| {
                    let m = m.as_ref();
                    Box::from(m.strip_prefix('/').unwrap_or(m))
                })
                .collect(),
        );
        self
    }

    /// Records these request metadata keys as `rpc.request.metadata.<key>`
    /// (string arrays). Credentials (`authorization`, ...) are refused; see
    /// [`HeaderCapture`].
    pub fn request_metadata<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        self.request_metadata = HeaderCapture::new(names::REQUEST_METADATA_PREFIX, keys);
        self
    }

    /// Records these response metadata keys (headers and trailers) as
    /// `rpc.response.metadata.<key>`.
    pub fn response_metadata<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        self.response_metadata = HeaderCapture::new(names::RESPONSE_METADATA_PREFIX, keys);
        self
    }

    pub(crate) fn into_shared(self, side: Side) -> Arc<Shared> {
        let start = self.start.unwrap_or_else(|| {
            let tracer = global::tracer_provider().tracer_with_scope(scope());
            Arc::new(move |builder, parent| {
                parent.with_span(tracer.build_with_context(builder, parent))
            })
        });
        let meter = self
            .meter
            .unwrap_or_else(|| global::meter_provider().meter_with_scope(scope()));
        let dup = self
            .dup
            .unwrap_or_else(|| otel_core::config::semconv_stability().rpc.emit_old());
        let (name, old_name, what) = match side {
            Side::Server => (
                names::RPC_SERVER_CALL_DURATION,
                names::RPC_SERVER_DURATION,
                "Duration of gRPC calls handled by this server.",
            ),
            Side::Client => (
                names::RPC_CLIENT_CALL_DURATION,
                names::RPC_CLIENT_DURATION,
                "Duration of gRPC calls made by this client.",
            ),
        };
        let duration = meter
            .f64_histogram(name)
            .with_unit("s")
            .with_description(what)
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build();
        let old_duration = dup.then(|| {
            meter
                .f64_histogram(old_name)
                .with_unit("ms")
                .with_description(what)
                .with_boundaries(DURATION_BUCKETS.iter().map(|s| s * 1000.0).collect())
                .build()
        });
        Arc::new(Shared {
            side,
            start,
            propagator: self.propagator,
            duration,
            duration_bound: BoundCache::new(BOUND_SETS),
            old_duration,
            dup,
            filter: self.filter,
            known_methods: self.known_methods,
            request_metadata: self.request_metadata,
            response_metadata: self.response_metadata,
            public_endpoint: self.public_endpoint,
            target: self.target,
            propagate_to: self.propagate_to,
        })
    }
}

impl LayerBuilder<ServerSide> {
    /// Public-endpoint mode: every call starts a new trace, linked to the
    /// caller's context instead of being its child (for services that must
    /// not trust an incoming `traceparent`).
    pub fn public_endpoint(mut self, public: bool) -> Self {
        self.public_endpoint = public;
        self
    }

    /// Builds the layer.
    pub fn build(self) -> crate::GrpcServerLayer {
        crate::GrpcServerLayer::from_shared(self.into_shared(Side::Server))
    }
}

impl LayerBuilder<ClientSide> {
    /// The channel target (`http://orders:50051`, `dns:///orders:50051`,
    /// `unix:///run/orders.sock`, ...): the source of `server.address` and
    /// `server.port`, parsed as [`ServerAddress::parse`] describes. Without
    /// it, the request URI's authority is used when it has one (requests
    /// through a tonic `Channel` have none: set the target).
    pub fn target(mut self, target: &str) -> Self {
        self.target = Some(ServerAddress::parse(target));
        self
    }

    /// An explicit `server.address` / `server.port`.
    pub fn server_address(mut self, address: ServerAddress) -> Self {
        self.target = Some(address);
        self
    }

    /// Sends context (trace headers, baggage, forwarded mesh headers: all
    /// the propagator injects) only to these destinations; calls elsewhere
    /// still get their CLIENT span, without any context in their metadata.
    ///
    /// The destination is the call's `server.address`: the
    /// [`target`](Self::target) (or [`server_address`](Self::server_address)),
    /// else the request URI's host. Entries are exact host names (compared
    /// ASCII case-insensitively; IPv6 literals with or without brackets; a
    /// unix socket path for `unix:` targets) or `*.suffix` wildcards, which
    /// match any name strictly below `suffix` (`*.svc.cluster.local`
    /// matches `orders.svc.cluster.local`, not `svc.cluster.local` nor
    /// `evilsvc.cluster.local`). Ports are not compared. With a list, a
    /// call whose destination is unknown (no target and no URI authority)
    /// gets no context. Default: no list, context goes everywhere.
    ///
    /// ```
    /// use otel_grpc::GrpcClientLayer;
    ///
    /// let layer = GrpcClientLayer::builder()
    ///     .target("http://orders.svc.cluster.local:50051")
    ///     .propagate_to(["*.svc.cluster.local", "billing.internal"])
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn propagate_to<I, H>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = H>,
        H: AsRef<str>,
    {
        self.propagate_to = Some(HostAllowList::new(hosts));
        self
    }

    /// Builds the layer.
    pub fn build(self) -> crate::GrpcClientLayer {
        crate::GrpcClientLayer::from_shared(self.into_shared(Side::Client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matching() {
        let list = HostAllowList::new([
            "api.local",
            "*.svc.cluster.local",
            "[::1]",
            "10.0.0.7",
            "/run/orders.sock",
            "",
        ]);
        assert!(list.allows("api.local"));
        assert!(list.allows("API.Local"));
        assert!(list.allows("orders.svc.cluster.local"));
        assert!(list.allows("a.b.svc.cluster.local"));
        assert!(list.allows("Orders.SVC.cluster.LOCAL"));
        assert!(!list.allows("svc.cluster.local"));
        assert!(!list.allows(".svc.cluster.local"));
        assert!(!list.allows("evilsvc.cluster.local"));
        assert!(!list.allows("svc.cluster.local.evil.com"));
        assert!(!list.allows("api.local.evil.com"));
        assert!(list.allows("::1"));
        assert!(list.allows("10.0.0.7"));
        assert!(!list.allows("10.0.0.70"));
        assert!(list.allows("/run/orders.sock"));
        // The empty entry was dropped: an empty address never matches.
        assert!(!list.allows(""));
        // Non-ASCII never matches by accident and never panics.
        assert!(!list.allows("é.svc.cluster.local.x"));
        assert!(!list.allows("éé"));
        assert!(!list.allows("ééééééééééééééééééééé"));
    }

    #[test]
    fn unknown_destination_gets_nothing_under_a_list() {
        let open = LayerBuilder::<ClientSide>::default().into_shared(Side::Client);
        assert!(open.may_propagate_to(None));
        assert!(open.may_propagate_to(Some(&ServerAddress::new("x.example", None))));
        let listed = LayerBuilder::<ClientSide>::default()
            .propagate_to(["*.internal"])
            .into_shared(Side::Client);
        assert!(!listed.may_propagate_to(None));
        assert!(listed.may_propagate_to(Some(&ServerAddress::parse("dns:///a.internal:443"))));
        assert!(!listed.may_propagate_to(Some(&ServerAddress::parse("http://a.example:80"))));
        let empty = LayerBuilder::<ClientSide>::default()
            .propagate_to(Vec::<String>::new())
            .into_shared(Side::Client);
        assert!(!empty.may_propagate_to(Some(&ServerAddress::new("a.internal", None))));
    }
}
