//! A session's other parts (issue 18): the speech transcript in every format, the AI summary,
//! and the session's details, for both providers.
//!
//! Routes (Dyte under `/v2`, `RealtimeKit` under
//! `/client/v4/accounts/{account_id}/realtime/kit/{app_id}`, each with its auth; the bulk
//! organisations under `/bulk/{spec}/v2`):
//!
//! - `GET .../sessions/{session_id}/transcript[?format=CSV|JSON|VTT|SRT]`:
//!   `data.transcript_download_url`, `data.transcript_download_url_expiry` (both providers
//!   honour `format`; without it the transcript is CSV);
//! - `GET .../sessions/{session_id}/summary`: `data.summaryDownloadUrl`,
//!   `data.summaryDownloadUrlExpiry` (camelCase, as documented);
//! - `GET .../sessions/{session_id}`: the session with `started_at` (Dyte in `data.session`,
//!   `RealtimeKit` directly in `data`: the two documented shapes);
//! - `GET /storage/transcripts/{start}/{session_id}.{csv,json,vtt,srt}` and
//!   `GET /storage/summaries/{session_id}.md`: the storage, with the chat storage's faults.
//!
//! The content is built from the documented shapes and matches the session's chat
//! ([`crate::chat_csv`]): the same four participants (peer ids, user ids and custom participant
//! ids of [`crate::sessions::PARTICIPANTS`], display names of the dump). Session `…` starts at
//! [`SESSION_START`] (a bulk organisation's session `i` at its listed start); utterance `i` is
//! spoken from `i * 9.5` s to `i * 9.5 + 4.25` s after the start, by participant `i % 4`.
//!
//! The session id's scenario ([`crate::Scenario`]) applies to these routes as to the chat's,
//! counted per route (an `api-500-once` session answers 500 once on each route), plus:
//! `not-found` (no chat, no transcript, no summary), `no-transcript`, `no-summary`, `no-parts`
//! (chat only) and `headerless-transcript` (the CSV without its header line, its first column
//! milliseconds from the start). In a bulk organisation, session `i` has no transcript when
//! `i % 4 == 3` and no summary when `i % 3 == 2`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use jiff::{SignedDuration, Timestamp};

use crate::sessions::{OrgSpec, PARTICIPANTS};
use crate::{Route, Scenario, Shared, json};

/// When every session outside a bulk organisation started: 30 s before its first chat message.
pub const SESSION_START: &str = "2024-05-14T08:59:30Z";

/// Utterances in every transcript.
pub const UTTERANCES: usize = 12;

/// A transcript format the server produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptShape {
    /// CSV with the documented header (spaces after the commas).
    Csv,
    /// The same six columns without a header, the first one milliseconds from the start.
    HeaderlessCsv,
    /// The documented JSON array.
    Json,
    /// `WebVTT` with `<v Speaker>` voice spans.
    Vtt,
    /// SRT with `Speaker: text` lines.
    Srt,
}

impl TranscriptShape {
    fn extension(self) -> &'static str {
        match self {
            Self::Csv | Self::HeaderlessCsv => "csv",
            Self::Json => "json",
            Self::Vtt => "vtt",
            Self::Srt => "srt",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Csv | Self::HeaderlessCsv => "text/csv",
            Self::Json => "application/json",
            Self::Vtt => "text/vtt",
            Self::Srt => "application/x-subrip",
        }
    }
}

/// Who speaks utterance `index`: (peer id, user id, custom participant id, display name).
fn speaker(
    index: usize,
) -> (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
) {
    let (peer, user, custom) = PARTICIPANTS[index % PARTICIPANTS.len()];
    (
        peer,
        user,
        custom,
        crate::dump::PEOPLE[index % PARTICIPANTS.len()].1,
    )
}

/// Utterance `index`'s text: commas, quotes and non-ASCII text in some.
fn sentence(index: usize) -> String {
    match index % 4 {
        0 => format!("Utterance {index}: good morning everyone"),
        1 => format!("Utterance {index}: numbers, commas and \"quotes\""),
        2 => format!("Utterance {index}: naïve café ☀️ 你好"),
        _ => format!("Utterance {index}: let us look at the chat"),
    }
}

/// Milliseconds from the start: (start, end) of utterance `index`.
fn times(index: usize) -> (u32, u32) {
    let start = u32::try_from(index).unwrap_or(0) * 9_500;
    (start, start + 4_250)
}

fn clock(millis: u32, separator: char) -> String {
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}

fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// The transcript of a session that started at `start`, in `shape`.
#[must_use]
pub fn transcript(shape: TranscriptShape, start: Timestamp) -> Vec<u8> {
    let mut out = String::new();
    match shape {
        TranscriptShape::Csv | TranscriptShape::HeaderlessCsv => {
            if shape == TranscriptShape::Csv {
                out.push_str("Timestamp, Participant ID, User ID, Custom Participant ID, Participant Name, Transcript\n");
            }
            for index in 0..UTTERANCES {
                let (peer, user, custom, name) = speaker(index);
                let (from, _) = times(index);
                let when = if shape == TranscriptShape::Csv {
                    (start + SignedDuration::from_millis(i64::from(from)))
                        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                        .to_string()
                } else {
                    from.to_string()
                };
                let _ = writeln!(
                    out,
                    "{when},{peer},{user},{},{},{}",
                    custom.unwrap_or_default(),
                    field(name),
                    field(&sentence(index))
                );
            }
        }
        TranscriptShape::Json => {
            let items: Vec<serde_json::Value> = (0..UTTERANCES)
                .map(|index| {
                    let (peer, user, custom, name) = speaker(index);
                    let (from, to) = times(index);
                    serde_json::json!({
                        "startTime": f64::from(from) / 1000.0,
                        "endTime": f64::from(to) / 1000.0,
                        "sentence": sentence(index),
                        "peerData": {"id": peer, "userId": user, "displayName": name, "cpi": custom},
                    })
                })
                .collect();
            out = serde_json::to_string_pretty(&items).unwrap_or_default();
            out.push('\n');
        }
        TranscriptShape::Vtt | TranscriptShape::Srt => {
            let vtt = shape == TranscriptShape::Vtt;
            if vtt {
                out.push_str("WEBVTT\n\n");
            }
            let separator = if vtt { '.' } else { ',' };
            for index in 0..UTTERANCES {
                let (_, _, _, name) = speaker(index);
                let (from, to) = times(index);
                let text = sentence(index);
                let line = if vtt {
                    format!("<v {name}>{text}")
                } else {
                    format!("{name}: {text}")
                };
                let _ = write!(
                    out,
                    "{}\n{} --> {}\n{line}\n\n",
                    index + 1,
                    clock(from, separator),
                    clock(to, separator)
                );
            }
        }
    }
    out.into_bytes()
}

/// The AI summary (Markdown) of every session.
#[must_use]
pub fn summary() -> Vec<u8> {
    let (_, _, _, host) = speaker(0);
    let (_, _, _, guest) = speaker(1);
    format!(
        "# Meeting summary\n\n{host} opened the meeting; {guest} asked about the numbers.\n\n## Action items\n\n- Share the figures, commas and \"quotes\" included\n- Meet again next week ☀️\n"
    )
    .into_bytes()
}

fn default_start() -> Timestamp {
    SESSION_START.parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Which parts a session has.
fn has(session: &str, part: &str, bulk_index: Option<usize>) -> bool {
    let scenario = Scenario::for_session(session);
    if scenario == Scenario::NotFound || scenario == Scenario::NoParts {
        return false;
    }
    match (part, bulk_index) {
        ("transcript", Some(index)) => index % 4 != 3,
        ("summary", Some(index)) => index % 3 != 2,
        ("transcript", None) => scenario != Scenario::NoTranscript,
        ("summary", None) => scenario != Scenario::NoSummary,
        _ => true,
    }
}

/// What a part's API route is asked about.
struct Ask<'a> {
    /// `DyteApi` or `RealtimeKitApi`: the error envelope's shape.
    provider: Route,
    session: &'a str,
    start: Timestamp,
    bulk_index: Option<usize>,
}

fn transcript_answer(shared: &Shared, ask: &Ask<'_>, uri: &Uri) -> Response {
    let format = crate::sessions::query_value(uri, "format");
    let scenario = Scenario::for_session(ask.session);
    let shape = match format.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("CSV") if scenario == Scenario::HeaderlessTranscript => {
            TranscriptShape::HeaderlessCsv
        }
        None | Some("CSV") => TranscriptShape::Csv,
        Some("JSON") => TranscriptShape::Json,
        Some("VTT") => TranscriptShape::Vtt,
        Some("SRT") => TranscriptShape::Srt,
        Some(other) => {
            return json(
                StatusCode::BAD_REQUEST,
                &crate::error_envelope(
                    ask.provider,
                    400,
                    &format!(
                        "BAD_REQUEST: \"format\" must be one of [CSV, JSON, VTT, SRT], not {other}"
                    ),
                ),
            );
        }
    };
    if !has(ask.session, "transcript", ask.bulk_index) {
        return json(
            StatusCode::NOT_FOUND,
            &crate::error_envelope(
                ask.provider,
                404,
                &format!("No transcript found for session {}", ask.session),
            ),
        );
    }
    crate::link_answer(
        shared,
        ask.provider,
        Route::Transcript,
        ask.session,
        crate::Served::Transcript {
            shape,
            start: ask.start,
        },
    )
}

fn summary_answer(shared: &Shared, ask: &Ask<'_>) -> Response {
    if !has(ask.session, "summary", ask.bulk_index) {
        return json(
            StatusCode::NOT_FOUND,
            &crate::error_envelope(
                ask.provider,
                404,
                &format!("No summary found for session {}", ask.session),
            ),
        );
    }
    crate::link_answer(
        shared,
        ask.provider,
        Route::Summary,
        ask.session,
        crate::Served::Summary,
    )
}

fn details_answer(shared: &Shared, ask: &Ask<'_>) -> Response {
    if Scenario::for_session(ask.session) == Scenario::NotFound {
        return json(
            StatusCode::NOT_FOUND,
            &crate::error_envelope(
                ask.provider,
                404,
                &format!("No session found for session_id {}", ask.session),
            ),
        );
    }
    let first = shared.count(Route::SessionDetails, ask.session) == 1;
    if let Some(fault) = crate::rate_fault(ask.provider, Scenario::for_session(ask.session), first)
    {
        return fault;
    }
    let time = |at: Timestamp| at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let session = serde_json::json!({
        "id": ask.session,
        "associated_id": "meeting-1",
        "meeting_display_name": "Meeting 1",
        "type": "meeting",
        "status": "ENDED",
        "started_at": time(ask.start),
        "created_at": time(ask.start - SignedDuration::from_mins(5)),
        "updated_at": time(ask.start + SignedDuration::from_mins(40)),
        "ended_at": time(ask.start + SignedDuration::from_mins(40)),
    });
    let data = if ask.provider == Route::RealtimeKitApi {
        session
    } else {
        serde_json::json!({ "session": session })
    };
    json(
        StatusCode::OK,
        &serde_json::json!({"success": true, "data": data}),
    )
}

/// Which of the three routes.
#[derive(Clone, Copy)]
enum Leaf {
    Transcript,
    Summary,
    Details,
}

impl Leaf {
    fn route(self) -> Route {
        match self {
            Self::Transcript => Route::Transcript,
            Self::Summary => Route::Summary,
            Self::Details => Route::SessionDetails,
        }
    }
}

fn answer(shared: &Shared, leaf: Leaf, ask: &Ask<'_>, uri: &Uri) -> Response {
    match leaf {
        Leaf::Transcript => transcript_answer(shared, ask, uri),
        Leaf::Summary => summary_answer(shared, ask),
        Leaf::Details => details_answer(shared, ask),
    }
}

fn dyte(
    leaf: Leaf,
) -> impl Fn(State<Arc<Shared>>, Path<String>, Uri, HeaderMap) -> std::future::Ready<Response>
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(shared): State<Arc<Shared>>,
          Path(session): Path<String>,
          uri: Uri,
          headers: HeaderMap| {
        let response = if crate::sessions::dyte_auth(&shared, &headers) {
            let ask = Ask {
                provider: Route::DyteApi,
                session: &session,
                start: default_start(),
                bulk_index: None,
            };
            answer(&shared, leaf, &ask, &uri)
        } else {
            crate::sessions::unauthorized()
        };
        shared.record(leaf.route(), &session, &headers, response.status());
        std::future::ready(response)
    }
}

type RtkPath = Path<(String, String, String)>;

fn realtimekit(
    leaf: Leaf,
) -> impl Fn(State<Arc<Shared>>, RtkPath, Uri, HeaderMap) -> std::future::Ready<Response>
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(shared): State<Arc<Shared>>,
          Path((account, app, session)): RtkPath,
          uri: Uri,
          headers: HeaderMap| {
        let response = crate::realtimekit_refusal(&shared, &headers, &account, &app)
            .unwrap_or_else(|| {
                let ask = Ask {
                    provider: Route::RealtimeKitApi,
                    session: &session,
                    start: default_start(),
                    bulk_index: None,
                };
                answer(&shared, leaf, &ask, &uri)
            });
        shared.record(leaf.route(), &session, &headers, response.status());
        std::future::ready(response)
    }
}

type BulkPath = Path<(String, String)>;

fn bulk(
    leaf: Leaf,
) -> impl Fn(State<Arc<Shared>>, BulkPath, Uri, HeaderMap) -> std::future::Ready<Response>
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(shared): State<Arc<Shared>>,
          Path((spec, session)): BulkPath,
          uri: Uri,
          headers: HeaderMap| {
        let response = match OrgSpec::parse(&spec) {
            Err(error) => crate::sessions::bad_request(&error),
            Ok(_) if !crate::sessions::dyte_auth(&shared, &headers) => {
                crate::sessions::unauthorized()
            }
            Ok(spec) => match (0..spec.sessions).find(|&index| spec.session_id(index) == session) {
                None => json(
                    StatusCode::NOT_FOUND,
                    &crate::error_envelope(
                        Route::DyteApi,
                        404,
                        &format!("No session found for session_id {session}"),
                    ),
                ),
                Some(index) => {
                    let ask = Ask {
                        provider: Route::DyteApi,
                        session: &session,
                        start: crate::sessions::start_of(index),
                        bulk_index: Some(index),
                    };
                    answer(&shared, leaf, &ask, &uri)
                }
            },
        };
        shared.record(leaf.route(), &session, &headers, response.status());
        std::future::ready(response)
    }
}

/// The routes, to merge into the server's router.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    const RTK: &str = "/client/v4/accounts/{account}/realtime/kit/{app}/sessions/{session}";
    Router::new()
        .route(
            "/v2/sessions/{session}/transcript",
            get(dyte(Leaf::Transcript)),
        )
        .route("/v2/sessions/{session}/summary", get(dyte(Leaf::Summary)))
        .route("/v2/sessions/{session}", get(dyte(Leaf::Details)))
        .route(
            &format!("{RTK}/transcript"),
            get(realtimekit(Leaf::Transcript)),
        )
        .route(&format!("{RTK}/summary"), get(realtimekit(Leaf::Summary)))
        .route(RTK, get(realtimekit(Leaf::Details)))
        .route(
            "/bulk/{spec}/v2/sessions/{session}/transcript",
            get(bulk(Leaf::Transcript)),
        )
        .route(
            "/bulk/{spec}/v2/sessions/{session}/summary",
            get(bulk(Leaf::Summary)),
        )
        .route(
            "/bulk/{spec}/v2/sessions/{session}",
            get(bulk(Leaf::Details)),
        )
        .route(
            "/storage/transcripts/{start}/{file}",
            get(transcript_download),
        )
        .route("/storage/summaries/{file}", get(summary_download))
}

async fn transcript_download(
    State(shared): State<Arc<Shared>>,
    Path((start, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (session, extension) = file.rsplit_once('.').unwrap_or((&file, ""));
    let shape = match extension {
        "json" => TranscriptShape::Json,
        "vtt" => TranscriptShape::Vtt,
        "srt" => TranscriptShape::Srt,
        _ if Scenario::for_session(session) == Scenario::HeaderlessTranscript => {
            TranscriptShape::HeaderlessCsv
        }
        _ => TranscriptShape::Csv,
    };
    let at = start
        .parse::<i64>()
        .ok()
        .and_then(|seconds| Timestamp::from_second(seconds).ok())
        .unwrap_or_else(default_start);
    let object = crate::Object {
        route: Route::TranscriptDownload,
        session: session.to_owned(),
        signed: format!("transcripts/{start}/{file}"),
        body: Bytes::from(transcript(shape, at)),
        content_type: shape.content_type(),
    };
    let response = crate::serve_object(&shared, &object, &uri, &headers);
    shared.record(
        Route::TranscriptDownload,
        session,
        &headers,
        response.status(),
    );
    response
}

async fn summary_download(
    State(shared): State<Arc<Shared>>,
    Path(file): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let session = file.strip_suffix(".md").unwrap_or(&file);
    let object = crate::Object {
        route: Route::SummaryDownload,
        session: session.to_owned(),
        signed: format!("summaries/{file}"),
        body: Bytes::from(summary()),
        content_type: "text/markdown",
    };
    let response = crate::serve_object(&shared, &object, &uri, &headers);
    shared.record(Route::SummaryDownload, session, &headers, response.status());
    response
}

/// The storage path (after `/storage/`) of a transcript link: `transcripts/{start}/{file}`.
pub(crate) fn transcript_object(
    session: &str,
    shape: TranscriptShape,
    start: Timestamp,
) -> (String, String) {
    let file = format!("{session}.{}", shape.extension());
    let start = start.as_second().to_string();
    (
        format!("transcripts/{start}/{file}"),
        format!("transcripts/{start}/{}", crate::percent_encode(&file)),
    )
}

/// The storage path of a summary link.
pub(crate) fn summary_object(session: &str) -> (String, String) {
    let file = format!("{session}.md");
    (
        format!("summaries/{file}"),
        format!("summaries/{}", crate::percent_encode(&file)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_match_the_chat() {
        let start = default_start();
        let csv = String::from_utf8(crate::chat_csv("s", 8)).unwrap();
        for shape in [
            TranscriptShape::Csv,
            TranscriptShape::HeaderlessCsv,
            TranscriptShape::Json,
        ] {
            let text = String::from_utf8(transcript(shape, start)).unwrap();
            for (peer, _, _) in PARTICIPANTS {
                assert!(
                    text.contains(peer) && csv.contains(peer),
                    "{shape:?} {peer}"
                );
            }
            assert_eq!(transcript(shape, start), transcript(shape, start));
        }
        let csv = String::from_utf8(transcript(TranscriptShape::Csv, start)).unwrap();
        assert!(csv.starts_with("Timestamp, Participant ID,"));
        assert!(csv.contains("\n2024-05-14T08:59:39.500Z,023d3ea6-0af0-40ad-8aa3-6645c4ff1db8,user-jose,crm-0002,José Álvarez,\"Utterance 1: numbers, commas and \"\"quotes\"\"\"\n"), "{csv}");
        let headerless =
            String::from_utf8(transcript(TranscriptShape::HeaderlessCsv, start)).unwrap();
        assert!(headerless.starts_with("0,e32fb785-"), "{headerless}");
        let vtt = String::from_utf8(transcript(TranscriptShape::Vtt, start)).unwrap();
        assert!(
            vtt.starts_with(
                "WEBVTT\n\n1\n00:00:00.000 --> 00:00:04.250\n<v Mary Sue (Host)>Utterance 0"
            ),
            "{vtt}"
        );
        let srt = String::from_utf8(transcript(TranscriptShape::Srt, start)).unwrap();
        assert!(
            srt.contains("\n2\n00:00:09,500 --> 00:00:13,750\nJosé Álvarez: Utterance 1"),
            "{srt}"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&transcript(TranscriptShape::Json, start)).unwrap();
        assert_eq!(json[1]["startTime"], 9.5);
        assert_eq!(json[3]["peerData"]["cpi"], serde_json::Value::Null);
    }
}
