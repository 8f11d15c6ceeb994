//! The random sampler: draw k of seed S is read from ChaCha8 stream k
//! under a key made of S, one 64-bit word per `--dist` key, so a draw
//! depends on nothing but S, k and the keys.
//!
//! ChaCha8 is ChaCha (Bernstein, 2008) with 8 rounds in its original
//! layout: a 256-bit key, a 64-bit block counter (state words 12-13,
//! starting at 0) and a 64-bit stream number, the nonce (words 14-15).
//! Here the key is S as 8 little-endian bytes then 24 zero bytes, and the
//! n-th word of a stream is bytes 8n..8n+8 of its keystream, little-endian.

use chacha20::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// The stream that the Sobol sampler's scrambles come from; draws never
/// reach it (they stop at 10 million).
pub const SCRAMBLE_STREAM: u64 = u64::MAX;

/// The ChaCha8 key of seed `seed`.
fn key(seed: u64) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key
}

/// The 64-bit words of ChaCha8 stream `stream` under seed `seed`, in order.
pub fn words(seed: u64, stream: u64) -> impl Iterator<Item = u64> {
    let mut rng = ChaCha8Rng::from_seed(key(seed));
    rng.set_stream(stream);
    std::iter::repeat_with(move || rng.next_u64())
}

/// Draw `k` of `seed` for `count` keys: one 53-bit number per key (the
/// word's top 53 bits), in the keys' sorted order.
pub fn draw(seed: u64, k: u64, count: usize, out: &mut Vec<u64>) {
    out.clear();
    out.extend(words(seed, k).take(count).map(|word| word >> 11));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ChaCha's block function as its paper gives it, written here again so
    /// that the crate is held to the layout exp(7) documents.
    fn reference_block(seed: u64, stream: u64, counter: u64) -> [u8; 64] {
        fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
            s[a] = s[a].wrapping_add(s[b]);
            s[d] = (s[d] ^ s[a]).rotate_left(16);
            s[c] = s[c].wrapping_add(s[d]);
            s[b] = (s[b] ^ s[c]).rotate_left(12);
            s[a] = s[a].wrapping_add(s[b]);
            s[d] = (s[d] ^ s[a]).rotate_left(8);
            s[c] = s[c].wrapping_add(s[d]);
            s[b] = (s[b] ^ s[c]).rotate_left(7);
        }
        let key = key(seed);
        let mut state = [0u32; 16];
        state[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
        for i in 0..8 {
            state[4 + i] = u32::from_le_bytes(key[4 * i..4 * i + 4].try_into().unwrap());
        }
        state[12] = counter as u32;
        state[13] = (counter >> 32) as u32;
        state[14] = stream as u32;
        state[15] = (stream >> 32) as u32;
        let mut working = state;
        for _ in 0..4 {
            quarter(&mut working, 0, 4, 8, 12);
            quarter(&mut working, 1, 5, 9, 13);
            quarter(&mut working, 2, 6, 10, 14);
            quarter(&mut working, 3, 7, 11, 15);
            quarter(&mut working, 0, 5, 10, 15);
            quarter(&mut working, 1, 6, 11, 12);
            quarter(&mut working, 2, 7, 8, 13);
            quarter(&mut working, 3, 4, 9, 14);
        }
        let mut out = [0u8; 64];
        for i in 0..16 {
            out[4 * i..4 * i + 4].copy_from_slice(&working[i].wrapping_add(state[i]).to_le_bytes());
        }
        out
    }

    #[test]
    fn the_words_are_chacha8_keystream_as_documented() {
        for (seed, stream) in [(0, 0), (0, 1), (7, 3), (u64::MAX, 123_456_789), (42, SCRAMBLE_STREAM)] {
            let mut expected = Vec::new();
            for counter in 0..3 {
                let block = reference_block(seed, stream, counter);
                expected.extend(block.chunks(8).map(|b| u64::from_le_bytes(b.try_into().unwrap())));
            }
            let got: Vec<u64> = words(seed, stream).take(24).collect();
            assert_eq!(got, expected, "seed {seed}, stream {stream}");
        }
    }

    #[test]
    fn a_draw_is_a_prefix_of_its_stream() {
        let (mut three, mut five) = (Vec::new(), Vec::new());
        draw(9, 4, 3, &mut three);
        draw(9, 4, 5, &mut five);
        assert_eq!(three[..], five[..3]);
        assert!(five.iter().all(|&m| m < 1 << 53));
        draw(9, 5, 3, &mut five);
        assert_ne!(three, five);
    }
}
