//! Randomness from the operating system (`getrandom`), with no weaker fallback: a caller
//! that cannot get random bytes fails rather than using predictable ones.

/// `n` random bytes as lower-case hex.
pub fn hex(n: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// A uniform number in [0, 1), for jitter.
pub fn unit() -> anyhow::Result<f64> {
    let v = getrandom::u64().map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
    Ok((v >> 11) as f64 / (1u64 << 53) as f64)
}

/// A random key of the given prefix and 48 alphanumeric characters, for demos and tests.
pub fn key(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut buf = [0u8; 48];
    getrandom::fill(&mut buf).expect("the OS random source failed");
    let mut s = String::from(prefix);
    // 62 does not divide 256; the slight bias is irrelevant for test keys.
    s.extend(
        buf.iter()
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char),
    );
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_values_differ_and_stay_in_range() {
        assert_ne!(super::hex(16).unwrap(), super::hex(16).unwrap());
        assert_eq!(super::hex(16).unwrap().len(), 32);
        for _ in 0..100 {
            let u = super::unit().unwrap();
            assert!((0.0..1.0).contains(&u));
        }
        let k = super::key("sk-admin-");
        assert!(k.starts_with("sk-admin-") && k.len() == 57);
    }
}
