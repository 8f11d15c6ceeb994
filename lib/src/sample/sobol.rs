//! The Sobol sampler: point k of an Owen-scrambled Sobol sequence, one
//! dimension per `--dist` key in sorted order, scrambled by the seed.
//!
//! Direction numbers: Joe and Kuo's new-joe-kuo-6 (the first 256
//! dimensions, vendored with their licence in `new-joe-kuo-6.256.txt`).
//! Point k, dimension j, is the XOR of the direction numbers v[j][b] of the
//! bits b set in k (the sequence's own order, not Gray code order). Each
//! dimension is then Owen-scrambled by a hash in the manner of Laine and
//! Karras, as Burley's "Practical Hash-based Owen Scrambling" (2020) does
//! with the improved hash of Vegdahl's `sobol_burley` crate: a nested
//! scramble, so every power-of-two block of points keeps its
//! stratification. Its 32 bits are the draw's top 32 of 53.

use super::random::{words, SCRAMBLE_STREAM};
use crate::error::{Error, Result};

/// Joe and Kuo's direction numbers, with their licence.
const JOE_KUO: &str = include_str!("new-joe-kuo-6.256.txt");

/// The dimensions the vendored direction numbers give.
pub const MAX_DIMENSIONS: usize = 256;

/// The points a 32-bit sequence has.
pub const MAX_POINTS: u64 = 1 << 32;

/// The direction numbers and scrambles of the dimensions in use.
#[derive(Debug)]
pub struct Sobol {
    vectors: Vec<[u32; 32]>,
    scrambles: Vec<u32>,
}

impl Sobol {
    /// The first `dimensions` dimensions, scrambled by `seed`.
    pub fn new(seed: u64, dimensions: usize) -> Result<Sobol> {
        if dimensions > MAX_DIMENSIONS {
            return Err(Error::usage(format!(
                "--sampler sobol takes at most {MAX_DIMENSIONS} --dist keys, not {dimensions} \
                 (--sampler random takes any number)"
            )));
        }
        let vectors = direction_numbers(dimensions);
        // Scramble j is the low half of word j of the seed's reserved stream.
        let scrambles = words(seed, SCRAMBLE_STREAM).take(dimensions).map(|word| word as u32).collect();
        Ok(Sobol { vectors, scrambles })
    }

    /// Point `k`: one 53-bit draw per dimension.
    pub fn point(&self, k: u64, out: &mut Vec<u64>) {
        debug_assert!(k < MAX_POINTS);
        out.clear();
        for (vectors, &scramble) in self.vectors.iter().zip(&self.scrambles) {
            let mut x = 0u32;
            for (bit, vector) in vectors.iter().enumerate() {
                if k >> bit & 1 == 1 {
                    x ^= vector;
                }
            }
            let y = owen_scramble_rev(x.reverse_bits(), scramble).reverse_bits();
            out.push(u64::from(y) << 21);
        }
    }
}

/// A nested (Owen) scramble of the bit-reversed `n`, from Vegdahl's
/// `sobol_burley` (MIT or Apache-2.0): every step changes a bit only as a
/// function of the bits below it, which, reversed, are the more
/// significant digits.
fn owen_scramble_rev(mut n: u32, scramble: u32) -> u32 {
    n ^= n.wrapping_mul(0x3d20_adea);
    n = n.wrapping_add(scramble);
    n = n.wrapping_mul((scramble >> 16) | 1);
    n ^= n.wrapping_mul(0x0552_6c56);
    n ^= n.wrapping_mul(0x53a2_2864);
    n
}

/// v[j][b] for the first `dimensions` dimensions: dimension 0 is van der
/// Corput's (v[b] = 2^(31-b)); dimension j >= 1 comes from line j of Joe
/// and Kuo's table (degree s, polynomial a, m_1..m_s), by their recurrence.
fn direction_numbers(dimensions: usize) -> Vec<[u32; 32]> {
    let mut all = Vec::with_capacity(dimensions);
    if dimensions == 0 {
        return all;
    }
    all.push(std::array::from_fn(|b| 1u32 << (31 - b)));
    let lines = JOE_KUO.lines().filter(|line| !line.starts_with('#') && !line.trim().is_empty());
    for line in lines.take(dimensions - 1) {
        let numbers: Vec<u32> =
            line.split_whitespace().map(|n| n.parse().expect("the vendored table holds numbers")).collect();
        let (s, a, m) = (numbers[1] as usize, numbers[2], &numbers[3..]);
        let mut v = [0u32; 32];
        for b in 0..32 {
            v[b] = if b < s {
                m[b] << (31 - b)
            } else {
                let mut next = v[b - s] ^ (v[b - s] >> s);
                for k in 1..s {
                    if (a >> (s - 1 - k)) & 1 == 1 {
                        next ^= v[b - k];
                    }
                }
                next
            };
        }
        all.push(v);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_dimension_it_promises() {
        let vectors = direction_numbers(MAX_DIMENSIONS);
        assert_eq!(vectors.len(), MAX_DIMENSIONS);
        // v[b] is m_(b+1) / 2^(b+1) with m odd: its lowest bit is 31-b.
        for v in &vectors {
            for (b, number) in v.iter().enumerate() {
                assert_eq!(number.trailing_zeros() as usize, 31 - b, "{v:?}");
            }
        }
        assert!(Sobol::new(0, MAX_DIMENSIONS + 1).is_err());
    }

    /// Unscrambled, the sequence is the textbook one, in its own order
    /// (Bratley and Fox's table): dimension 1 of points 0..8 is 0, 1/2,
    /// 3/4, 1/4, 5/8, 1/8, 3/8, 7/8.
    #[test]
    fn unscrambled_points_are_sobols() {
        let vectors = direction_numbers(2);
        let x = |k: u32, j: usize| {
            let bits = (0..32).filter(|b| k >> b & 1 == 1);
            f64::from(bits.fold(0u32, |x, b| x ^ vectors[j][b])) / 2f64.powi(32)
        };
        let dim1: Vec<f64> = (0..8).map(|k| x(k, 1)).collect();
        assert_eq!(dim1, [0.0, 0.5, 0.75, 0.25, 0.625, 0.125, 0.375, 0.875]);
        let dim0: Vec<f64> = (0..4).map(|k| x(k, 0)).collect();
        assert_eq!(dim0, [0.0, 0.5, 0.25, 0.75]);
    }

    /// Every aligned block of 2^m points of any two of the first dimensions
    /// puts one point in each of 2^m equal boxes when the first two are
    /// taken (a (0,m,2)-net), scrambled or not, for any seed.
    #[test]
    fn power_of_two_blocks_stratify() {
        for seed in [0, 1, 99, u64::MAX] {
            let sobol = Sobol::new(seed, 4).unwrap();
            let mut point = Vec::new();
            for (m, start) in [(4u32, 0u64), (6, 0), (6, 64), (8, 256)] {
                let n = 1u64 << m;
                for split in 0..=m {
                    let (rows, cols) = (1u64 << split, 1u64 << (m - split));
                    let mut cells = std::collections::HashSet::new();
                    for k in start..start + n {
                        sobol.point(k, &mut point);
                        cells.insert((point[0] >> (53 - split), (point[1] * cols) >> 53));
                    }
                    assert_eq!(
                        cells.len() as u64,
                        rows * cols,
                        "seed {seed}, 2^{m} from {start}, {rows}x{cols}"
                    );
                }
                // And every dimension alone is a permutation of 2^m cells.
                for j in 0..4 {
                    let cells: std::collections::HashSet<u64> = (start..start + n)
                        .map(|k| {
                            sobol.point(k, &mut point);
                            (point[j] * n) >> 53
                        })
                        .collect();
                    assert_eq!(cells.len() as u64, n, "seed {seed}, dimension {j}");
                }
            }
        }
    }

    #[test]
    fn seeds_scramble_differently() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        Sobol::new(0, 3).unwrap().point(5, &mut a);
        Sobol::new(1, 3).unwrap().point(5, &mut b);
        assert_ne!(a, b);
        Sobol::new(0, 5).unwrap().point(5, &mut b);
        assert_eq!(a[..], b[..3], "a dimension does not depend on how many there are");
    }
}
