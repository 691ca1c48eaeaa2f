//! Which messages of a connection get a span: a per-connection sampling
//! decision, then a per-connection rate limit (token bucket), so one chatty
//! socket cannot flood the exporter.

use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use otel_kit_core::instrument::FastHasher;
use otel_kit_core::opentelemetry::trace::SpanContext;

/// Distinguishes connections that share an (invalid or unsampled) upgrade
/// span context in the sampling decision.
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// The message-span decision of one connection.
#[derive(Debug)]
pub(crate) struct MessageSampler {
    /// Whether this connection's messages get spans at all.
    traced: bool,
    /// The rate limit (`None`: unlimited).
    bucket: Option<TokenBucket>,
}

impl MessageSampler {
    /// Decides for a connection whose upgrade span is `upgrade`: `ratio` of
    /// connections (by the upgrade span's trace id, else a per-process
    /// sequence) get message spans, at most `per_second` each (bursts up to
    /// the same number).
    pub(crate) fn new(
        ratio: f64,
        per_second: Option<u32>,
        upgrade: &SpanContext,
        now: Duration,
    ) -> Self {
        let traced = if ratio >= 1.0 {
            true
        } else if ratio <= 0.0 || ratio.is_nan() {
            false
        } else {
            let mut h = FastHasher::default();
            if upgrade.is_valid() {
                h.write(&upgrade.trace_id().to_bytes());
                h.write(&upgrade.span_id().to_bytes());
            } else {
                h.write_u64(CONNECTIONS.fetch_add(1, Ordering::Relaxed));
            }
            // The top 53 bits as a uniform fraction in [0, 1).
            let x = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
            x < ratio
        };
        MessageSampler {
            traced,
            bucket: per_second.map(|rate| TokenBucket::new(rate, now)),
        }
    }

    /// Whether the next message gets a span (`now`: the clock's time).
    pub(crate) fn admit(&mut self, now: Duration) -> bool {
        if !self.traced {
            return false;
        }
        self.bucket.as_mut().is_none_or(|b| b.take(now))
    }
}

/// A token bucket: `rate` tokens per second, at most `rate` stored.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    fn new(rate: u32, now: Duration) -> Self {
        let rate = f64::from(rate);
        TokenBucket {
            rate,
            tokens: rate,
            last: now,
        }
    }

    fn take(&mut self, now: Duration) -> bool {
        // A clock that goes backwards refills nothing.
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_refills_with_time() {
        let mut s =
            MessageSampler::new(1.0, Some(3), &SpanContext::empty_context(), Duration::ZERO);
        let admitted = (0..10).filter(|_| s.admit(Duration::ZERO)).count();
        assert_eq!(admitted, 3);
        assert!(s.admit(Duration::from_millis(400)));
        assert!(!s.admit(Duration::from_millis(400)));
        let later = (0..10).filter(|_| s.admit(Duration::from_secs(10))).count();
        assert_eq!(later, 3, "never more than the burst");
    }

    #[test]
    fn ratio_decides_per_connection() {
        let never = MessageSampler::new(0.0, None, &SpanContext::empty_context(), Duration::ZERO);
        assert!(!never.traced);
        let kept = (0..1000)
            .filter(|_| {
                MessageSampler::new(0.25, None, &SpanContext::empty_context(), Duration::ZERO)
                    .traced
            })
            .count();
        assert!((150..350).contains(&kept), "{kept} of 1000 kept at 0.25");
        let mut always =
            MessageSampler::new(1.0, None, &SpanContext::empty_context(), Duration::ZERO);
        assert!((0..100).all(|_| always.admit(Duration::ZERO)));
    }
}
