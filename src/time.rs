//! Time helpers: RFC 3339 rendering and bucket alignment, all in UTC.

use chrono::{DateTime, SecondsFormat};

/// Unix seconds → `2025-01-31T00:00:00Z`; `None` when out of chrono's range.
pub fn rfc3339(unix: i64) -> Option<String> {
    DateTime::from_timestamp(unix, 0).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Start of the bucket of width `width` seconds that contains `t` (buckets are UTC-aligned).
pub fn align_down(t: i64, width: i64) -> i64 {
    t.div_euclid(width) * width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_aligns() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), None);
        assert_eq!(align_down(86_401, 86_400), 86_400);
        assert_eq!(align_down(-1, 3_600), -3_600);
    }
}
