//! Self-contained HTML transcript output for chatdump: one file with inline CSS and JavaScript,
//! no request to anywhere, light and dark, printable, searchable, safe with hostile text.
//!
//! See [`HtmlWriter`] for what the page contains and the safety guarantees.
//!
//! ```
//! use chatdump_core::export::{ExportContext, Exporter};
//! use chatdump_core::reader::{ChatReader, ReaderOptions};
//! use chatdump_html::HtmlWriter;
//! use chatdump_transcript::TranscriptOptions;
//!
//! let csv = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n\
//!            m1,p1,s1,mt1,<b>Ann</b>,false,false,TEXT_MESSAGE,**hi** <script>,2024-05-14T09:00:04.112Z\n";
//! let mut reader = ChatReader::new(csv.as_bytes(), "inline.csv", ReaderOptions::default())?;
//! let mut writer = HtmlWriter::new(Vec::new(), TranscriptOptions::default());
//! writer.begin(&ExportContext::default())?;
//! writer.message(&reader.next_message().unwrap()?)?;
//! writer.finish()?;
//! let html = String::from_utf8(writer.into_inner()).unwrap();
//! assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta http-equiv=\"Content-Security-Policy\""));
//! assert!(html.contains("&lt;b&gt;Ann&lt;&#x2f;b&gt;"));
//! assert!(html.contains("<strong>hi</strong> &lt;script&gt;"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests may use the system temporary directory and the clock"
    )
)]

mod direct;
mod markdown;

use std::io::Write;

use base64::Engine as _;
use chatdump_core::export::{ExportContext, ExportError, Exporter};
use chatdump_core::model::Message;
use chatdump_core::speech::SummaryFormat;
use chatdump_transcript::minijinja::value::Value;
use chatdump_transcript::{
    DirectGroup, Flavor, RenderFn, Templates, TranscriptOptions, TranscriptWriter, WritePinFn,
};
use sha2::{Digest, Sha256};

pub use markdown::{MAX_MARKDOWN_BYTES, render_plain, render_text, render_text_into};

/// The default templates and assets, embedded from the top-level `templates/` directory.
const DEFAULTS: &[(&str, &str)] = &[
    (
        "transcript.html.jinja",
        include_str!("../../../templates/transcript.html.jinja"),
    ),
    (
        "group.html.jinja",
        include_str!("../../../templates/group.html.jinja"),
    ),
    (
        "pinned.html.jinja",
        include_str!("../../../templates/pinned.html.jinja"),
    ),
    (
        "speech.html.jinja",
        include_str!("../../../templates/speech.html.jinja"),
    ),
    (
        "transcript.css",
        include_str!("../../../templates/transcript.css"),
    ),
    (
        "transcript.js",
        include_str!("../../../templates/transcript.js"),
    ),
    ("speech.css", include_str!("../../../templates/speech.css")),
    ("speech.js", include_str!("../../../templates/speech.js")),
];

/// Writes a self-contained HTML transcript.
///
/// # The page
///
/// A header with the meeting and session ids, the time span and duration, participant and
/// message counts and an activity timeline (inline SVG); the pinned messages linked to where
/// they appear; the messages, grouped into runs from the same person under a heading per day,
/// each with an anchor (`#msg-ID`), a permalink on its time and `<time datetime>` with the exact
/// instant in UTC; a search box that filters messages by text and participant as you type; and
/// the participants table. Light and dark follow `prefers-color-scheme`; a print stylesheet
/// hides the controls. With a speech transcript, utterances are interleaved with the messages by
/// time in groups of class `speech`, the summary comes first (rendered like message text when it
/// is Markdown, escaped when plain), and a filter shows everything, the chat or the speech.
/// Templates: `transcript.html.jinja`, `group.html.jinja`, `speech.html.jinja`,
/// `pinned.html.jinja`, `transcript.css` and `transcript.js` (with `speech.css` and `speech.js`
/// added to them when there is speech).
///
/// # Safety
///
/// - Every value is HTML-escaped by the template engine; message text is rendered by
///   [`render_text`] (raw HTML escaped, links only to `http`, `https` and `mailto`, images in
///   text shown as links).
/// - A Content-Security-Policy `<meta>` is the first element of `<head>`: `default-src 'none'`,
///   the page's own script and stylesheet allowed by their SHA-256 hashes and nothing else,
///   `connect-src 'none'`, and `img-src https:` only when remote images are allowed (else
///   `'none'`). An injected script could not run, and nothing can phone home.
/// - Message text is isolated for bidirectional text (`dir="auto"`); names, ids, payload types
///   and URLs shown as text show their bidirectional controls as `[U+202E]` (names are in
///   `<bdi>` too), so none can pass for another.
/// - No control character but tab and line feed reaches the page, not even from a character
///   reference such as `&#27;`: they are shown as Unicode control pictures (`␛`).
///
/// Speed: the default group and pinned templates are also written out in Rust (`direct.rs`),
/// used while they are not overridden; see [`TranscriptWriter`], *Templates and the fast path*.
///
/// Memory: as [`TranscriptWriter`]: one group of messages and the per-participant statistics.
pub struct HtmlWriter<W: Write> {
    inner: TranscriptWriter<W, Html>,
}

impl<W: Write> HtmlWriter<W> {
    /// Creates a writer over `out`.
    pub fn new(out: W, options: TranscriptOptions) -> Self {
        Self {
            inner: TranscriptWriter::new(out, Html, options),
        }
    }

    /// Returns the inner writer.
    pub fn into_inner(self) -> W {
        self.inner.into_inner()
    }
}

impl<W: chatdump_core::output::Sink> Exporter for HtmlWriter<W> {
    fn begin(&mut self, context: &ExportContext) -> Result<(), ExportError> {
        self.inner.begin(context)
    }
    fn message(&mut self, message: &Message) -> Result<(), ExportError> {
        self.inner.message(message)
    }
    fn finish(&mut self) -> Result<(), ExportError> {
        self.inner.finish()
    }
}

/// The HTML [`Flavor`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Html;

impl Flavor for Html {
    const PAGE: &'static str = "transcript.html.jinja";
    const GROUP: &'static str = "group.html.jinja";
    const PINNED: &'static str = "pinned.html.jinja";
    const SPEECH: &'static str = "speech.html.jinja";

    fn defaults(&self) -> &'static [(&'static str, &'static str)] {
        DEFAULTS
    }

    fn text_renderer(&self) -> RenderFn {
        render_text
    }

    fn quoted_renderer(&self) -> RenderFn {
        render_text
    }

    fn summary_renderer(&self, format: SummaryFormat) -> RenderFn {
        match format {
            SummaryFormat::Markdown => render_text,
            SummaryFormat::Plain => markdown::render_plain,
        }
    }

    fn direct_group(&self) -> Option<DirectGroup> {
        Some(direct::GROUP)
    }

    fn direct_pin(&self) -> Option<WritePinFn> {
        Some(direct::write_pin)
    }

    fn direct_speech(&self) -> Option<DirectGroup> {
        Some(direct::SPEECH)
    }

    /// A `data:` URI; `media_type` is one of the four raster types recognised from the bytes.
    fn inline_image(&self, media_type: &str, bytes: &[u8]) -> Option<String> {
        matches!(
            media_type,
            "image/png" | "image/jpeg" | "image/gif" | "image/webp"
        )
        .then(|| {
            format!(
                "data:{media_type};base64,{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            )
        })
    }

    fn page_variables(
        &self,
        templates: &Templates,
        options: &TranscriptOptions,
        speech: bool,
    ) -> Result<Vec<(&'static str, Value)>, ExportError> {
        let asset = |name: &str| {
            templates
                .asset(name)
                .map(str::to_owned)
                .ok_or_else(|| ExportError::format(format!("the asset `{name}` is missing")))
        };
        let mut style = asset("transcript.css")?;
        let mut script = asset("transcript.js")?;
        // A transcript with speech gets the speech rules and the chat / speech filter, in the
        // same two elements (so custom page templates keep working).
        if speech {
            style.push('\n');
            style.push_str(&asset("speech.css")?);
            script.push('\n');
            script.push_str(&asset("speech.js")?);
        }
        let csp = if options.embed_images {
            policy(&style, &script, "data:")
        } else {
            content_security_policy(&style, &script, options.remote_images)
        };
        Ok(vec![
            // The policy is made of fixed words and base64 hashes: nothing to escape.
            ("csp", Value::from_safe_string(csp)),
            ("style", Value::from_safe_string(style)),
            ("script", Value::from_safe_string(script)),
        ])
    }
}

/// The Content-Security-Policy of a page whose only `<style>` and `<script>` elements contain
/// exactly `style` and `script`.
///
/// ```
/// let csp = chatdump_html::content_security_policy("", "", false);
/// assert!(csp.starts_with("default-src 'none'; script-src 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"));
/// assert!(csp.contains("img-src 'none'"));
/// ```
#[must_use]
pub fn content_security_policy(style: &str, script: &str, remote_images: bool) -> String {
    policy(
        style,
        script,
        if remote_images { "https:" } else { "'none'" },
    )
}

/// The policy with `img-src` set to `img_src` (`data:` with `--media embed`: inlined images
/// only, nothing loaded from anywhere).
fn policy(style: &str, script: &str, img_src: &str) -> String {
    let hash = |text: &str| {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    };
    format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; img-src {}; \
         connect-src 'none'; font-src 'none'; media-src 'none'; object-src 'none'; \
         frame-src 'none'; worker-src 'none'; manifest-src 'none'; base-uri 'none'; \
         form-action 'none'",
        hash(script),
        hash(style),
        img_src
    )
}
