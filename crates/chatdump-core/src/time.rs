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
    match fraction_digits(timestamp) {
        3 => format!("{timestamp:.3}"),
        6 => format!("{timestamp:.6}"),
        _ => format!("{timestamp:.9}"),
    }
}
