//! Timestamps of probe records: RFC 3339 (`2026-11-21T20:00:00.123456Z`, any offset) or
//! seconds since the epoch with an optional fraction (`1795291200.123456`).

/// Microseconds since the epoch, or `None` if `text` is neither form (or before 1970).
pub fn parse_timestamp(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.as_bytes().first().is_some_and(u8::is_ascii_digit) && !text.contains(['-', ':']) {
        return parse_epoch_seconds(text);
    }
    parse_rfc3339(text)
}

/// `1795291200`, `1795291200.5`, `1795291200.123456` (more than 6 fraction digits are cut).
pub fn parse_epoch_seconds(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || whole.len() > 12 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: u64 = whole.parse().ok()?;
    Some(seconds * 1_000_000 + fraction_micros(fraction))
}

fn fraction_micros(fraction: &str) -> u64 {
    let digits = &fraction.as_bytes()[..fraction.len().min(6)];
    let value = digits.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    value * 10u64.pow(6 - digits.len() as u32)
}

fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<i64> {
        let part = text.get(from..to)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut micros = 0;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        micros = fraction_micros(&after_dot[..digits]);
        rest = &after_dot[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let offset = rest.get(1..)?;
            let (h, m) = offset.split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    u64::try_from(seconds).ok().map(|s| s * 1_000_000 + micros)
}

/// Formats microseconds since the epoch as RFC 3339 UTC with microseconds
/// (`2026-11-21T20:00:00.120000Z`), the inverse of [`parse_timestamp`].
pub fn format_timestamp(micros: u64) -> String {
    let seconds = (micros / 1_000_000) as i64;
    let (days, day_seconds) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        day_seconds / 3600,
        day_seconds / 60 % 60,
        day_seconds % 60,
        micros % 1_000_000
    )
}

/// Days of `month` (1 to 12) in `year` of the Gregorian calendar.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The date of a day number since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2026-11-21T20:00:00Z"), Some(1_795_291_200_000_000));
        assert_eq!(parse_timestamp("2026-11-21T20:00:00.5Z"), Some(1_795_291_200_500_000));
        assert_eq!(
            parse_timestamp("2026-11-21 21:00:00.123456+01:00"),
            Some(1_795_291_200_123_456)
        );
        assert_eq!(
            parse_timestamp("2026-11-21T19:30:00.1234567-00:30"),
            Some(1_795_291_200_123_456)
        );
        assert_eq!(parse_timestamp("2024-02-29T00:00:00Z"), Some(1_709_164_800_000_000));
        assert!(parse_timestamp("2000-02-29T00:00:00Z").is_some());
        assert!(parse_timestamp("2026-12-31T23:59:59Z").is_some());
    }

    #[test]
    fn formatting_is_the_inverse_of_parsing() {
        for micros in [0, 1_795_291_200_123_456, 1_709_164_800_000_001, 4_102_444_799_999_999] {
            let text = format_timestamp(micros);
            assert_eq!(parse_timestamp(&text), Some(micros), "{text}");
        }
        assert_eq!(format_timestamp(1_795_291_200_120_000), "2026-11-21T20:00:00.120000Z");
    }

    #[test]
    fn epoch_forms() {
        assert_eq!(parse_timestamp("1795291200"), Some(1_795_291_200_000_000));
        assert_eq!(parse_timestamp("1795291200.25"), Some(1_795_291_200_250_000));
    }

    #[test]
    fn nonsense_is_refused() {
        for text in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T20:00:00",
            "2026-11-21T20:00:00.Z",
            "1969-12-31T23:59:59Z",
            "12.3.4",
            "-5",
            "2026-11-21T20:00:00+1:00",
            // Dates that do not exist are errors, not the next month.
            "2026-02-30T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
    }
}
