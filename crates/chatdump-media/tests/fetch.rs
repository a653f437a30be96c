//! `fetch_all` against the test server's `/media/` routes on 127.0.0.1, allowed as the one
//! insecure host.

#![allow(
    clippy::disallowed_methods,
    reason = "tests use the system temporary directory"
)]

use std::path::Path;
use std::time::Duration;

use chatdump_api::RetryPolicy;
use chatdump_media::{MediaEntry, MediaEvent, MediaIndex, MediaLink, MediaObserver, MediaOptions};
use chatdump_testserver::media::{MEDIA_FAKE_PNG, MEDIA_PDF, MEDIA_SVG, media_jpeg, media_png};
use chatdump_testserver::{Config, Route, Server};
use sha2::{Digest as _, Sha256};

fn server() -> Server {
    Server::start(Config {
        stall: Duration::from_secs(3),
        ..Config::default()
    })
    .unwrap()
}

/// Options for the test server: it is the insecure host, retries are quick.
fn options(server: &Server) -> MediaOptions {
    MediaOptions {
        read_timeout: Duration::from_millis(300),
        retry: RetryPolicy {
            max_attempts: 2,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
            max_retry_after: Duration::from_secs(1),
            max_total: Duration::from_secs(20),
        },
        ..MediaOptions::default()
    }
    .allow_insecure_host(&server.addr().to_string())
    .unwrap()
}

/// A presigned-looking link to `/media/{name}`, its signature naming the file.
fn link(server: &Server, name: &str) -> String {
    format!(
        "http://{}/media/{name}?X-Amz-Expires=604800&X-Amz-Signature=SECRET-{name}",
        server.addr()
    )
}

#[derive(Debug, Default)]
struct Recorder {
    planned: usize,
    bytes: u64,
    done: usize,
    events: Vec<MediaEvent>,
}

impl MediaObserver for Recorder {
    fn planned(&mut self, links: usize) {
        self.planned = links;
    }

    fn progress(&mut self, bytes: u64) {
        assert!(bytes >= self.bytes, "progress goes forward");
        self.bytes = bytes;
    }

    fn links_done(&mut self, done: usize) {
        self.done = done;
    }

    fn event(&mut self, event: &MediaEvent) {
        self.events.push(event.clone());
    }
}

async fn fetch(links: &[String], dir: &Path, options: &MediaOptions) -> (MediaIndex, Recorder) {
    let mut recorder = Recorder::default();
    let index = chatdump_media::fetch_all(
        links.iter().map(|url| MediaLink::from(url.as_str())),
        dir,
        options,
        &mut recorder,
    )
    .await
    .unwrap();
    (index, recorder)
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut hex, byte| {
            hex.push_str(&format!("{byte:02x}"));
            hex
        })
}

fn reason(index: &MediaIndex, url: &str) -> String {
    match index.get(url) {
        Some(MediaEntry::Failed { reason }) => reason.clone(),
        other => panic!("{url}: {other:?}"),
    }
}

/// The files in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn requests(server: &Server, name: &str) -> usize {
    server.requests_for(Route::Media, name).len()
}

/// Checks a fetched entry against the bytes it must hold.
fn assert_fetched(
    index: &MediaIndex,
    dir: &Path,
    url: &str,
    name: &str,
    bytes: &[u8],
    media_type: &str,
    raster: bool,
) {
    let sha256 = hex(bytes);
    assert_eq!(
        index.get(url),
        Some(&MediaEntry::Fetched {
            path: format!("{}-{name}", &sha256[..16]).into(),
            sha256: sha256.clone(),
            bytes: bytes.len() as u64,
            media_type: media_type.into(),
            is_raster_image: raster,
        }),
        "{url}"
    );
    let stored = std::fs::read(dir.join(format!("{}-{name}", &sha256[..16]))).unwrap();
    assert_eq!(stored, bytes, "{url}");
}

#[tokio::test]
async fn images_and_files_are_stored_by_content_and_known_by_their_bytes() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("chat.media");
    let links = ["pixel.png", "photo.jpg", "doc.pdf"].map(|name| link(&server, name));
    let (index, recorder) = fetch(&links, &media, &options(&server)).await;
    assert_fetched(
        &index,
        &media,
        &links[0],
        "pixel.png",
        &media_png(),
        "image/png",
        true,
    );
    assert_fetched(
        &index,
        &media,
        &links[1],
        "photo.jpg",
        &media_jpeg(),
        "image/jpeg",
        true,
    );
    assert_fetched(
        &index,
        &media,
        &links[2],
        "doc.pdf",
        MEDIA_PDF,
        "application/pdf",
        false,
    );
    // Nothing else in the directory: no temporary file left behind.
    assert_eq!(files(&media).len(), 3, "{:?}", files(&media));
    assert_eq!((index.fetched(), index.failed()), (3, 0));
    let total = (media_png().len() + media_jpeg().len() + MEDIA_PDF.len()) as u64;
    assert_eq!(index.stored(), (3, total));
    assert_eq!(
        (recorder.planned, recorder.done, recorder.bytes),
        (3, 3, total)
    );
    // Events come in URL order, after the downloads, with redacted links.
    let told: Vec<String> = recorder
        .events
        .iter()
        .map(|event| match event {
            MediaEvent::Fetched { url, .. } => url.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(told.windows(2).all(|pair| pair[0] < pair[1]), "{told:?}");
    assert!(told.iter().all(|url| !url.contains("SECRET")), "{told:?}");
    assert!(told[0].contains("X-Amz-Signature=<redacted>"), "{told:?}");
}

#[tokio::test]
async fn no_authorization_header_reaches_the_storage() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let links = ["pixel.png", "redirect.png", "missing.png"].map(|name| link(&server, name));
    fetch(&links, dir.path(), &options(&server)).await;
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(
        requests.iter().all(|request| !request.authorization),
        "{requests:?}"
    );
}

#[tokio::test]
async fn an_svg_is_stored_but_is_not_an_image() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let links = [link(&server, "evil.svg")];
    let (index, _) = fetch(&links, dir.path(), &options(&server)).await;
    assert_fetched(
        &index,
        dir.path(),
        &links[0],
        "evil.svg",
        MEDIA_SVG,
        "application/octet-stream",
        false,
    );
}

#[tokio::test]
async fn html_served_as_image_png_is_not_an_image() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let links = [link(&server, "fake.png")];
    let (index, _) = fetch(&links, dir.path(), &options(&server)).await;
    assert_fetched(
        &index,
        dir.path(),
        &links[0],
        "fake.png",
        MEDIA_FAKE_PNG,
        "application/octet-stream",
        false,
    );
}

#[tokio::test]
async fn a_chunked_body_is_stopped_at_the_file_cap_while_streaming() {
    let server = server();
    // The body announces no length: only the streaming cap can stop it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::get(link(&server, "big.bin")).await.unwrap();
    assert_eq!(response.content_length(), None);
    drop(response);
    let dir = tempfile::tempdir().unwrap();
    let links = [link(&server, "big.bin")];
    let options = MediaOptions {
        max_file_bytes: 16 << 10,
        ..options(&server)
    };
    let (index, recorder) = fetch(&links, dir.path(), &options).await;
    assert_eq!(
        reason(&index, &links[0]),
        "larger than the per-file cap of 16384 bytes"
    );
    // Not retried, and nothing past the cap was written.
    assert_eq!(requests(&server, "big.bin"), 2, "the probe and one fetch");
    assert!(recorder.bytes <= 16 << 10, "{}", recorder.bytes);
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[tokio::test]
async fn an_announced_length_over_the_cap_is_refused_before_the_body() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let links = [link(&server, "doc.pdf")];
    let options = MediaOptions {
        max_file_bytes: 50,
        ..options(&server)
    };
    let (index, recorder) = fetch(&links, dir.path(), &options).await;
    assert_eq!(
        reason(&index, &links[0]),
        format!(
            "{} bytes, larger than the per-file cap of 50 bytes",
            MEDIA_PDF.len()
        )
    );
    assert_eq!(recorder.bytes, 0);
}

#[tokio::test]
async fn a_stalled_body_times_out_after_the_retries() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let links = [link(&server, "slow.png")];
    let (index, recorder) = fetch(&links, dir.path(), &options(&server)).await;
    assert_eq!(
        reason(&index, &links[0]),
        "no data arrived for 0.3 s; gave up after 2 attempts"
    );
    assert_eq!(requests(&server, "slow.png"), 2);
    assert!(matches!(
        &recorder.events[0],
        MediaEvent::Retrying { attempt: 1, reason, .. } if reason == "no data arrived for 0.3 s"
    ));
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[tokio::test]
async fn an_expired_link_and_a_missing_file_fail_without_retries() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let links = ["expired.png", "missing.png"].map(|name| link(&server, name));
    let (index, recorder) = fetch(&links, dir.path(), &options(&server)).await;
    assert_eq!(
        reason(&index, &links[0]),
        "HTTP 403 (the link has expired or was revoked): Request has expired"
    );
    assert_eq!(
        reason(&index, &links[1]),
        "HTTP 404 (not found): The specified key does not exist."
    );
    assert_eq!(
        (
            requests(&server, "expired.png"),
            requests(&server, "missing.png")
        ),
        (1, 1)
    );
    let failed: Vec<&MediaEvent> = recorder.events.iter().collect();
    assert!(
        matches!(failed[0], MediaEvent::Failed { url, .. } if url.ends_with("X-Amz-Signature=<redacted>")),
        "{failed:?}"
    );
}

#[tokio::test]
async fn redirects_are_followed_to_the_same_address_only() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let links = [
        "redirect.png",
        "redirect-localhost.png",
        "redirect-metadata.png",
    ]
    .map(|name| link(&server, name));
    let (index, _) = fetch(&links, dir.path(), &options(&server)).await;
    assert_fetched(
        &index,
        dir.path(),
        &links[0],
        "redirect.png",
        &media_png(),
        "image/png",
        true,
    );
    assert_eq!(
        reason(&index, &links[1]),
        format!(
            "redirect refused: plain `http` to `localhost:{}` is refused (https only)",
            server.addr().port()
        )
    );
    let metadata = reason(&index, &links[2]);
    assert!(
        metadata.contains("`169.254.169.254` is a link-local address"),
        "{metadata}"
    );
    // The pixel was asked for once, through the same-address redirect, and the redirect did
    // not carry the signed link along as a `Referer`.
    let pixel = server.requests_for(Route::Media, "pixel.png");
    assert_eq!(pixel.len(), 1);
    assert_eq!(pixel[0].referer, None);
}

#[tokio::test]
async fn loopback_is_refused_without_the_allowance_even_by_name() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let port = server.addr().port();
    let by_name = format!("https://localhost:{port}/media/pixel.png?X-Amz-Signature=SECRET");
    let by_address = format!("https://127.0.0.1:{port}/media/pixel.png?X-Amz-Signature=SECRET");
    let plain = link(&server, "pixel.png");
    let links = [by_name.clone(), by_address.clone(), plain.clone()];
    // No insecure host at all.
    let strict = MediaOptions {
        retry: options(&server).retry,
        ..MediaOptions::default()
    };
    let (index, _) = fetch(&links, dir.path(), &strict).await;
    let name = reason(&index, &by_name);
    assert!(
        name.contains("`localhost` resolves to a loopback address"),
        "{name}"
    );
    let address = reason(&index, &by_address);
    assert!(
        address.contains("`127.0.0.1` is a loopback address"),
        "{address}"
    );
    assert_eq!(
        reason(&index, &plain),
        format!("plain `http` to `127.0.0.1:{port}` is refused (https only)")
    );
    // With the allowance for 127.0.0.1:PORT, `localhost` is still refused.
    let (index, _) = fetch(
        std::slice::from_ref(&by_name),
        dir.path(),
        &options(&server),
    )
    .await;
    let name = reason(&index, &by_name);
    assert!(
        name.contains("`localhost` resolves to a loopback address"),
        "{name}"
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[tokio::test]
async fn the_same_link_twice_is_fetched_once() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let links = [link(&server, "pixel.png"), link(&server, "pixel.png")];
    let (index, recorder) = fetch(&links, dir.path(), &options(&server)).await;
    assert_eq!(index.len(), 1);
    assert_eq!(recorder.planned, 1);
    assert_eq!(requests(&server, "pixel.png"), 1);
}

#[tokio::test]
async fn identical_bytes_under_two_links_are_stored_once() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let other = format!("{}&v=2", link(&server, "pixel.png"));
    let links = [
        link(&server, "pixel.png"),
        other.clone(),
        link(&server, "redirect.png"),
    ];
    let (index, _) = fetch(&links, dir.path(), &options(&server)).await;
    assert_eq!(requests(&server, "pixel.png"), 3);
    // The first link in URL order names the file.
    for url in &links {
        assert_fetched(
            &index,
            dir.path(),
            url,
            "pixel.png",
            &media_png(),
            "image/png",
            true,
        );
    }
    assert_eq!(files(dir.path()).len(), 1, "{:?}", files(dir.path()));
    assert_eq!(index.stored(), (1, media_png().len() as u64));
}

#[tokio::test]
async fn the_total_cap_fails_the_links_past_it_in_url_order() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    // URL order: doc.pdf, photo.jpg, pixel.png.
    let links = ["pixel.png", "photo.jpg", "doc.pdf"].map(|name| link(&server, name));
    let options = MediaOptions {
        max_total_bytes: (MEDIA_PDF.len() + media_jpeg().len()) as u64,
        concurrency: 3,
        ..options(&server)
    };
    let (index, _) = fetch(&links, dir.path(), &options).await;
    assert_eq!(
        reason(&index, &links[0]),
        format!(
            "the total media cap of {} bytes is spent",
            options.max_total_bytes
        )
    );
    assert_fetched(
        &index,
        dir.path(),
        &links[1],
        "photo.jpg",
        &media_jpeg(),
        "image/jpeg",
        true,
    );
    assert_fetched(
        &index,
        dir.path(),
        &links[2],
        "doc.pdf",
        MEDIA_PDF,
        "application/pdf",
        false,
    );
    assert_eq!(files(dir.path()).len(), 2, "{:?}", files(dir.path()));
}

#[tokio::test]
async fn reasons_never_show_a_query_string_and_runs_are_deterministic() {
    let server = server();
    let names = [
        "pixel.png",
        "expired.png",
        "missing.png",
        "big.bin",
        "redirect-localhost.png",
        "redirect-metadata.png",
        "evil.svg",
    ];
    let mut links: Vec<String> = names.iter().map(|name| link(&server, name)).collect();
    links.push("not a url?X-Amz-Signature=SECRET".into());
    links.push("ftp://example.com/a.png?X-Amz-Signature=SECRET".into());
    let options = MediaOptions {
        max_file_bytes: 16 << 10,
        ..options(&server)
    };
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let (index, recorder) = fetch(&links, first.path(), &options).await;
    let (again, _) = fetch(&links, second.path(), &options).await;
    assert_eq!(index, again);
    assert_eq!(files(first.path()), files(second.path()));
    assert_eq!(index.failed(), 7);
    for (_, entry) in index.iter() {
        if let MediaEntry::Failed { reason } = entry {
            assert!(
                !reason.contains("SECRET") && !reason.contains('?'),
                "{reason}"
            );
        }
    }
    let shown = format!("{:?}", recorder.events);
    assert!(!shown.contains("SECRET"), "{shown}");
}

#[test]
fn the_fetch_is_send() {
    fn assert_send<T: Send>(value: T) -> T {
        value
    }
    let mut recorder = Recorder::default();
    let options = MediaOptions::default();
    drop(assert_send(chatdump_media::fetch_all(
        Vec::<MediaLink>::new(),
        Path::new("unused"),
        &options,
        &mut recorder,
    )));
}
