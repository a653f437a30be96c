//! A session's other parts (issue 18): the speech transcript and the AI summary, fetched with
//! the chat's machinery ([`Fetcher::fetch_to`]: retries, link refresh, length and MD5 checks,
//! redaction), and the session's details (`started_at`, which JSON, `WebVTT` and SRT times
//! count from).
//!
//! - `GET /sessions/{id}/transcript` answers `data.transcript_download_url` and
//!   `data.transcript_download_url_expiry`; `RealtimeKit` takes `?format=CSV|JSON|VTT|SRT`
//!   (Dyte is sent no format: its transcript is CSV).
//! - `GET /sessions/{id}/summary` answers `data.summaryDownloadUrl` and
//!   `data.summaryDownloadUrlExpiry` (camelCase there).
//! - `GET /sessions/{id}` answers the session in `data.session` or in `data` itself.
//!
//! Each answer is read leniently: both spellings (snake and camel case) of every name,
//! `result` in place of `data`. A 404 from the transcript or summary route (the feature is off,
//! the part was not generated, or it is past the 7-day retention) is not an error but a
//! [`PartOutcome::NotAvailable`]: the chat is still worth exporting.

use std::fmt;
use std::path::Path;

use jiff::Timestamp;
use serde_json::Value;

use crate::{FetchError, FetchObserver, Fetched, Fetcher, redact_url};
use chatdump_core::model::MeetingParts;
use chatdump_core::reader::parse_timestamp;

/// Which part of a session a download link is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The chat dump (CSV).
    Chat,
    /// The speech transcript, in the format asked for (`RealtimeKit` only), else the server's
    /// default.
    Transcript(Option<TranscriptFormat>),
    /// The AI summary (plain text or Markdown).
    Summary,
}

impl Part {
    /// The part's name in messages: `chat`, `transcript`, `summary`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Transcript(_) => "transcript",
            Self::Summary => "summary",
        }
    }

    /// The answer's names for the link and its expiry, each as (documented, other spelling).
    pub(crate) const fn link_keys(self) -> ([&'static str; 2], [&'static str; 2]) {
        match self {
            Self::Chat => (
                ["chat_download_url", "chatDownloadUrl"],
                ["chat_download_url_expiry", "chatDownloadUrlExpiry"],
            ),
            Self::Transcript(_) => (
                ["transcript_download_url", "transcriptDownloadUrl"],
                [
                    "transcript_download_url_expiry",
                    "transcriptDownloadUrlExpiry",
                ],
            ),
            // Documented in camelCase, unlike the others.
            Self::Summary => (
                ["summaryDownloadUrl", "summary_download_url"],
                ["summaryDownloadUrlExpiry", "summary_download_url_expiry"],
            ),
        }
    }
}

/// A transcript format `RealtimeKit` can be asked for (`?format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TranscriptFormat {
    /// `CSV`: `Timestamp, Participant ID, User ID, Custom Participant ID, Participant Name,
    /// Transcript`.
    Csv,
    /// `JSON`: `[{startTime, endTime, sentence, peerData}]`, times from the session's start.
    Json,
    /// `VTT`: `WebVTT` cues.
    Vtt,
    /// `SRT`: `SubRip` cues.
    Srt,
}

impl TranscriptFormat {
    /// The `format` query value.
    #[must_use]
    pub const fn query(self) -> &'static str {
        match self {
            Self::Csv => "CSV",
            Self::Json => "JSON",
            Self::Vtt => "VTT",
            Self::Srt => "SRT",
        }
    }

    /// The file extension of a download in this format.
    #[must_use]
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Vtt => "vtt",
            Self::Srt => "srt",
        }
    }
}

/// A part the API has not got for a session (HTTP 404): the feature is off, the part was not
/// generated, or it is past the retention period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAvailable {
    /// `transcript`, `summary` or `session details`.
    pub part: &'static str,
    /// The session id, escaped for a terminal.
    pub session: String,
    /// The API's own message, escaped.
    pub message: Option<String>,
}

impl fmt::Display for NotAvailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no {} for session `{}` (HTTP 404{})",
            self.part,
            self.session,
            crate::suffix(self.message.as_ref())
        )?;
        if self.part == "session details" {
            f.write_str(": its start is unknown")
        } else {
            write!(
                f,
                ": the feature may be off for the meeting, the {} not generated, or past the 7-day retention",
                self.part
            )
        }
    }
}

/// What fetching one part came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOutcome {
    /// Saved.
    Fetched(Fetched),
    /// The API has none (HTTP 404); the target was not created.
    NotAvailable(NotAvailable),
}

/// Which parts to fetch beside the chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartsRequest {
    /// The speech transcript.
    pub transcript: bool,
    /// The AI summary.
    pub summary: bool,
    /// The transcript format asked of `RealtimeKit` (`None`: the server's default).
    pub transcript_format: Option<TranscriptFormat>,
}

impl PartsRequest {
    /// Whether any part is asked for.
    #[must_use]
    pub const fn any(&self) -> bool {
        self.transcript || self.summary
    }

    /// The names of the parts asked for, in a fixed order.
    #[must_use]
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.transcript {
            names.push("transcript");
        }
        if self.summary {
            names.push("summary");
        }
        names
    }
}

/// The parts fetched for one session, ready to convert with its chat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedParts {
    /// The transcript and summary files fetched, and the session's `started_at`, asked for when
    /// a transcript was fetched (or passed in): what the pipeline converts with the chat.
    pub parts: MeetingParts,
    /// The parts asked for that the API has not got.
    pub not_available: Vec<NotAvailable>,
    /// Bytes downloaded.
    pub bytes: u64,
}

/// A session's details: what the parts need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionDetails {
    /// `started_at` (or `startedAt`), when given and readable. Never `created_at`: the
    /// transcript's offsets count from the start, which is not guessed.
    pub started_at: Option<Timestamp>,
}

/// Reads a `GET /sessions/{id}` answer: the session in `data.session` or in `data` (or
/// `result`) itself.
pub fn parse_session_details(value: &Value) -> Result<SessionDetails, String> {
    if value.get("success").and_then(Value::as_bool) == Some(false) {
        return Err(format!(
            "`success` is false{}",
            crate::api::error_message(value)
                .map_or_else(String::new, |message| format!(": {message}"))
        ));
    }
    let data = ["data", "result"]
        .iter()
        .find_map(|key| value.get(key).filter(|data| data.is_object()))
        .unwrap_or(value);
    let session = data
        .get("session")
        .filter(|session| session.is_object())
        .unwrap_or(data);
    if !session.is_object() {
        return Err("the answer holds no session object".into());
    }
    let started_at = ["started_at", "startedAt"]
        .iter()
        .find_map(|key| session.get(key).and_then(Value::as_str))
        .and_then(parse_timestamp);
    Ok(SessionDetails { started_at })
}

impl Fetcher {
    /// Fetches `part` of `session_id` into `target` (see [`Fetcher::fetch_to`]). For the
    /// transcript and the summary, a 404 from the API is [`PartOutcome::NotAvailable`]; for the
    /// chat it stays [`FetchError::NotFound`].
    pub async fn fetch_part_to(
        &self,
        session_id: &str,
        part: Part,
        target: &Path,
        observer: &mut (dyn FetchObserver + Send),
    ) -> Result<PartOutcome, FetchError> {
        match self.fetch_link_to(session_id, part, target, observer).await {
            Ok(fetched) => Ok(PartOutcome::Fetched(fetched)),
            Err(FetchError::NotFound { session, message }) if part != Part::Chat => {
                Ok(PartOutcome::NotAvailable(NotAvailable {
                    part: part.name(),
                    session,
                    message,
                }))
            }
            Err(error) => Err(error),
        }
    }

    /// `GET /sessions/{session_id}`, retried like the chat route. A 404 is
    /// [`FetchError::NotFound`].
    pub async fn session_details(&self, session_id: &str) -> Result<SessionDetails, FetchError> {
        let url = self.api.session_url(session_id);
        let value = self.get_json(&url, Some(session_id)).await?;
        parse_session_details(&value).map_err(|reason| FetchError::Malformed {
            url: redact_url(&url),
            reason,
        })
    }

    /// Fetches the parts `request` asks for into `dir`, as `<stem>.transcript.source.<ext>` and
    /// `<stem>.summary.source` (no `.md` or `.txt`: whether the summary is Markdown is for its
    /// reader to tell from the content), and, with a transcript, the session's start (unless
    /// `known_start` gives it, as a session listing does). A part the API has not got is listed
    /// in [`FetchedParts::not_available`]; any other failure is an error (files already fetched
    /// are left in `dir` for the caller to remove with it).
    pub async fn fetch_parts(
        &self,
        session_id: &str,
        request: &PartsRequest,
        dir: &Path,
        stem: &str,
        known_start: Option<Timestamp>,
        observer: &mut (dyn FetchObserver + Send),
    ) -> Result<FetchedParts, FetchError> {
        let mut fetched = FetchedParts {
            parts: MeetingParts {
                session_start: known_start,
                ..MeetingParts::default()
            },
            ..FetchedParts::default()
        };
        if request.transcript {
            let format = request.transcript_format;
            let target = dir.join(format!(
                "{stem}.{}",
                chatdump_core::stem::TRANSCRIPT_SOURCE_SUFFIX
            ));
            match self
                .fetch_part_to(session_id, Part::Transcript(format), &target, observer)
                .await?
            {
                PartOutcome::Fetched(part) => {
                    fetched.bytes += part.bytes;
                    fetched.parts.transcript = Some(target);
                }
                PartOutcome::NotAvailable(missing) => fetched.not_available.push(missing),
            }
            if fetched.parts.transcript.is_some() && fetched.parts.session_start.is_none() {
                match self.session_details(session_id).await {
                    Ok(details) => fetched.parts.session_start = details.started_at,
                    Err(FetchError::NotFound { session, message }) => {
                        fetched.not_available.push(NotAvailable {
                            part: "session details",
                            session,
                            message,
                        });
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        if request.summary {
            let target = dir.join(format!(
                "{stem}.{}",
                chatdump_core::stem::SUMMARY_SOURCE_SUFFIX
            ));
            match self
                .fetch_part_to(session_id, Part::Summary, &target, observer)
                .await?
            {
                PartOutcome::Fetched(part) => {
                    fetched.bytes += part.bytes;
                    fetched.parts.summary = Some(target);
                }
                PartOutcome::NotAvailable(missing) => fetched.not_available.push(missing),
            }
        }
        Ok(fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Answer, parse_answer};
    use crate::{Api, Secret};

    fn link(body: &str, part: Part) -> crate::api::Link {
        match parse_answer(body.as_bytes(), part) {
            Answer::Link(link) => link,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_spelling_of_every_part() {
        let transcript = link(
            r#"{"success":true,"data":{"sessionId":"s","transcript_download_url":"https://s3.example/t.csv?X-Amz-Signature=1","transcript_download_url_expiry":"2024-08-14T10:15:30.000Z"}}"#,
            Part::Transcript(None),
        );
        assert_eq!(transcript.url.path(), "/t.csv");
        assert_eq!(
            transcript.expires.unwrap().to_string(),
            "2024-08-14T10:15:30Z"
        );
        let camel = link(
            r#"{"data":{"transcriptDownloadUrl":"https://s3.example/t.vtt","transcriptDownloadUrlExpiry":"2024-08-14 10:15:30.5Z"}}"#,
            Part::Transcript(Some(TranscriptFormat::Vtt)),
        );
        assert!(camel.expires.is_some());
        let summary = link(
            r#"{"success":true,"data":{"sessionId":"s","summaryDownloadUrl":"https://s3.example/s.txt","summaryDownloadUrlExpiry":"2024-08-14T10:15:30Z"}}"#,
            Part::Summary,
        );
        assert_eq!(summary.url.path(), "/s.txt");
        let snake = link(
            r#"{"result":{"summary_download_url":"https://s3.example/s.md"}}"#,
            Part::Summary,
        );
        assert!(snake.expires.is_none());
        // A chat link is not a transcript link.
        match parse_answer(
            br#"{"data":{"chat_download_url":"https://s3.example/c.csv"}}"#,
            Part::Transcript(None),
        ) {
            Answer::Malformed(reason) => {
                assert_eq!(reason, "no `transcript_download_url` in the answer");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn session_details_in_either_place() {
        let nested: Value = serde_json::from_str(
            r#"{"success":true,"data":{"session":{"id":"s","started_at":"2024-05-14T08:59:30.000Z","created_at":"2024-05-14T08:00:00Z"}}}"#,
        )
        .unwrap();
        assert_eq!(
            parse_session_details(&nested)
                .unwrap()
                .started_at
                .unwrap()
                .to_string(),
            "2024-05-14T08:59:30Z"
        );
        let flat: Value =
            serde_json::from_str(r#"{"data":{"id":"s","startedAt":"2024-05-14 08:59:30Z"}}"#)
                .unwrap();
        assert!(parse_session_details(&flat).unwrap().started_at.is_some());
        // `created_at` is not a start: nothing is guessed.
        let created: Value =
            serde_json::from_str(r#"{"data":{"session":{"created_at":"2024-05-14T08:00:00Z"}}}"#)
                .unwrap();
        assert_eq!(
            parse_session_details(&created).unwrap(),
            SessionDetails::default()
        );
        let refused: Value =
            serde_json::from_str(r#"{"success":false,"error":{"message":"nope"}}"#).unwrap();
        assert!(
            parse_session_details(&refused)
                .unwrap_err()
                .contains("nope")
        );
    }

    #[test]
    fn routes_and_formats() {
        let dyte = Api::Dyte {
            base: "http://127.0.0.1:1/v2".parse().unwrap(),
            org_id: "o".into(),
            api_key: Secret::new("k"),
        };
        let json = Part::Transcript(Some(TranscriptFormat::Json));
        assert_eq!(
            dyte.part_url("a/b", json).as_str(),
            "http://127.0.0.1:1/v2/sessions/a%2Fb/transcript"
        );
        assert_eq!(
            dyte.part_url("s", Part::Summary).as_str(),
            "http://127.0.0.1:1/v2/sessions/s/summary"
        );
        assert_eq!(
            dyte.session_url("s").as_str(),
            "http://127.0.0.1:1/v2/sessions/s"
        );
        let rtk = Api::RealtimeKit {
            base: "https://api.cloudflare.com/client/v4".parse().unwrap(),
            account_id: "acc".into(),
            app_id: "app".into(),
            api_token: Secret::new("t"),
        };
        assert_eq!(
            rtk.part_url("s", json).as_str(),
            "https://api.cloudflare.com/client/v4/accounts/acc/realtime/kit/app/sessions/s/transcript?format=JSON"
        );
        assert_eq!(
            rtk.part_url("s", Part::Transcript(None)).as_str(),
            "https://api.cloudflare.com/client/v4/accounts/acc/realtime/kit/app/sessions/s/transcript"
        );
        let missing = NotAvailable {
            part: "transcript",
            session: "s".into(),
            message: Some("No transcript".into()),
        };
        assert_eq!(
            missing.to_string(),
            "no transcript for session `s` (HTTP 404: No transcript): the feature may be off for the meeting, the transcript not generated, or past the 7-day retention"
        );
    }
}
