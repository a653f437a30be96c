//! The time zone a transcript is shown in, from the bundled time-zone database.

use chatdump_core::time::{format_utc, fraction_digits};
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// An unknown time-zone name.
#[derive(Debug, thiserror::Error)]
#[error("unknown time zone `{name}`: expected an IANA name such as `UTC` or `Europe/Madrid`")]
pub struct ZoneError {
    /// The name as given (terminal-escaped by the caller before printing).
    pub name: String,
}

/// A named time zone: every time in a transcript is shown in it, and labelled.
///
/// Zones come from the copy of the IANA database compiled into the binary (jiff's
/// `tzdb-bundle-always`), never from the machine, so a transcript is byte-identical on every
/// machine whatever its own time-zone files say.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    time_zone: TimeZone,
}

impl Default for Zone {
    fn default() -> Self {
        Self::utc()
    }
}

impl Zone {
    /// Coordinated Universal Time, the default.
    #[must_use]
    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            time_zone: TimeZone::UTC,
        }
    }

    /// Looks up an IANA time-zone name (`Europe/Madrid`, `America/New_York`, `UTC`) in the
    /// bundled database. Names are matched ignoring ASCII case; the canonical spelling is kept.
    ///
    /// ```
    /// use chatdump_transcript::Zone;
    /// assert_eq!(Zone::from_name("europe/madrid").unwrap().name(), "Europe/Madrid");
    /// assert!(Zone::from_name("Mars/Olympus_Mons").is_err());
    /// ```
    pub fn from_name(name: &str) -> Result<Self, ZoneError> {
        let error = || ZoneError {
            name: name.to_owned(),
        };
        // Only names made of the characters IANA names use, so a path such as `../x` is never
        // looked up anywhere.
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
        {
            return Err(error());
        }
        let time_zone = jiff::tz::db().get(name).map_err(|_| error())?;
        let canonical = time_zone.iana_name().unwrap_or(name).to_owned();
        Ok(Self {
            name: canonical,
            time_zone,
        })
    }

    /// The IANA name (`UTC`, `Europe/Madrid`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wall-clock date and time of the instant in this zone.
    #[must_use]
    pub fn local(&self, timestamp: Timestamp) -> DateTime {
        self.time_zone.to_datetime(timestamp)
    }

    /// The calendar day of the instant in this zone (where day separators go).
    #[must_use]
    pub fn date(&self, timestamp: Timestamp) -> Date {
        self.time_zone.to_datetime(timestamp).date()
    }

    /// The zone's abbreviation at that instant (`UTC`, `CEST`, or an offset such as `+0530`
    /// for zones without one).
    #[must_use]
    pub fn abbreviation(&self, timestamp: Timestamp) -> String {
        self.time_zone
            .to_offset_info(timestamp)
            .abbreviation()
            .to_owned()
    }

    /// The time of day with seconds, labelled: `09:00:04 UTC`.
    #[must_use]
    pub fn time_label(&self, timestamp: Timestamp) -> String {
        let local = self.local(timestamp);
        format!(
            "{:02}:{:02}:{:02} {}",
            local.hour(),
            local.minute(),
            local.second(),
            self.abbreviation(timestamp)
        )
    }

    /// [`Zone::time_label`] and [`Zone::date_time_label`] at once (one zone lookup), for each
    /// message a group template is given (`m.time`, `m.date_time`).
    #[must_use]
    pub fn time_and_date_time_labels(&self, timestamp: Timestamp) -> (String, String) {
        const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let local = self.local(timestamp);
        let abbreviation = self.abbreviation(timestamp);
        let time = format!(
            "{:02}:{:02}:{:02} {abbreviation}",
            local.hour(),
            local.minute(),
            local.second(),
        );
        let weekday = WEEKDAYS[usize::from(local.weekday().to_monday_zero_offset().unsigned_abs())];
        let month = MONTHS[usize::from(local.month().unsigned_abs().saturating_sub(1))];
        let date_time = format!("{weekday} {} {month} {}, {time}", local.day(), local.year());
        (time, date_time)
    }

    /// The short time of day, labelled: `09:00 UTC`.
    #[must_use]
    pub fn short_time_label(&self, timestamp: Timestamp) -> String {
        format!(
            "{} {}",
            self.local(timestamp).strftime("%H:%M"),
            self.abbreviation(timestamp)
        )
    }

    /// The date and time, labelled: `Tue 14 May 2024, 09:00:04 UTC`.
    #[must_use]
    pub fn date_time_label(&self, timestamp: Timestamp) -> String {
        format!(
            "{} {}",
            self.local(timestamp).strftime("%a %-d %b %Y, %H:%M:%S"),
            self.abbreviation(timestamp)
        )
    }

    /// The offset from UTC at that instant, as `UTC+02:00`.
    #[must_use]
    pub fn offset_label(&self, timestamp: Timestamp) -> String {
        let seconds = self.time_zone.to_offset(timestamp).seconds();
        let sign = if seconds < 0 { '-' } else { '+' };
        let seconds = seconds.unsigned_abs();
        format!("UTC{sign}{:02}:{:02}", seconds / 3600, seconds / 60 % 60)
    }
}

/// The per-message time labels of a zone, written into a buffer, remembering the last minute's
/// text: messages come in time order, often dozens a minute, so most labels only need their
/// seconds written.
///
/// The remembered text is cut from [`Zone::time_label`] and [`Zone::short_time_label`], and
/// reused only for the same local minute, UTC offset and abbreviation, where those labels
/// differ in nothing but the seconds.
#[derive(Debug, Clone)]
pub struct TimeLabels {
    zone: Zone,
    /// The local minute (minutes since the epoch in local time) and the offset in seconds.
    minute: Option<(i64, i32)>,
    abbreviation: String,
    /// `09:00:`
    hour_minute: String,
    /// `09:00 UTC`
    short: String,
    /// The instant of the last [`TimeLabels::refresh`] and the local second it returned: a
    /// group's heading and its first message label the same instant, looked up once.
    refreshed: Option<(Timestamp, i64)>,
    /// The UTC minute (minutes since the epoch) of `utc`.
    utc_minute: Option<i64>,
    /// `2024-05-14T09:00:`
    utc: String,
}

impl TimeLabels {
    /// Labels in `zone`.
    #[must_use]
    pub fn new(zone: Zone) -> Self {
        Self {
            zone,
            minute: None,
            abbreviation: String::new(),
            hour_minute: String::new(),
            short: String::new(),
            refreshed: None,
            utc_minute: None,
            utc: String::new(),
        }
    }

    /// Appends [`format_utc`] of `timestamp` (`2024-05-14T09:00:04.112Z`), the date, hour and
    /// minute remembered from the last call in the same minute.
    pub fn write_utc(&mut self, timestamp: Timestamp, out: &mut String) {
        const DIGITS: &[u8; 10] = b"0123456789";
        let (second, nanos) = floor_second(timestamp);
        let minute = second.div_euclid(60);
        let digits = u32::from(fraction_digits(timestamp));
        if self.utc_minute != Some(minute) {
            let full = format_utc(timestamp);
            // The text ends with the seconds, a dot, the fraction and `Z`.
            self.utc.clear();
            self.utc
                .push_str(&full[..full.len() - (digits as usize + 4)]);
            self.utc_minute = Some(minute);
        }
        out.push_str(&self.utc);
        let second = usize::try_from(second.rem_euclid(60)).unwrap_or(0);
        out.push(char::from(DIGITS[second / 10]));
        out.push(char::from(DIGITS[second % 10]));
        out.push('.');
        let mut fraction = nanos / 10_u32.pow(9 - digits);
        let mut text = [b'0'; 9];
        for digit in text[..digits as usize].iter_mut().rev() {
            *digit = DIGITS[(fraction % 10) as usize];
            fraction /= 10;
        }
        out.push_str(std::str::from_utf8(&text[..digits as usize]).unwrap_or_default());
        out.push('Z');
    }

    /// The zone.
    #[must_use]
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// Remembers the minute of `timestamp`; returns its local second (0 to 59).
    fn refresh(&mut self, timestamp: Timestamp) -> i64 {
        if let Some((last, second)) = self.refreshed
            && last == timestamp
        {
            return second;
        }
        let info = self.zone.time_zone.to_offset_info(timestamp);
        let offset = info.offset().seconds();
        let local = floor_second(timestamp).0 + i64::from(offset);
        let minute = (local.div_euclid(60), offset);
        if self.minute != Some(minute) || self.abbreviation != info.abbreviation() {
            let time = self.zone.time_label(timestamp);
            // `time` is `HH:MM:SS ABBREVIATION`.
            self.hour_minute.clear();
            self.hour_minute.push_str(&time[..6]);
            time[9..].clone_into(&mut self.abbreviation);
            self.short = self.zone.short_time_label(timestamp);
            self.minute = Some(minute);
        }
        let second = local.rem_euclid(60);
        self.refreshed = Some((timestamp, second));
        second
    }

    /// Appends [`Zone::time_label`]: `09:00:04 UTC`.
    pub fn write_time(&mut self, timestamp: Timestamp, out: &mut String) {
        let second = self.refresh(timestamp);
        self.write_time_of_minute(second, out);
    }

    /// Appends [`Zone::short_time_label`]: `09:00 UTC`.
    pub fn write_short_time(&mut self, timestamp: Timestamp, out: &mut String) {
        self.refresh(timestamp);
        out.push_str(&self.short);
    }

    fn write_time_of_minute(&self, second: i64, out: &mut String) {
        const DIGITS: &[u8; 10] = b"0123456789";
        let second = usize::try_from(second).unwrap_or(0);
        out.push_str(&self.hour_minute);
        out.push(char::from(DIGITS[second / 10 % 10]));
        out.push(char::from(DIGITS[second % 10]));
        out.push(' ');
        out.push_str(&self.abbreviation);
    }
}

/// The whole seconds of `timestamp` rounded down (`as_second` rounds towards zero) and the
/// nanoseconds after them (0 to 999,999,999).
fn floor_second(timestamp: Timestamp) -> (i64, u32) {
    let nanos = timestamp.subsec_nanosecond();
    if nanos < 0 {
        (
            timestamp.as_second() - 1,
            (nanos + 1_000_000_000).unsigned_abs(),
        )
    } else {
        (timestamp.as_second(), nanos.unsigned_abs())
    }
}

/// A calendar day, written out: `Tuesday, 14 May 2024`.
#[must_use]
pub fn day_label(date: Date) -> String {
    date.strftime("%A, %-d %B %Y").to_string()
}

/// A duration for people: `45 s`, `12 min`, `1 h 05 min`, `2 d 3 h`.
///
/// ```
/// use chatdump_transcript::zone::human_duration;
/// use jiff::SignedDuration;
/// assert_eq!(human_duration(SignedDuration::from_secs(4_380)), "1 h 13 min");
/// assert_eq!(human_duration(SignedDuration::from_secs(59)), "59 s");
/// ```
#[must_use]
pub fn human_duration(duration: SignedDuration) -> String {
    let seconds = duration.as_secs().unsigned_abs();
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {minutes:02} min")
    } else if minutes > 0 {
        format!("{minutes} min {:02} s", seconds % 60)
    } else {
        format!("{seconds} s")
    }
}

/// A byte count for people, in binary units: `532 B`, `1.2 KiB`, `18.4 MiB`.
///
/// ```
/// use chatdump_transcript::zone::human_size;
/// assert_eq!(human_size(532), "532 B");
/// assert_eq!(human_size(1_258_291), "1.2 MiB");
/// ```
#[must_use]
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Tenths of the unit, computed in integers so every machine prints the same digits.
    let mut unit = 0;
    let mut scaled = u128::from(bytes);
    while (scaled * 10 + 512) / 1024 >= 10_240 && unit + 1 < UNITS.len() {
        scaled /= 1024;
        unit += 1;
    }
    let tenths = (scaled * 10 + 512) / 1024;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_in_a_zone() {
        let zone = Zone::from_name("Europe/Madrid").unwrap();
        let ts: Timestamp = "2024-05-14T22:30:04.112Z".parse().unwrap();
        assert_eq!(zone.time_label(ts), "00:30:04 CEST");
        assert_eq!(zone.date(ts).to_string(), "2024-05-15");
        assert_eq!(zone.offset_label(ts), "UTC+02:00");
        assert_eq!(day_label(zone.date(ts)), "Wednesday, 15 May 2024");
        let kolkata = Zone::from_name("Asia/Kolkata").unwrap();
        assert_eq!(kolkata.offset_label(ts), "UTC+05:30");
        assert_eq!(
            Zone::utc().date_time_label(ts),
            "Tue 14 May 2024, 22:30:04 UTC"
        );
        for zone in [Zone::utc(), zone, kolkata] {
            for seconds in [0, 1_715_725_804, 1_700_000_000, -86_400 * 400] {
                let at = Timestamp::from_second(seconds).unwrap();
                assert_eq!(
                    zone.time_and_date_time_labels(at),
                    (zone.time_label(at), zone.date_time_label(at))
                );
            }
        }
    }

    /// The remembered minute gives the labels computed afresh, in zones with daylight saving
    /// time, half-hour and 45-minute offsets and a historical offset in seconds, around
    /// transitions, before 1970 and at every sub-second precision.
    #[test]
    fn time_labels_match_the_zone() {
        for name in [
            "UTC",
            "Europe/Madrid",
            "America/New_York",
            "Asia/Kolkata",
            "Asia/Kathmandu",
            "Australia/Lord_Howe",
            "Africa/Monrovia",
            "Europe/Dublin",
        ] {
            let zone = Zone::from_name(name).unwrap();
            let mut labels = TimeLabels::new(zone.clone());
            let mut check = |at: Timestamp| {
                let mut out = String::new();
                labels.write_time(at, &mut out);
                assert_eq!(out, zone.time_label(at), "{name} {at}");
                out.clear();
                labels.write_short_time(at, &mut out);
                assert_eq!(out, zone.short_time_label(at), "{name} {at}");
                out.clear();
                labels.write_utc(at, &mut out);
                assert_eq!(out, format_utc(at), "{name} {at}");
            };
            // Steps of 7.3 s (a new minute every few labels) through spring and autumn
            // transitions of 2024, and through 1970-1972 (Monrovia's -00:44:30 ends in 1972).
            for start in [
                1_711_846_000_i64,
                1_729_990_000,
                1_730_595_000,
                -100_000,
                63_000_000,
            ] {
                for step in 0..2_000_i64 {
                    let nanos = step * 7_300_000_000;
                    check(
                        Timestamp::new(
                            start + nanos / 1_000_000_000,
                            i32::try_from(nanos % 1_000_000_000).unwrap(),
                        )
                        .unwrap(),
                    );
                }
            }
            // Negative instants with a fraction (rounded down, not towards zero), and far years.
            for (second, nanos) in [(-1, -500_000_000), (-61, -1), (-62_135_596_800, 0)] {
                check(Timestamp::new(second, nanos).unwrap());
            }
            for nanos in [1, -1, 1_000, -1_000, 999_999_999, -999_999_999, 120_000_000] {
                check(Timestamp::new(1_715_677_204, nanos).unwrap());
                check(Timestamp::new(-1_715_677_204, nanos).unwrap());
            }
            check(Timestamp::MIN);
            check(Timestamp::MAX);
        }
    }

    #[test]
    fn rejects_odd_names() {
        for name in ["", "../etc/passwd", "Europe/Nowhere", "UTC\n"] {
            assert!(Zone::from_name(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
        assert_eq!(human_duration(SignedDuration::from_secs(90_000)), "1 d 1 h");
        assert_eq!(human_duration(SignedDuration::from_secs(61)), "1 min 01 s");
    }
}
