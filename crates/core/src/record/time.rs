//! Times as exporters write them: unix nanoseconds and RFC 3339.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix nanoseconds of a time (0 before the epoch).
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
        .unwrap_or(0)
}

/// RFC 3339 UTC with microseconds (`2025-05-22T00:00:00.500000Z`), the timestamp form vendor APIs
/// expect, without a date library.
pub fn rfc3339(unix_nanos: u64) -> String {
    let secs = unix_nanos / 1_000_000_000;
    let micros = (unix_nanos % 1_000_000_000) / 1_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Written digit by digit: every exported span carries one or two timestamps, and `format!`
    // costs several times more. A u64 of nanoseconds ends in 2554, so the year has four digits.
    fn put(out: &mut String, v: u64, width: u32) {
        for i in (0..width).rev() {
            out.push(char::from(b'0' + (v / 10u64.pow(i) % 10) as u8));
        }
    }
    let mut out = String::with_capacity(27);
    for (v, width, after) in [
        (year as u64, 4, '-'),
        (month as u64, 2, '-'),
        (day as u64, 2, 'T'),
        (rem / 3600, 2, ':'),
        ((rem % 3600) / 60, 2, ':'),
        (rem % 60, 2, '.'),
        (micros, 6, 'Z'),
    ] {
        put(&mut out, v, width);
        out.push(after);
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(1_747_872_000_500_000_000),
            "2025-05-22T00:00:00.500000Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(
            rfc3339(4_102_444_799_999_999_000),
            "2099-12-31T23:59:59.999999Z"
        );
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709551Z");
    }
}
