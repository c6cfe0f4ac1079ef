//! SHA-256 of byte rows, in parallel, and digest-based first-occurrence selection.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::{cancel, pool, Result};

pub type Digest32 = [u8; 32];

pub fn sha256(bytes: &[u8]) -> Digest32 {
    Sha256::digest(bytes).into()
}

/// SHA-256 of every slice, in order (rows that live in separate buffers, e.g. Python
/// strings borrowed in place).
pub fn hash_slices(rows: &[&[u8]], num_threads: usize) -> Result<Vec<Digest32>> {
    // Rows skipped after a cancel get a zero digest that is never seen: the call fails.
    let checker = cancel::checker();
    let digest = |(i, row): (usize, &&[u8])| {
        if i % 256 == 0 && checker.cancelled() {
            return [0; 32];
        }
        sha256(row)
    };
    let total: usize = rows.iter().map(|r| r.len()).sum();
    let digests = if !pool::parallel(num_threads, total) {
        rows.iter().enumerate().map(digest).collect()
    } else {
        pool::install(|| {
            rows.par_iter()
                .enumerate()
                .with_min_len(pool::min_len(num_threads, rows.len()).max(64))
                .map(digest)
                .collect()
        })?
    };
    checker.check()?;
    Ok(digests)
}

/// Indices of the first occurrence of each digest that is not already in `seen`.
pub fn first_unseen(digests: &[Digest32], seen: &HashSet<Digest32>) -> Vec<usize> {
    let mut local: HashSet<DigestKey<'_>, BuildHasherDefault<PrefixHasher>> =
        HashSet::with_capacity_and_hasher(digests.len(), Default::default());
    digests
        .iter()
        .enumerate()
        .filter(|(_, d)| !seen.contains(*d) && local.insert(DigestKey(d)))
        .map(|(i, _)| i)
        .collect()
}

/// A digest in a hash set keyed by its first 8 bytes ([`PrefixHasher`]); equality is
/// over all 32 bytes.
#[derive(PartialEq, Eq)]
struct DigestKey<'a>(&'a Digest32);

impl Hash for DigestKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(head));
    }
}

/// SHA-256 output is already uniform, so its first 8 bytes are a hash as they stand
/// (SipHash over 32 bytes per row was the larger part of `first_unseen`).
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `DigestKey`; anything else is folded in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A growing set of 16-byte digest prefixes, for deduplicating data larger than memory.
///
/// 128 bits keep the chance of any false duplicate among `n` rows below `n^2 / 2^129`
/// (about 1.5e-19 for ten billion rows) at 16 bytes a row.
#[derive(Debug, Default)]
pub struct PrefixSet {
    seen: HashSet<u128>,
}

impl PrefixSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn prefix(digest: &Digest32) -> u128 {
        let mut head = [0u8; 16];
        head.copy_from_slice(&digest[..16]);
        u128::from_le_bytes(head)
    }

    pub fn contains(&self, digest: &Digest32) -> bool {
        self.seen.contains(&Self::prefix(digest))
    }

    /// Indices (ascending) of the digests not seen before, which are then remembered.
    pub fn insert_new(&mut self, digests: &[Digest32]) -> Vec<usize> {
        self.seen.reserve(digests.len());
        digests
            .iter()
            .enumerate()
            .filter(|(_, d)| self.seen.insert(Self::prefix(d)))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Lowercase hexadecimal of a digest.
pub fn to_hex(digest: &Digest32) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(HEX[(byte >> 4) as usize] as char);
        out.push(HEX[(byte & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            to_hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parallel_equals_serial() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let rows: Vec<&[u8]> = data.chunks(16).collect();
        let one = hash_slices(&rows, 1).unwrap();
        let four = hash_slices(&rows, 4).unwrap();
        assert_eq!(one, four);
        assert_eq!(one[3], sha256(&data[48..64]));
    }

    #[test]
    fn prefix_set_keeps_first_occurrences_across_calls() {
        let (a, b, c) = (sha256(b"a"), sha256(b"b"), sha256(b"c"));
        let mut set = PrefixSet::new();
        assert_eq!(set.insert_new(&[a, b, a]), vec![0, 1]);
        assert_eq!(set.insert_new(&[c, b, c]), vec![0]);
        assert_eq!(set.len(), 3);
        assert!(set.contains(&a));
    }

    #[test]
    fn first_occurrence_wins() {
        let a = sha256(b"a");
        let b = sha256(b"b");
        let c = sha256(b"c");
        let seen: HashSet<Digest32> = [c].into_iter().collect();
        assert_eq!(first_unseen(&[a, b, a, c, b], &seen), vec![0, 1]);
    }
}
