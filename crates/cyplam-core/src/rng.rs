//! SplitMix64, the one mixing function behind every stream of random numbers cyplam draws itself
//! (synthetic data, batch order, dropout seeds): a seed and a position give the same number on
//! every machine, so nothing needs a saved generator state.

/// SplitMix64: advances `x` by the golden-ratio increment and mixes it into a 64-bit output.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reference_values() {
        // The first outputs of the reference SplitMix64 generator seeded with 0.
        assert_eq!(super::splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(super::splitmix64(0x9E37_79B9_7F4A_7C15), 0x6E78_9E6A_A1B9_65F4);
    }
}
