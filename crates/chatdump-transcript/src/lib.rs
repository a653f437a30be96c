//! `chatdump-transcript`: what the Markdown and HTML transcripts share, written once.
//!
//! - [`Zone`]: the time zone times are shown in, from the IANA database compiled into the binary,
//!   so output is the same on every machine;
//! - [`stats`]: counts, the time span, participants (people who rejoined under a new participant
//!   id with the same display name are one person) and the activity timeline, in memory bounded
//!   by the number of participants;
//! - [`text`]: control characters, display names, anchors and the URL scheme allow-list;
//! - [`templates`]: minijinja templates embedded as defaults and overridable by file name, with
//!   escaping chosen by file extension;
//! - [`TranscriptWriter`]: the exporter itself. It groups messages into runs from the same
//!   person, adds day separators, renders the body and the pinned list to temporary files while
//!   messages stream past, and writes the page (header first) in `finish`. Given a speech
//!   transcript ([`chatdump_core::export::ExportContext::speech`]), it writes its utterances
//!   between the messages by time (at the same instant, utterances first), grouped per speaker
//!   through the speech template, and the summary at the top of the page.
//!
//! A format supplies a [`Flavor`]: its templates and how message text is rendered, and may
//! supply the default group and pinned templates written out in Rust
//! ([`Flavor::direct_group`], [`Flavor::direct_pin`]). Those are used only while the user has
//! not overridden the template by name (`--templates DIR`); the templates remain the
//! specification, and each format's tests render the same [`view`]s both ways and require the
//! same bytes.
//!
//! ```
//! use chatdump_transcript::{Zone, zone::human_size};
//! let zone = Zone::from_name("Asia/Tokyo")?;
//! let at: jiff::Timestamp = "2024-05-14T09:00:04.112Z".parse()?;
//! assert_eq!(zone.time_label(at), "18:00:04 JST");
//! assert_eq!(human_size(2_400_000), "2.3 MiB");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests may use the system temporary directory and the clock"
    )
)]

#[cfg(feature = "test-support")]
pub mod fixture;
pub mod stats;
pub mod templates;
pub mod text;
pub mod view;
pub mod writer;
pub mod zone;

pub use minijinja;
pub use templates::{TemplateError, Templates};
pub use view::{DirectGroup, RenderFn, WritePinFn};
pub use writer::{Flavor, TranscriptOptions, TranscriptWriter, load_templates};
pub use zone::{Zone, ZoneError};
