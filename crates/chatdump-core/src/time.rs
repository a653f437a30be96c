//! Timestamp formatting shared by every output, so they all agree to the digit.

use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;

/// The caller's wall clock: the one seam through which library code reads the time (to compare
/// a download link's expiry, read `Retry-After` dates, stamp jobs). Binaries pass
/// `Clock::new(jiff::Timestamp::now)`; tests pass a fixed or scripted time.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    /// A clock that calls `now` for the current time.
    pub fn new(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// The current time, as the caller's function says.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// The number of fractional digits a timestamp needs: 3 (milliseconds) unless it has
/// sub-millisecond digits, then 6 or 9.
#[must_use]
pub fn fraction_digits(timestamp: Timestamp) -> u8 {
    let nanos = timestamp.subsec_nanosecond();
    if nanos % 1_000_000 == 0 {
        3
    } else if nanos % 1_000 == 0 {
        6
    } else {
        9
    }
}

/// Formats a timestamp as RFC 3339 in UTC with milliseconds, or more digits only when the value
/// has them: `2024-05-14T09:00:04.112Z`.
///
/// ```
/// use chatdump_core::time::format_utc;
/// let ts: jiff::Timestamp = "2024-05-14T09:00:04Z".parse().unwrap();
/// assert_eq!(format_utc(ts), "2024-05-14T09:00:04.000Z");
/// let ts: jiff::Timestamp = "2024-05-14T09:00:04.1234Z".parse().unwrap();
/// assert_eq!(format_utc(ts), "2024-05-14T09:00:04.123400Z");
/// ```
#[must_use]
pub fn format_utc(timestamp: Timestamp) -> String {
    Utc(timestamp).to_string()
}

/// Displays a timestamp as [`format_utc`] does, without allocating: `write!(out, "{}", Utc(ts))`.
#[derive(Debug, Clone, Copy)]
pub struct Utc(pub Timestamp);

impl std::fmt::Display for Utc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let timestamp = self.0;
        match fraction_digits(timestamp) {
            3 => write!(f, "{timestamp:.3}"),
            6 => write!(f, "{timestamp:.6}"),
            _ => write!(f, "{timestamp:.9}"),
        }
    }
}

/// Appends [`format_utc`]'s text to `out` (the JSONL writer calls this for every message;
/// `format_utc` goes through `jiff`'s general printer). Instants from 1970 to 9999 are
/// converted to a date by arithmetic on the day number and written from a table of two-digit
/// pairs; others go through `jiff`'s civil time.
pub fn push_utc(out: &mut Vec<u8>, timestamp: Timestamp) {
    /// The last second of 9999-12-31.
    const LAST: i64 = 253_402_300_799;
    let seconds = timestamp.as_second();
    let nanos = timestamp.subsec_nanosecond();
    let (Ok(seconds), Ok(nanos)) = (u64::try_from(seconds), u32::try_from(nanos)) else {
        return push_utc_civil(out, timestamp);
    };
    if seconds > LAST as u64 {
        return push_utc_civil(out, timestamp);
    }
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let of_day = u32::try_from(seconds % 86_400).expect("under 86,400");
    let mut text = *b"0000-00-00T00:00:00.000000000Z";
    put_pair(&mut text, 0, year / 100);
    put_pair(&mut text, 2, year % 100);
    put_pair(&mut text, 5, month);
    put_pair(&mut text, 8, day);
    put_pair(&mut text, 11, of_day / 3600);
    put_pair(&mut text, 14, of_day / 60 % 60);
    put_pair(&mut text, 17, of_day % 60);
    // Each length copied as a constant, so no general copy is called.
    if nanos % 1_000_000 == 0 {
        let millis = nanos / 1_000_000;
        text[20] = b'0' + u8::try_from(millis / 100).expect("a digit");
        put_pair(&mut text, 21, millis % 100);
        text[23] = b'Z';
        out.extend_from_slice(&text[..24]);
    } else {
        put_digits(&mut text[20..29], nanos);
        if nanos % 1_000 == 0 {
            text[26] = b'Z';
            out.extend_from_slice(&text[..27]);
        } else {
            out.extend_from_slice(&text);
        }
    }
}

/// "00" to "99", one after another.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes `value` (under 100) as two digits at `at`.
fn put_pair(text: &mut [u8], at: usize, value: u32) {
    let index = usize::try_from(value).expect("small") * 2;
    text[at..at + 2].copy_from_slice(&PAIRS[index..index + 2]);
}

/// Writes `value` right-aligned in `digits`, with leading zeros.
fn put_digits(digits: &mut [u8], mut value: u32) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + u8::try_from(value % 10).expect("a digit");
        value /= 10;
    }
}

/// The proleptic Gregorian (year, month, day) of `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days that are not negative).
fn civil_from_days(days: u64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    let small = |value: u64| u32::try_from(value).expect("a year, month or day");
    (small(year), small(month), small(day))
}

/// The days in `month` (1 to 12) of the proleptic Gregorian `year`.
pub(crate) fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a valid date of a year from 0 to 9999 (proleptic Gregorian; Howard
/// Hinnant's `days_from_civil`, with the years counted from March so that the leap day is last).
pub(crate) fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    // Shifted by 400 years, so the year stays positive in January and February of year 0.
    let year = year + 400 - u32::from(month <= 2);
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    i64::from(era) * 146_097 + i64::from(day_of_era) - 719_468 - 146_097
}

/// [`push_utc`] through `jiff`'s civil time, for any instant.
fn push_utc_civil(out: &mut Vec<u8>, timestamp: Timestamp) {
    let civil = jiff::tz::Offset::UTC.to_datetime(timestamp);
    let Ok(year) = u32::try_from(civil.year()) else {
        out.extend_from_slice(format_utc(timestamp).as_bytes());
        return;
    };
    let mut text = *b"0000-00-00T00:00:00.000000000";
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], civil.month().unsigned_abs().into());
    put_digits(&mut text[8..10], civil.day().unsigned_abs().into());
    put_digits(&mut text[11..13], civil.hour().unsigned_abs().into());
    put_digits(&mut text[14..16], civil.minute().unsigned_abs().into());
    put_digits(&mut text[17..19], civil.second().unsigned_abs().into());
    put_digits(&mut text[20..29], civil.subsec_nanosecond().unsigned_abs());
    out.extend_from_slice(&text[..20 + usize::from(fraction_digits(timestamp))]);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_utc_writes_what_format_utc_does() {
        let mut seconds = -62_135_596_800_i64; // 0001-01-01
        let nanos = [
            0,
            1,
            999,
            1_000,
            120_000,
            1_000_000,
            4_000_000,
            123_456_789,
            999_999_999,
        ];
        let mut checked = 0;
        while seconds < 253_402_300_799 {
            for nano in nanos {
                let timestamp = Timestamp::new(seconds, nano).unwrap();
                let mut pushed = Vec::new();
                push_utc(&mut pushed, timestamp);
                assert_eq!(String::from_utf8(pushed).unwrap(), format_utc(timestamp));
                checked += 1;
            }
            seconds += 7_919_993; // about three months, landing on every kind of day and time
        }
        assert!(checked > 20_000);
    }

    /// The arithmetic path against `jiff`: every day from 1970 to 2200 (each at another time of
    /// day), the days around the turn of every century to 9900 and the last instant `jiff` takes,
    /// with every precision.
    #[test]
    fn push_utc_dates_match_jiff() {
        let day = 86_400_i64;
        let last = Timestamp::MAX.as_second();
        let mut instants = vec![0, 1, day - 1, last, last - day];
        instants.extend((0..84_000).map(|days| days * day + (days * 7_919) % day));
        for century in (2000..=9900).step_by(100) {
            let start: Timestamp = format!("{century}-01-01T00:00:00Z").parse().unwrap();
            for days in -400..400 {
                instants.push(start.as_second() + days * day + days.rem_euclid(day));
            }
        }
        for nano in [
            0,
            1_000_000,
            999_000_000,
            120_000,
            999_999_000,
            1,
            999_999_999,
        ] {
            for &second in &instants {
                let timestamp = Timestamp::new(second, nano).unwrap();
                let mut pushed = b"x".to_vec();
                push_utc(&mut pushed, timestamp);
                assert_eq!(
                    pushed[1..],
                    *format_utc(timestamp).as_bytes(),
                    "{second} {nano}"
                );
            }
        }
    }
}
