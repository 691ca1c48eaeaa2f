//! Allocation-free hex encoding and decoding of trace and span ids, shared by
//! every propagator in this module.

/// Value of one ASCII hex digit, or `None`. `upper` allows `A-F` as well.
#[inline]
const fn digit(b: u8, upper: bool) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' if upper => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes 1 to 32 hex digits into a `u128` (shorter input is left-padded with
/// zeros). `upper` also accepts `A-F`. `None` on any other byte or length.
#[inline]
pub(crate) fn decode_u128(s: &[u8], upper: bool) -> Option<u128> {
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    let mut v: u128 = 0;
    for &b in s {
        v = (v << 4) | digit(b, upper)? as u128;
    }
    Some(v)
}

/// Decodes 1 to 16 hex digits into a `u64` (left-padded with zeros).
#[inline]
pub(crate) fn decode_u64(s: &[u8], upper: bool) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        v = (v << 4) | digit(b, upper)? as u64;
    }
    Some(v)
}

/// Decodes exactly two hex digits into a byte.
#[inline]
pub(crate) fn decode_u8(s: &[u8], upper: bool) -> Option<u8> {
    match s {
        [h, l] => Some((digit(*h, upper)? << 4) | digit(*l, upper)?),
        _ => None,
    }
}

const LOWER: &[u8; 16] = b"0123456789abcdef";

/// Writes `v` as 32 lowercase hex digits into `out`.
#[inline]
pub(crate) fn encode_u128(v: u128, out: &mut [u8; 32]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = LOWER[((v >> (124 - 4 * i)) & 0xf) as usize];
    }
}

/// Writes `v` as 16 lowercase hex digits into `out`.
#[inline]
pub(crate) fn encode_u64(v: u64, out: &mut [u8; 16]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = LOWER[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
}

/// Writes `v` as 2 lowercase hex digits into `out`.
#[inline]
pub(crate) fn encode_u8(v: u8, out: &mut [u8; 2]) {
    out[0] = LOWER[(v >> 4) as usize];
    out[1] = LOWER[(v & 0xf) as usize];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut b = [0u8; 32];
        encode_u128(0x4bf92f3577b34da6a3ce929d0e0e4736, &mut b);
        assert_eq!(&b, b"4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(decode_u128(&b, false), Some(0x4bf92f3577b34da6a3ce929d0e0e4736));
        let mut s = [0u8; 16];
        encode_u64(0x00f067aa0ba902b7, &mut s);
        assert_eq!(&s, b"00f067aa0ba902b7");
        assert_eq!(decode_u64(&s, false), Some(0x00f067aa0ba902b7));
        let mut f = [0u8; 2];
        encode_u8(0x01, &mut f);
        assert_eq!(&f, b"01");
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode_u128(b"", false), None);
        assert_eq!(decode_u128(&[b'a'; 33], false), None);
        assert_eq!(decode_u128(b"4BF9", false), None);
        assert_eq!(decode_u128(b"4BF9", true), Some(0x4bf9));
        assert_eq!(decode_u64(b"12g4", false), None);
        assert_eq!(decode_u64(b"abc", false), Some(0xabc));
        assert_eq!(decode_u8(b"0", false), None);
        assert_eq!(decode_u8(b"ff", false), Some(0xff));
        assert_eq!(decode_u8(b"FF", false), None);
    }
}
