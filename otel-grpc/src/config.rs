//! Options shared by the server and client layers, and the instruments they
//! build once.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use otel_kit_core::instrument::{
    BoundCache, ExceptionEvent, ExceptionEvents, Filter, HeaderCapture, Options, Propagation,
    SemconvArea, SpanStarter, duration_histogram, old_duration_histogram_ms, scope,
};
use otel_kit_core::opentelemetry::metrics::{BoundHistogram, Histogram};
use otel_kit_core::propagation::HostAllowList;

use crate::method::MethodCache;
use crate::names;
use crate::target::ServerAddress;

/// Which side a layer instruments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// How many attribute sets the duration histogram binds (methods × status
/// codes × targets of a typical service fit; more are recorded unbound).
const BOUND_SETS: usize = 2048;

/// The attribute set of a bound `rpc.*.call.duration`: method, status code,
/// `error.type` and, on the client, the server address and port.
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct DurationKey {
    pub method: Arc<str>,
    pub code: i32,
    pub error_type: Option<&'static str>,
    pub server: Option<(Arc<str>, Option<u16>)>,
}

pub(crate) struct Shared {
    pub side: Side,
    pub tracer: SpanStarter,
    pub propagation: Propagation,
    pub duration: Histogram<f64>,
    /// `duration` bound per (method, status, error.type, server address) set.
    pub duration_bound: BoundCache<DurationKey, BoundHistogram<f64>>,
    pub old_duration: Option<Histogram<f64>>,
    pub dup: bool,
    pub filter: Option<Box<dyn Filter<str>>>,
    pub known_methods: Option<HashSet<Box<str>>>,
    /// The methods seen, parsed.
    pub methods: MethodCache,
    pub request_metadata: HeaderCapture,
    pub response_metadata: HeaderCapture,
    pub exceptions: ExceptionEvents,
    /// `rpc.server.call.exception` or `rpc.client.call.exception`.
    pub exception_event: ExceptionEvent,
    pub public_endpoint: bool,
    pub target: Option<ServerAddress>,
    /// Client: the destinations context may be sent to (`None`: any).
    pub propagate_to: Option<HostAllowList>,
    /// Opt-in `rpc.message` events, at most this many per call.
    pub message_event_cap: Option<u32>,
    /// A streaming call's span ends at this age (the stream goes on).
    pub max_span_duration: Option<Duration>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("side", &self.side)
            .field("propagation", &self.propagation)
            .field("dup", &self.dup)
            .field("filter", &self.filter.is_some())
            .field(
                "known_methods",
                &self.known_methods.as_ref().map(HashSet::len),
            )
            .field("request_metadata", &self.request_metadata)
            .field("response_metadata", &self.response_metadata)
            .field("exceptions", &self.exceptions)
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

/// Marker for the server flavour of [`LayerBuilder`].
#[derive(Debug, Clone, Copy)]
pub enum ServerSide {}
/// Marker for the client flavour of [`LayerBuilder`].
#[derive(Debug, Clone, Copy)]
pub enum ClientSide {}

/// Options of a [`GrpcServerLayer`](crate::GrpcServerLayer) or
/// [`GrpcClientLayer`](crate::GrpcClientLayer).
///
/// The options every layer of the family shares, with the same names and
/// types (see `otel_kit_core::instrument::Options`): `tracer_provider`,
/// `meter_provider`, `logger_provider`, `propagator`,
/// `capture_request_headers` / `capture_response_headers` (gRPC metadata
/// keys, recorded as `rpc.request.metadata.<key>` /
/// `rpc.response.metadata.<key>`), `allow_sensitive_headers`,
/// `semconv_dup`, `exception_signal`. And the gRPC ones: [`filter`](Self::filter),
/// [`known_methods`](Self::known_methods), public-endpoint mode (server),
/// target, server address and propagation allow-list (client).
///
/// Every option has a default: the global tracer and meter providers and
/// propagator, every method traced, no metadata captured, `rpc/dup` from
/// `OTEL_SEMCONV_STABILITY_OPT_IN`, exceptions per
/// `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`.
///
/// ```
/// use otel_kit_grpc::GrpcServerLayer;
///
/// let layer = GrpcServerLayer::builder()
///     .capture_request_headers(["x-tenant", "authorization"])
///     // Credentials are recorded only when named here too.
///     .allow_sensitive_headers(["authorization"])
///     .semconv_dup(false)
///     .build();
/// # let _ = layer;
/// ```
pub struct LayerBuilder<S> {
    options: Options,
    filter: Option<Box<dyn Filter<str>>>,
    known_methods: Option<HashSet<Box<str>>>,
    public_endpoint: bool,
    target: Option<ServerAddress>,
    propagate_to: Option<HostAllowList>,
    message_event_cap: Option<u32>,
    max_span_duration: Option<Duration>,
    _side: PhantomData<fn() -> S>,
}

impl<S> fmt::Debug for LayerBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerBuilder")
            .field("options", &self.options)
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
            options: Options::new(scope("otel-kit-grpc", env!("CARGO_PKG_VERSION"))),
            filter: None,
            known_methods: None,
            public_endpoint: false,
            target: None,
            propagate_to: None,
            message_event_cap: None,
            max_span_duration: None,
            _side: PhantomData,
        }
    }
}

// The shared setters' own generics are named `I` and `S`: the side marker
// is `Kind` here.
impl<Kind> LayerBuilder<Kind> {
    otel_kit_core::instrumentation_setters!(options: providers, propagator, headers, semconv, exceptions);

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

    /// Opt-in per-message events: an `rpc.message` span event
    /// (`rpc.message.type` `SENT`/`RECEIVED`, `rpc.message.id`,
    /// `rpc.message.compressed_size` or `rpc.message.uncompressed_size`) for
    /// each message of a call, both directions, at most `max_per_call` per
    /// call (the rest are not recorded). v1.44 of the RPC conventions has no
    /// message events; this is the deprecated `rpc.message` event, kept as
    /// the project's (`docs/conventions.md`). Default: off (on, uncapped,
    /// with `semconv_dup`).
    pub fn message_events(mut self, max_per_call: u32) -> Self {
        self.message_event_cap = Some(max_per_call);
        self
    }

    /// A call's span ends at `max`, marked `stream.truncated`, while the
    /// call goes on; when it ends, a `stream {rpc.method}` span (INTERNAL,
    /// child of the call's span, from the cut to the end) records its
    /// status. The duration metric still measures the whole call. Default:
    /// none.
    ///
    /// The maximum holds whether messages flow or not: a server-streaming
    /// or bidirectional call idle between messages, and a client-streaming
    /// call (whose one response comes at its end), are cut at `max` too. A
    /// call that waits polls a timer alongside its response
    /// ([`otel_kit_core::instrument::Deadline`]: one shared thread, no
    /// runtime needed), created the first time a call with a maximum waits;
    /// on a client the cut happens while the application waits on the
    /// call (its response or its reply stream). Any call longer than `max`
    /// is cut, a slow unary call included.
    pub fn max_span_duration(mut self, max: Duration) -> Self {
        self.max_span_duration = Some(max);
        self
    }

    pub(crate) fn into_shared(self, side: Side) -> Arc<Shared> {
        let r = self.options.resolve(
            SemconvArea::Rpc,
            names::REQUEST_METADATA_PREFIX,
            names::RESPONSE_METADATA_PREFIX,
        );
        let (name, old_name, what, exception_event) = match side {
            Side::Server => (
                names::RPC_SERVER_CALL_DURATION,
                names::RPC_SERVER_DURATION,
                "Duration of gRPC calls handled by this server.",
                ExceptionEvent::RPC_SERVER,
            ),
            Side::Client => (
                names::RPC_CLIENT_CALL_DURATION,
                names::RPC_CLIENT_DURATION,
                "Duration of gRPC calls made by this client.",
                ExceptionEvent::RPC_CLIENT,
            ),
        };
        let duration = duration_histogram(&r.meter, name, what);
        let old_duration = r
            .semconv_dup
            .then(|| old_duration_histogram_ms(&r.meter, old_name, what));
        Arc::new(Shared {
            side,
            tracer: r.tracer,
            propagation: r.propagation,
            duration,
            duration_bound: BoundCache::new(BOUND_SETS),
            old_duration,
            dup: r.semconv_dup,
            filter: self.filter,
            known_methods: self.known_methods,
            methods: MethodCache::default(),
            request_metadata: r.request_headers,
            response_metadata: r.response_headers,
            exceptions: r.exceptions,
            exception_event,
            public_endpoint: self.public_endpoint,
            target: self.target,
            propagate_to: self.propagate_to,
            message_event_cap: self.message_event_cap,
            max_span_duration: self.max_span_duration,
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
    /// use otel_kit_grpc::GrpcClientLayer;
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
