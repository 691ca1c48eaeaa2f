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

/// Decodes 8 lowercase hex digits (a big-endian load of 8 ASCII bytes) into
/// 32 bits with register arithmetic only (SWAR). `None` on any other byte.
#[inline(always)]
fn decode_lower_8(x: u64) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // High bit of each byte set when that byte is >= c (bytes must be ASCII, checked below).
    let ge = |c: u8| ((x | HIGH) - ONES * c as u64) & HIGH;
    let digit = ge(b'0') & !ge(b'9' + 1);
    let letter = ge(b'a') & !ge(b'f' + 1);
    if x & HIGH != 0 || (digit | letter) != HIGH {
        return None;
    }
    // Nibble value: low 4 bits, plus 9 for `a`-`f`.
    let mut n = (x & 0x0f0f_0f0f_0f0f_0f0f) + (letter >> 7) * 9;
    n = (n | (n >> 4)) & 0x00ff_00ff_00ff_00ff;
    n = (n | (n >> 8)) & 0x0000_ffff_0000_ffff;
    n = (n | (n >> 16)) & 0x0000_0000_ffff_ffff;
    Some(n as u32)
}

/// Decodes exactly 16 lowercase hex digits into a `u64` (the hot path of the
/// `traceparent` parser). `None` on any other byte.
#[inline]
pub(crate) fn decode_lower_u64(s: &[u8; 16]) -> Option<u64> {
    let (hi, lo) = s.split_at(8);
    let hi = decode_lower_8(u64::from_be_bytes(hi.try_into().ok()?))?;
    let lo = decode_lower_8(u64::from_be_bytes(lo.try_into().ok()?))?;
    Some((u64::from(hi) << 32) | u64::from(lo))
}

/// Decodes exactly 32 lowercase hex digits into a `u128`. `None` on any other byte.
#[inline]
pub(crate) fn decode_lower_u128(s: &[u8; 32]) -> Option<u128> {
    let (hi, lo) = s.split_at(16);
    let hi = decode_lower_u64(hi.try_into().ok()?)?;
    let lo = decode_lower_u64(lo.try_into().ok()?)?;
    Some((u128::from(hi) << 64) | u128::from(lo))
}

const LOWER: &[u8; 16] = b"0123456789abcdef";

/// Spreads the 8 nibbles of `x` into the 8 bytes of a `u64` (most significant
/// nibble in the most significant byte) and turns each into its lowercase
/// ASCII hex digit, all in a few register operations (SWAR).
#[inline(always)]
const fn hex_digits_u32(x: u32) -> [u8; 8] {
    let mut x = x as u64;
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // 1 in every byte whose nibble is 10 or more.
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    // '0' + n, plus ('a' - '0' - 10) = 39 for the letters.
    (x + 0x3030_3030_3030_3030 + letters * 39).to_be_bytes()
}

/// Writes `v` as 32 lowercase hex digits into `out`.
#[inline]
pub(crate) fn encode_u128(v: u128, out: &mut [u8; 32]) {
    let (hi, lo) = out.split_at_mut(16);
    if let (Ok(hi), Ok(lo)) = (hi.try_into(), lo.try_into()) {
        encode_u64((v >> 64) as u64, hi);
        encode_u64(v as u64, lo);
    }
}

/// Writes `v` as 16 lowercase hex digits into `out`.
#[inline]
pub(crate) fn encode_u64(v: u64, out: &mut [u8; 16]) {
    let (hi, lo) = out.split_at_mut(8);
    hi.copy_from_slice(&hex_digits_u32((v >> 32) as u32));
    lo.copy_from_slice(&hex_digits_u32(v as u32));
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
        assert_eq!(
            decode_u128(&b, false),
            Some(0x4bf92f3577b34da6a3ce929d0e0e4736)
        );
        let mut s = [0u8; 16];
        encode_u64(0x00f067aa0ba902b7, &mut s);
        assert_eq!(&s, b"00f067aa0ba902b7");
        assert_eq!(decode_u64(&s, false), Some(0x00f067aa0ba902b7));
        let mut f = [0u8; 2];
        encode_u8(0x01, &mut f);
        assert_eq!(&f, b"01");
    }

    #[test]
    fn lower_fixed_width_decoders_agree_with_the_general_ones() {
        let id = *b"4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(decode_lower_u128(&id), decode_u128(&id, false));
        let span = *b"00f067aa0ba902b7";
        assert_eq!(decode_lower_u64(&span), Some(0x00f067aa0ba902b7));
        // Every byte that is not a lowercase hex digit is rejected, at every position.
        for bad in (0..=255u8).filter(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            for pos in 0..32 {
                let mut s = id;
                s[pos] = bad;
                assert_eq!(decode_lower_u128(&s), None, "byte {bad:#x} at {pos}");
            }
            assert_eq!(decode_u8(&[bad, b'0'], false), None);
            assert_eq!(decode_u8(&[b'0', bad], false), None);
        }
    }

    #[test]
    fn encoders_match_std_formatting() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut values = vec![
            0,
            1,
            9,
            10,
            15,
            16,
            u64::MAX,
            0x0123_4567_89ab_cdef,
            0xfedc_ba98_7654_3210,
        ];
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            values.push(seed);
        }
        for &v in &values {
            let mut out = [0u8; 16];
            encode_u64(v, &mut out);
            assert_eq!(std::str::from_utf8(&out).unwrap(), format!("{v:016x}"));
            assert_eq!(decode_lower_u64(&out), Some(v));
            let wide = (u128::from(v) << 64) | u128::from(v.rotate_left(17));
            let mut out = [0u8; 32];
            encode_u128(wide, &mut out);
            assert_eq!(std::str::from_utf8(&out).unwrap(), format!("{wide:032x}"));
            assert_eq!(decode_lower_u128(&out), Some(wide));
        }
        for b in 0..=255u8 {
            let mut out = [0u8; 2];
            encode_u8(b, &mut out);
            assert_eq!(std::str::from_utf8(&out).unwrap(), format!("{b:02x}"));
        }
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
