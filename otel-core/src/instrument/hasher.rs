//! A fast hasher for the small keys our own caches use.

use std::hash::{BuildHasherDefault, Hasher};

/// A folded-multiply hasher for small keys of words and short strings that
/// the layers choose themselves (pointers of interned strings, status
/// codes, destination names). No flooding resistance: do not key it with
/// raw remote input in an unbounded map (every cache of this family is
/// bounded).
///
/// ```
/// use std::collections::HashMap;
/// use otel_kit_core::instrument::BuildFastHasher;
///
/// let mut m: HashMap<u16, &str, BuildFastHasher> = HashMap::default();
/// m.insert(200, "ok");
/// assert_eq!(m[&200], "ok");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FastHasher(u64);

/// The `BuildHasher` of [`FastHasher`].
pub type BuildFastHasher = BuildHasherDefault<FastHasher>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
const MIX: u64 = 0x24_3f_6a_88_85_a3_08_d3;

impl FastHasher {
    /// A folded multiply (the 128-bit product's halves xored): every input
    /// bit reaches every output bit, which a plain 64-bit multiply (upward
    /// only) does not.
    fn add(&mut self, word: u64) {
        // The second constant keeps a zero state and word from staying zero.
        let product = u128::from(self.0 ^ word ^ MIX) * u128::from(SEED);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
        // The length keeps "a" and "a\0", "fill.10" and "fill.108" apart.
        self.add(bytes.len() as u64);
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    #[test]
    fn equal_keys_hash_equal_and_short_strings_differ() {
        let b = BuildFastHasher::default();
        assert_eq!(b.hash_one("orders"), b.hash_one("orders"));
        assert_ne!(b.hash_one("a"), b.hash_one("a\0"));
        // A 7-byte tail against the same bytes plus one (an 8-byte word).
        let mut seen = std::collections::HashSet::new();
        for i in 0..4096 {
            assert!(seen.insert(b.hash_one(format!("fill.{i}"))), "fill.{i}");
        }
        assert_ne!(b.hash_one((1u16, 2u16)), b.hash_one((2u16, 1u16)));
        let mut h = FastHasher::default();
        42u64.hash(&mut h);
        assert_ne!(h.finish(), 0);
    }
}
