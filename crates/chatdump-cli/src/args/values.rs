//! Value parsers for the flags: sizes, durations, times, zones, directories.

use std::path::PathBuf;
use std::time::Duration;

use chatdump_core::escape::escape_for_terminal;
use chatdump_parquet::Compression;
use chatdump_transcript::Zone;
use jiff::Timestamp;
use jiff::civil::Date;

/// Parses a byte size: a number with an optional `B`, `KiB`, `MiB`, `GiB` (or `K`, `M`, `G`,
/// `KB`, `MB`, `GB`, all binary) suffix.
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as `8MiB`"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("`{text}`: unknown unit (use B, KiB, MiB or GiB)")),
    };
    let size = number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if size == 0 {
        return Err("the size must be more than 0".into());
    }
    Ok(size)
}

/// Parses a duration: a number with `ms`, `s`, `m` or `h` (a bare number is seconds).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as `500ms`, `2s` or `5m`"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("`{text}`: unknown unit (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

/// Parses a time: RFC 3339, or a date meaning its midnight UTC.
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(time) = text.parse::<Timestamp>() {
        return Ok(time);
    }
    text.parse::<Date>()
        .ok()
        .and_then(|date| format!("{date}T00:00:00Z").parse::<Timestamp>().ok())
        .ok_or_else(|| {
            format!(
                "`{}` is not a time: use RFC 3339 (`2024-05-14T09:00:00Z`) or a date (`2024-05-14`)",
                escape_for_terminal(text, 80)
            )
        })
}

/// Parses an IANA time zone name from the database built into chatdump.
pub(crate) fn parse_zone(name: &str) -> Result<Zone, String> {
    Zone::from_name(name).map_err(|error| escape_for_terminal(&error.to_string(), 200))
}

/// Parses the path of an existing directory.
pub(crate) fn parse_directory(path: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(path);
    if path.is_dir() {
        Ok(path)
    } else {
        Err(format!(
            "`{}` is not a directory",
            escape_for_terminal(&path.display().to_string(), 200)
        ))
    }
}

/// Parses a Parquet compression: `snappy`, `zstd`, `zstd=LEVEL` or `none`.
pub(crate) fn parse_compression(text: &str) -> Result<Compression, String> {
    text.parse()
        .map_err(|error: chatdump_parquet::CompressionError| error.to_string())
}

/// Parses a row count of at least 1 (`_` separators allowed).
pub(crate) fn parse_rows(text: &str) -> Result<usize, String> {
    match text.trim().replace('_', "").parse::<usize>() {
        Ok(rows) if rows > 0 => Ok(rows),
        _ => Err(format!(
            "`{}` is not a row count of at least 1",
            escape_for_terminal(text, 80)
        )),
    }
}

/// Parses an Elasticsearch / `OpenSearch` index name.
pub(crate) fn parse_index(text: &str) -> Result<String, String> {
    chatdump_jsonl::validate_index_name(text).map(|()| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("2 g"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 days").is_err());
    }

    #[test]
    fn zones_and_directories_are_checked() {
        assert_eq!(parse_zone("asia/tokyo").unwrap().name(), "Asia/Tokyo");
        let error = parse_zone("Moon/Base\u{1b}").unwrap_err();
        assert!(error.contains("\\u{1b}"), "{error}");
        assert!(parse_directory("/definitely/not/here").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time("2024-05-14").unwrap().to_string(),
            "2024-05-14T00:00:00Z"
        );
        assert!(parse_time("yesterday").is_err());
    }
}
