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

/// Appends [`format_utc`]'s text to `out`, written digit by digit (the JSONL writer calls this for
/// every message; `format_utc` goes through `jiff`'s general printer).
pub fn push_utc(out: &mut Vec<u8>, timestamp: Timestamp) {
    let civil = jiff::tz::Offset::UTC.to_datetime(timestamp);
    let Ok(year) = u32::try_from(civil.year()) else {
        out.extend_from_slice(format_utc(timestamp).as_bytes());
        return;
    };
    let mut text = *b"0000-00-00T00:00:00.000000000";
    let mut put = |range: std::ops::Range<usize>, mut value: u32| {
        for at in range.rev() {
            text[at] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0..4, year);
    put(5..7, civil.month().unsigned_abs().into());
    put(8..10, civil.day().unsigned_abs().into());
    put(11..13, civil.hour().unsigned_abs().into());
    put(14..16, civil.minute().unsigned_abs().into());
    put(17..19, civil.second().unsigned_abs().into());
    put(20..29, civil.subsec_nanosecond().unsigned_abs());
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
}
