//! Time helpers: RFC 3339 rendering and bucket alignment, all in UTC.

/// Years `rfc3339` renders: the range of chrono's `NaiveDate`, which this replaces.
const MIN_YEAR: i64 = -262_143;
const MAX_YEAR: i64 = 262_142;

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, exact for every input here).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + (month <= 2) as i64;
    (year, month, day)
}

fn push2(out: &mut String, v: u32) {
    out.push((b'0' + (v / 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

/// Unix seconds → `2025-01-31T00:00:00Z`; `None` outside years -262143..=262142.
/// Years outside 0..=9999 carry a sign and at least four digits (`+10000`, `-0001`).
pub fn rfc3339(unix: i64) -> Option<String> {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return None;
    }
    let secs = unix.rem_euclid(86_400) as u32;
    let mut out = String::with_capacity(24);
    if !(0..=9999).contains(&year) {
        out.push(if year < 0 { '-' } else { '+' });
    }
    let y = year.unsigned_abs() as u32;
    if y >= 10_000 {
        crate::json::push_uint(&mut out, (y / 10_000) as u64);
    }
    push2(&mut out, y / 100 % 100);
    push2(&mut out, y % 100);
    for (sep, v) in [
        ('-', month),
        ('-', day),
        ('T', secs / 3_600),
        (':', secs / 60 % 60),
        (':', secs % 60),
    ] {
        out.push(sep);
        push2(&mut out, v);
    }
    out.push('Z');
    Some(out)
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

    /// Values chrono 0.4 (which this replaces) renders, including the range ends.
    #[test]
    fn matches_chrono_at_the_edges() {
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
