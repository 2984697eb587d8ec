//! Medians and units. Every time in the table is a median of repetitions, and every
//! comparison a ratio taken within one run, so that a busy machine shifts both sides.

use std::time::Duration;

/// The median (the mean of the middle two for an even count); zero for none.
pub fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    let n = v.len();
    match n {
        0 => Duration::ZERO,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

/// The median of plain numbers (NaN for none).
pub fn median_f64(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `n` items in `d`, per second.
pub fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Bytes as MB (10^6), one decimal.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// A rate of rows in thousands per second: `312k rows/s`.
pub fn k_per_s(r: f64) -> String {
    if r.is_finite() {
        format!(
            "{}k rows/s",
            host_harness::human::thousands((r / 1e3).round() as u64)
        )
    } else {
        "-".into()
    }
}

/// `"; median of 3"`, or nothing for one.
pub fn of_n(what: &str, n: usize) -> String {
    if n > 1 {
        format!("; {what} of {n}")
    } else {
        String::new()
    }
}

/// `1 page`, `3 pages`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        host_harness::human::thousands(n),
        if n == 1 { one } else { many }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        let d = Duration::from_millis;
        assert_eq!(median(&[d(3), d(1), d(2)]), d(2));
        assert_eq!(
            median(&[d(4), d(1), d(2), d(3)]),
            Duration::from_micros(2_500)
        );
        assert_eq!(median(&[]), Duration::ZERO);
        assert_eq!(median_f64(&[5.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median_f64(&[]).is_nan());
        assert_eq!(k_per_s(312_400.0), "312k rows/s");
    }
}
