//! What a file is, from its first bytes (magic numbers), never from its name or `Content-Type`.

/// The bytes [`sniff`] needs to see (the longest signature, `WebP`'s, is 12 bytes).
pub const SNIFF_LEN: usize = 12;

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    /// The media type: `image/png`, `image/jpeg`, `image/gif`, `image/webp`, `application/pdf`,
    /// `application/zip`, or `application/octet-stream` when unknown.
    pub media_type: &'static str,
    /// Whether it is a raster image (PNG, JPEG, GIF, `WebP`), the only kind a browser may be given
    /// inline. SVG is not: it can carry scripts.
    pub is_raster_image: bool,
}

/// Recognises a file from its first bytes (at least [`SNIFF_LEN`] of them when the file is
/// that long). Text formats (SVG, HTML, XML) are never recognised: they are
/// `application/octet-stream`, whatever they claim to be.
///
/// ```
/// use chatdump_media::sniff;
/// assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\x0d").media_type, "image/png");
/// assert!(!sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\">").is_raster_image);
/// ```
#[must_use]
pub fn sniff(head: &[u8]) -> Sniffed {
    let image = |media_type| Sniffed {
        media_type,
        is_raster_image: true,
    };
    let other = |media_type| Sniffed {
        media_type,
        is_raster_image: false,
    };
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        image("image/png")
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        image("image/jpeg")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        image("image/gif")
    } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        image("image/webp")
    } else if head.starts_with(b"%PDF-") {
        other("application/pdf")
    } else if head.starts_with(b"PK\x03\x04") {
        other("application/zip")
    } else {
        other("application/octet-stream")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers_decide() {
        for (head, media_type, raster) in [
            (&b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"[..], "image/png", true),
            (&[0xff, 0xd8, 0xff, 0xe0, 0, 0x10][..], "image/jpeg", true),
            (b"GIF89a\x01\0\x01\0", "image/gif", true),
            (b"GIF87a\x01\0\x01\0", "image/gif", true),
            (b"RIFF\x1a\0\0\0WEBPVP8L", "image/webp", true),
            (b"RIFF\x1a\0\0\0WAVEfmt ", "application/octet-stream", false),
            (b"%PDF-1.7\n", "application/pdf", false),
            (b"PK\x03\x04\x14\0", "application/zip", false),
            (b"<svg xmlns=", "application/octet-stream", false),
            (b"<?xml version", "application/octet-stream", false),
            (b"<!doctype html>", "application/octet-stream", false),
            (b"\x89PNG", "application/octet-stream", false),
            (b"", "application/octet-stream", false),
        ] {
            let sniffed = sniff(head);
            assert_eq!(sniffed.media_type, media_type, "{head:?}");
            assert_eq!(sniffed.is_raster_image, raster, "{head:?}");
        }
    }
}
