//! Stable hashes: 64-bit FNV-1a behind `--shard` and name suffixes (part of
//! the contract: shards must agree across versions and hosts), and 128-bit
//! FNV-1a for the index's names and identities (wide enough that two
//! configs never meet by chance).

pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

pub fn fnv1a_128(bytes: &[u8]) -> u128 {
    bytes.iter().fold(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d, |hash, &b| {
        (hash ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b)
    })
}

/// The hash of a config's identity (its canonical text), by which the
/// index and exp-add find where a config may already be. A match is only a
/// hint: exp-add compares the identities themselves before it takes a
/// config for one it has.
pub fn identity_hash(identity: &str) -> u128 {
    let hash = fnv1a_128(identity.as_bytes());
    #[cfg(test)]
    if COLLIDING.with(std::cell::Cell::get) {
        return hash % 1024;
    }
    hash
}

#[cfg(test)]
thread_local! {
    /// Tests set this to make identity hashes collide, as 128-bit ones never do.
    pub static COLLIDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A hasher for keys that are hashes already (the index's names and
/// identities): their own low bits, with no hashing again.
#[derive(Debug, Default, Clone, Copy)]
pub struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = bytes.iter().fold(self.0, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// Sets and maps keyed by hashes.
pub type PrehashedState = std::hash::BuildHasherDefault<Prehashed>;

#[cfg(test)]
mod tests {
    #[test]
    fn known_vectors() {
        assert_eq!(super::fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(super::fnv1a_128(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }
}
