/// Which physical attempt a request is, as a request extension
/// (`http::Request::extensions`).
///
/// A retry layer (`otel-kit-patterns`) or a redirect follower sets it on each
/// re-sent request; the client layers of `otel-kit-http` and `otel-kit-grpc` read it
/// and record `http.request.resend_count` on the attempt's span. The first
/// attempt has no extension (or `ResendCount(0)`), the first resend is `1`.
///
/// ```
/// use otel_kit_core::instrument::ResendCount;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ResendCount(2));
/// assert_eq!(ResendCount::of(&req), 2);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResendCount(pub u32);

impl ResendCount {
    /// The resend count of `req` (0 when none is set).
    pub fn of<B>(req: &http::Request<B>) -> u32 {
        req.extensions().get::<ResendCount>().map_or(0, |r| r.0)
    }
}
