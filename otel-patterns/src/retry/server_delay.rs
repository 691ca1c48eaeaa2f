//! Server-provided retry delays: HTTP `Retry-After` and gRPC
//! `google.rpc.RetryInfo` (in `grpc-status-details-bin`).

use base64::Engine as _;
use http::HeaderMap;
use std::time::{Duration, SystemTime};

/// The delay a `Retry-After` header asks for: delta-seconds or an HTTP-date
/// (relative to `now`); `None` when absent or malformed.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

const RETRY_INFO_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The `retry_delay` of a `google.rpc.RetryInfo` detail in the
/// `grpc-status-details-bin` header (base64 `google.rpc.Status`).
pub fn grpc_retry_info(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get("grpc-status-details-bin")?.as_bytes();
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trim_padding(raw))
        .ok()?;
    grpc_retry_info_from_status(&bytes)
}

fn trim_padding(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && b[end - 1] == b'=' {
        end -= 1;
    }
    &b[..end]
}

/// The `retry_delay` of a `RetryInfo` detail in an encoded `google.rpc.Status`.
pub fn grpc_retry_info_from_status(status: &[u8]) -> Option<Duration> {
    for (field, value) in Fields(status) {
        if let (3, Value::Bytes(any)) = (field, value) {
            let mut url = None;
            let mut payload = None;
            for (f, v) in Fields(any) {
                match (f, v) {
                    (1, Value::Bytes(u)) => url = Some(u),
                    (2, Value::Bytes(p)) => payload = Some(p),
                    _ => {}
                }
            }
            if url == Some(RETRY_INFO_URL.as_bytes()) {
                let info = payload?;
                for (f, v) in Fields(info) {
                    if let (1, Value::Bytes(d)) = (f, v) {
                        let (mut secs, mut nanos) = (0i64, 0i64);
                        for (f, v) in Fields(d) {
                            match (f, v) {
                                (1, Value::Varint(s)) => secs = s as i64,
                                (2, Value::Varint(n)) => nanos = n as i64,
                                _ => {}
                            }
                        }
                        if secs < 0 || nanos < 0 {
                            return Some(Duration::ZERO);
                        }
                        return Some(
                            Duration::from_secs(secs as u64) + Duration::from_nanos(nanos as u64),
                        );
                    }
                }
                return Some(Duration::ZERO);
            }
        }
    }
    None
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

/// A tolerant protobuf field iterator: stops at the first malformed byte.
struct Fields<'a>(&'a [u8]);

fn varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u64, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let key = varint(&mut self.0)?;
        let (field, wire) = (key >> 3, key & 7);
        let value = match wire {
            0 => Value::Varint(varint(&mut self.0)?),
            1 => {
                self.0 = self.0.get(8..)?;
                Value::Other
            }
            2 => {
                let len = usize::try_from(varint(&mut self.0)?).ok()?;
                let (v, rest) = (self.0.get(..len)?, self.0.get(len..)?);
                self.0 = rest;
                Value::Bytes(v)
            }
            5 => {
                self.0 = self.0.get(4..)?;
                Value::Other
            }
            _ => {
                self.0 = &[];
                return None;
            }
        };
        Some((field, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_field(field: u8, v: &[u8]) -> Vec<u8> {
        let mut out = vec![(field << 3) | 2, v.len() as u8];
        out.extend_from_slice(v);
        out
    }

    #[test]
    fn parses_retry_after_seconds_and_date() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        let now = SystemTime::now();
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        let later = now + Duration::from_secs(30);
        h.insert(
            http::header::RETRY_AFTER,
            httpdate::fmt_http_date(later).parse().unwrap(),
        );
        let d = retry_after(&h, now).unwrap();
        assert!(d >= Duration::from_secs(29) && d <= Duration::from_secs(30));
        h.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn parses_grpc_retry_info() {
        // Duration { seconds: 2, nanos: 500_000_000 }
        let mut dur = vec![0x08, 0x02, 0x10];
        let mut n = 500_000_000u64;
        while n >= 0x80 {
            dur.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        dur.push(n as u8);
        let info = bytes_field(1, &dur);
        let mut any = bytes_field(1, RETRY_INFO_URL.as_bytes());
        any.extend(bytes_field(2, &info));
        let mut status = vec![0x08, 14];
        status.extend(bytes_field(3, &any));
        let mut h = HeaderMap::new();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&status);
        h.insert("grpc-status-details-bin", b64.parse().unwrap());
        assert_eq!(grpc_retry_info(&h), Some(Duration::from_millis(2500)));
        h.insert("grpc-status-details-bin", "!!!".parse().unwrap());
        assert_eq!(grpc_retry_info(&h), None);
    }
}
