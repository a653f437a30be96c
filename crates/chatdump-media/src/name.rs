//! The file name a fetched file is stored under.

use percent_encoding::percent_decode_str;
use reqwest::Url;

/// The longest safe name, in bytes.
pub const MAX_NAME_BYTES: usize = 80;

/// The longest extension kept when a name is shortened, in bytes (the dot included).
const MAX_EXTENSION_BYTES: usize = 16;

/// A name safe on every file system and in every shell and URL: `given`, or else the URL path's
/// last segment (percent-decoded), with every run of characters outside `[A-Za-z0-9._-]`
/// replaced by one `_`, no leading dot, at most [`MAX_NAME_BYTES`] bytes (the extension kept when
/// it is short); `file` when nothing is left.
///
/// ```
/// use chatdump_media::safe_name;
/// let url = "https://cdn.example.com/a/caf%C3%A9%20menu.png?sig=1".parse().unwrap();
/// assert_eq!(safe_name(&url, None), "caf_menu.png");
/// assert_eq!(safe_name(&url, Some("../../.bashrc")), "_.._.bashrc");
/// ```
#[must_use]
pub fn safe_name(url: &Url, given: Option<&str>) -> String {
    let raw = if let Some(name) = given {
        name.to_owned()
    } else {
        let segment = url
            .path_segments()
            .and_then(|mut segments| segments.next_back())
            .unwrap_or_default();
        percent_decode_str(segment).decode_utf8_lossy().into_owned()
    };
    let mut name = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            name.push(c);
        } else if !name.ends_with('_') {
            name.push('_');
        }
    }
    let name = name.trim_start_matches('.');
    let mut name = if name.len() > MAX_NAME_BYTES {
        match name.rfind('.') {
            Some(dot) if name.len() - dot <= MAX_EXTENSION_BYTES && dot > 0 => {
                let extension = &name[dot..];
                format!("{}{extension}", &name[..MAX_NAME_BYTES - extension.len()])
            }
            _ => name[..MAX_NAME_BYTES].to_owned(),
        }
    } else {
        name.to_owned()
    };
    if name.is_empty() || name.chars().all(|c| c == '_') {
        "file".clone_into(&mut name);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        text.parse().unwrap()
    }

    #[test]
    fn names_are_reduced() {
        let long = format!("https://h.example/{}.jpeg", "a".repeat(200));
        for (link, given, expected) in [
            (
                "https://h.example/x/photo.png?X-Amz-Signature=s",
                None,
                "photo.png",
            ),
            (
                "https://h.example/x/my%20photo%E2%80%AE.png",
                None,
                "my_photo_.png",
            ),
            (
                "https://h.example/x/..%2F..%2Fetc%2Fpasswd",
                None,
                "_.._etc_passwd",
            ),
            ("https://h.example/x/.hidden", None, "hidden"),
            ("https://h.example/x/...", None, "file"),
            ("https://h.example/", None, "file"),
            ("https://h.example/x/%00%1b", None, "file"),
            (
                "https://h.example/x/a.png",
                Some("Report Q3.pdf"),
                "Report_Q3.pdf",
            ),
            (
                "https://h.example/x/a.png",
                Some("\u{202e}gnp.exe"),
                "_gnp.exe",
            ),
        ] {
            assert_eq!(safe_name(&url(link), given), expected, "{link} {given:?}");
        }
        let shortened = safe_name(&url(&long), None);
        assert_eq!(shortened.len(), MAX_NAME_BYTES);
        assert!(shortened.ends_with("aaa.jpeg"), "{shortened}");
        let no_extension = safe_name(&url(&format!("https://h.example/{}", "b".repeat(99))), None);
        assert_eq!(no_extension, "b".repeat(80));
    }
}
