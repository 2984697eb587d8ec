//! Numbers and durations the way people read them.

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in seconds for a table: `0.42 s`, `12.3 s`, `4 min 05 s`.
pub fn seconds(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    if secs < 10.0 {
        format!("{secs:.2} s")
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        let s = secs.round() as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_000), "1,000");
        assert_eq!(super::thousands(1_234_567), "1,234,567");
        assert_eq!(super::seconds(0.004), "0.00 s");
        assert_eq!(super::seconds(0.42), "0.42 s");
        assert_eq!(super::seconds(12.34), "12.3 s");
        assert_eq!(super::seconds(245.0), "4 min 05 s");
    }
}

/// The first day of a window, from its inclusive RFC 3339 start: `2026-11-02`.
pub fn first_day(start: &str) -> String {
    start.get(..10).unwrap_or(start).to_string()
}

/// The last day a window covers, from its exclusive RFC 3339 end: the day of the instant
/// just before it (`2026-12-02T00:00:00Z` → `2026-12-01`), so that windows read as
/// inclusive days everywhere.
pub fn last_day(exclusive_end: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(exclusive_end) {
        Ok(t) => (t - chrono::Duration::seconds(1))
            .format("%Y-%m-%d")
            .to_string(),
        Err(_) => exclusive_end.get(..10).unwrap_or(exclusive_end).to_string(),
    }
}

#[cfg(test)]
mod day_tests {
    #[test]
    fn windows_read_as_inclusive_days() {
        assert_eq!(super::last_day("2026-12-02T00:00:00Z"), "2026-12-01");
        assert_eq!(super::last_day("2026-12-01T14:46:28.123Z"), "2026-12-01");
        assert_eq!(super::first_day("2026-11-02T00:00:00Z"), "2026-11-02");
    }
}
