//! The storage of the images and files a chat links to: `GET /media/{name}`, any query string
//! (a presigned link's signature is not checked: two links with different queries serve the same
//! bytes). Every request is recorded under [`Route::Media`] with `name` as its session.
//!
//! | name | answer |
//! |---|---|
//! | `pixel.png` | a valid 1x1 PNG, `image/png` |
//! | `photo.jpg` | a valid 1x1 baseline JPEG, `image/jpeg` |
//! | `doc.pdf` | a tiny PDF, `application/pdf` |
//! | `evil.svg` | an SVG with a `<script>`, `image/svg+xml` |
//! | `fake.png` | HTML with a `<script>`, served as `image/png` |
//! | `big.bin` | [`MEDIA_BIG_BYTES`] bytes, chunked (no `Content-Length`) |
//! | `slow.png` | the PNG's first 8 bytes, then silence for [`Config::stall`](crate::Config), then the rest |
//! | `expired.png` | HTTP 403, S3's `Request has expired` |
//! | `redirect.png` | HTTP 302 to `/media/pixel.png` on the same address |
//! | `redirect-localhost.png` | HTTP 302 to `http://localhost:PORT/media/pixel.png` |
//! | `redirect-metadata.png` | HTTP 302 to `http://169.254.169.254/latest/meta-data/` |
//! | anything else | HTTP 404, S3's `NoSuchKey` |

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

use crate::{Route, Shared, respond, s3_error};

/// The dump of a `media--*` session: [`crate::chat_csv`], then four attachment messages
/// linking to `base`'s `/media/*` with a signed-looking query: `pixel.png` and `photo.jpg`
/// (`IMAGE_MESSAGE`), `doc.pdf` (`FILE_MESSAGE` with the SDK's JSON payload) and
/// `expired.png` (403).
#[must_use]
pub fn media_csv(session_id: &str, messages: usize, base: &str) -> Vec<u8> {
    let mut csv = crate::chat_csv(session_id, messages);
    let session = if session_id.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", session_id.replace('"', "\"\""))
    } else {
        session_id.to_owned()
    };
    let link = |name: &str| {
        format!("{base}/media/{name}?X-Amz-Expires=604800&X-Amz-Signature=media-secret")
    };
    let rows = [
        ("IMAGE_MESSAGE", link("pixel.png")),
        ("IMAGE_MESSAGE", link("photo.jpg")),
        (
            "FILE_MESSAGE",
            format!(
                "\"{{\"\"link\"\":\"\"{}\"\",\"\"name\"\":\"\"doc.pdf\"\",\"\"size\"\":\"\"191\"\"}}\"",
                link("doc.pdf")
            ),
        ),
        ("IMAGE_MESSAGE", link("expired.png")),
    ];
    for (index, (payload_type, payload)) in rows.into_iter().enumerate() {
        csv.extend_from_slice(
            format!(
                "media-{index},e32fb785-ddd0-4b96-b577-879327c0082f,{session},meeting-1,Mary Sue (Host),false,false,{payload_type},{payload},2024-05-14T23:59:5{index}.000Z\n"
            )
            .as_bytes(),
        );
    }
    csv
}

/// The size of `/media/big.bin`.
pub const MEDIA_BIG_BYTES: usize = 64 << 10;

/// A valid 1x1 transparent PNG (67 bytes).
#[must_use]
pub fn media_png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    // IHDR: 1x1, 8-bit RGBA.
    png.extend_from_slice(b"\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89");
    // IDAT: zlib of one filter byte and four zero bytes.
    png.extend_from_slice(
        b"\0\0\0\x0aIDAT\x78\x9c\x63\x00\x01\x00\x00\x05\x00\x01\x0d\x0a\x2d\xb4",
    );
    png.extend_from_slice(b"\0\0\0\0IEND\xae\x42\x60\x82");
    png
}

/// A valid 1x1 grey baseline JPEG: one quantisation table of ones, one Huffman table of one
/// 1-bit code each for DC and AC, and a scan holding "DC difference 0, end of block".
#[must_use]
pub fn media_jpeg() -> Vec<u8> {
    let mut jpeg = vec![0xff, 0xd8];
    // DQT: table 0, 8-bit, all ones.
    jpeg.extend_from_slice(&[0xff, 0xdb, 0x00, 0x43, 0x00]);
    jpeg.extend_from_slice(&[1; 64]);
    // SOF0: 8-bit, 1x1, one component (id 1, 1x1 sampling, table 0).
    jpeg.extend_from_slice(&[
        0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01, 0x11, 0x00,
    ]);
    // DHT: DC table 0 and AC table 0, each one code of length 1 for symbol 0.
    for class in [0x00, 0x10] {
        jpeg.extend_from_slice(&[0xff, 0xc4, 0x00, 0x14, class, 0x01]);
        jpeg.extend_from_slice(&[0; 15]);
        jpeg.push(0x00);
    }
    // SOS: one component, tables 0/0, spectral 0..63; then the bits `00`, padded with ones.
    jpeg.extend_from_slice(&[
        0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0x3f,
    ]);
    jpeg.extend_from_slice(&[0xff, 0xd9]);
    jpeg
}

/// A tiny PDF (one empty page).
pub const MEDIA_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

/// An SVG that runs a script when opened as a document.
pub const MEDIA_SVG: &[u8] = b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\" height=\"1\"><script>alert(document.domain)</script></svg>\n";

/// HTML posing as a PNG.
pub const MEDIA_FAKE_PNG: &[u8] =
    b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/media/{name}", get(media))
}

async fn media(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let response = media_response(&shared, &name);
    shared.record(Route::Media, &name, &headers, response.status());
    response
}

fn media_response(shared: &Shared, name: &str) -> Response {
    match name {
        "pixel.png" => respond(StatusCode::OK, "image/png", media_png()),
        "photo.jpg" => respond(StatusCode::OK, "image/jpeg", media_jpeg()),
        "doc.pdf" => respond(StatusCode::OK, "application/pdf", MEDIA_PDF),
        "evil.svg" => respond(StatusCode::OK, "image/svg+xml", MEDIA_SVG),
        "fake.png" => respond(StatusCode::OK, "image/png", MEDIA_FAKE_PNG),
        "big.bin" => {
            // A stream of unknown length: hyper sends it chunked, with no `Content-Length`.
            let pieces = (0..MEDIA_BIG_BYTES / 4096)
                .map(|_| Ok::<_, io::Error>(Bytes::from_static(&[b'x'; 4096])));
            respond(
                StatusCode::OK,
                "application/octet-stream",
                Body::from_stream(futures_util::stream::iter(pieces)),
            )
        }
        "slow.png" => {
            let png = Bytes::from(media_png());
            let stall = shared.config.stall;
            let stream = futures_util::stream::unfold(0_u8, move |step| {
                let png = png.clone();
                async move {
                    match step {
                        0 => Some((Ok::<_, io::Error>(png.slice(..8)), 1)),
                        1 => {
                            tokio::time::sleep(stall).await;
                            Some((Ok(png.slice(8..)), 2))
                        }
                        _ => None,
                    }
                }
            });
            respond(StatusCode::OK, "image/png", Body::from_stream(stream))
        }
        "expired.png" => s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired"),
        "redirect.png" => redirect("/media/pixel.png"),
        "redirect-localhost.png" => redirect(&format!(
            "{}/media/pixel.png",
            shared.base.replacen("//127.0.0.1:", "//localhost:", 1)
        )),
        "redirect-metadata.png" => redirect("http://169.254.169.254/latest/meta-data/"),
        _ => s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        ),
    }
}

fn redirect(location: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
