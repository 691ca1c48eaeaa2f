//! What every header carrier of the crate (Kafka record headers, NATS
//! headers, the AMQP `headers` table) shares.

/// Largest header value (bytes) the carriers hand to a propagator or to
/// header capture; longer values are skipped, the message is unaffected.
pub const MAX_HEADER_VALUE_LEN: usize = 8192;
