//! Time helpers, all in UTC: RFC 3339 rendering and bucket alignment. Inputs come from the
//! provider, the clock and stored checkpoints, so nothing here can overflow: out-of-range
//! values give `None`.

use chrono::{DateTime, SecondsFormat};

/// Unix seconds → `2025-01-31T00:00:00Z`; `None` outside chrono's range (years
/// -262143..=262142). Years outside 0..=9999 carry a sign (`+10000`, `-0001`).
pub fn rfc3339(unix: i64) -> Option<String> {
    DateTime::from_timestamp(unix, 0).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Start of the UTC-aligned bucket of `width` seconds that contains `t`; `None` when that
/// start is not representable (or `width` is not positive).
pub fn align_down(t: i64, width: i64) -> Option<i64> {
    if width <= 0 {
        return None;
    }
    t.div_euclid(width).checked_mul(width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_aligns() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), None);
        assert_eq!(align_down(86_401, 86_400), Some(86_400));
        assert_eq!(align_down(-1, 3_600), Some(-3_600));
        assert_eq!(align_down(5, 0), None);
        assert_eq!(align_down(5, -60), None);
    }

    /// `div_euclid(w) * w` overflowed here: the bucket holding i64::MIN starts before it.
    #[test]
    fn align_down_at_the_ends_of_i64() {
        assert_eq!(align_down(i64::MIN, 86_400), None);
        assert_eq!(align_down(i64::MIN, 3_600), None);
        assert_eq!(align_down(i64::MIN, 1), Some(i64::MIN));
        let top = align_down(i64::MAX, 86_400).unwrap();
        assert!(i64::MAX - top < 86_400 && top % 86_400 == 0);
        // the lowest aligned start is still reachable
        let low = (i64::MIN / 86_400) * 86_400;
        assert_eq!(align_down(low, 86_400), Some(low));
    }

    /// The values the hand-written renderer this replaced gave, including the range ends.
    #[test]
    fn edges_of_the_range() {
        for (unix, want) in [
            (-8_334_601_228_800, Some("-262143-01-01T00:00:00Z")),
            (-8_334_601_228_801, None),
            (8_210_266_876_799, Some("+262142-12-31T23:59:59Z")),
            (8_210_266_876_800, None),
            (-62_167_219_201, Some("-0001-12-31T23:59:59Z")),
            (253_402_300_800, Some("+10000-01-01T00:00:00Z")),
            (951_782_400, Some("2000-02-29T00:00:00Z")),
            (-1, Some("1969-12-31T23:59:59Z")),
            (i64::MIN, None),
        ] {
            assert_eq!(rfc3339(unix).as_deref(), want, "{unix}");
        }
    }
}
