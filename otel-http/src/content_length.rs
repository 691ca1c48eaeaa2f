//! `Content-Length` as a number: the request and response body sizes both
//! layers record.

use http::HeaderMap;

use crate::attributes::header_str;

/// The `Content-Length` of `headers`, when present and a number.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, &http::header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
}
