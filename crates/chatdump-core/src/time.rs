//! Timestamp formatting shared by every output, so they all agree to the digit.

use jiff::Timestamp;

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
