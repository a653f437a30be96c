//! The session listing and participants routes, for bulk export, with paging quirks and faults.
//!
//! They live under a base URL that carries the organisation's shape, so one server can play
//! several organisations at once, and the Dyte chat route is served under it too:
//!
//! - `GET /bulk/{spec}/v2/sessions?page_no&per_page&start_time&end_time&associated_id&status`
//! - `GET /bulk/{spec}/v2/sessions/{session_id}/participants?page_no&per_page`
//! - `GET /bulk/{spec}/v2/sessions/{session_id}/chat` (the Dyte chat route, see the crate docs)
//!
//! `spec` is a comma-separated list of `key=value` (see [`OrgSpec`]), for example
//! `n=1000,first=0,paging=data,faults=1,broken=1`; [`bulk_base_url`] builds the `--base-url`.
//!
//! Session `i` (0-based) starts at `2024-05-14T00:00:00Z` plus `i` minutes, belongs to meeting
//! `meeting-{i % 37}` and is `LIVE` when `i % 20 == 19` (unless `ended=1`), else `ENDED`. With `faults=1` some ids
//! carry a fault scenario prefix (see [`crate::Scenario`]): `i % 50 == 7` `not-found` (no
//! chat: 404), `i % 100 == 13` `api-429-once`, `i % 100 == 29` `api-500-once`,
//! `i % 100 == 41` `download-500-once`, `i % 100 == 53` `reset-once`, `i % 100 == 67`
//! `truncated-once`, and `i % 250 == 99` `broken`: while the spec says `broken=1`, the chat
//! route answers those with a non-retryable HTTP 422, as an upstream bug would; with
//! `broken=0` they are served normally (the same ids: "the bug was fixed").
//!
//! The listing itself answers 429 (`Retry-After: 1`) to its 2nd request and 503 to its 4th
//! when `faults=1`; the participants route answers 503 once to the first request for every
//! session whose number ends in 3, and 404 for `not-found` sessions.

use std::sync::Arc;

use axum::Router;
use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use jiff::{SignedDuration, Timestamp};

use crate::{Route, Shared, auth_matches, json, retry_after};

/// The participants of every dump (the peer ids of `crate::chat_csv`), with the user ids and
/// custom participant ids the participants route gives them (`None` for the last one).
pub const PARTICIPANTS: [(&str, &str, Option<&str>); 4] = [
    (
        "e32fb785-ddd0-4b96-b577-879327c0082f",
        "user-mary",
        Some("crm-0001"),
    ),
    (
        "023d3ea6-0af0-40ad-8aa3-6645c4ff1db8",
        "user-jose",
        Some("crm-0002"),
    ),
    (
        "51fdf95f-d893-471a-922b-7db7adb14453",
        "user-li",
        Some("crm-0003"),
    ),
    ("6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", "user-jane", None),
];

/// Where `paging` goes in a list answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingPlacement {
    /// A sibling of `data` (the newer SDK builds).
    Top,
    /// Inside `data` (the participants example in the docs).
    InData,
    /// Absent (the Dyte spec and the older SDK).
    Absent,
}

/// The shape of the organisation a bulk base URL serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgSpec {
    /// `n`: sessions in the organisation.
    pub sessions: usize,
    /// `first`: the number of the first page (0 or 1). A 1-based server answers page 0 like
    /// page 1, as servers that clamp do.
    pub first_page: u32,
    /// `paging`: `top`, `data` or `none`.
    pub paging: PagingPlacement,
    /// `max`: the largest `per_page` honoured (larger asks get this many).
    pub max_per_page: usize,
    /// `faults`: `1` sprinkles faults over the sessions and the listing.
    pub faults: bool,
    /// `broken`: `1` makes the `broken` sessions fail (HTTP 422).
    pub broken: bool,
    /// `ended`: `1` shows every session as `ENDED` (the live ones have ended since).
    pub all_ended: bool,
    /// `hostile`: `1` gives the sessions without a fault ids with `/`, `..`, a space, a dot and
    /// a non-ASCII letter (`s00000/../évil id.x`), to test how every entry point names files.
    pub hostile: bool,
    /// `media`: `1` gives the sessions without a fault the `media` scenario (`media--s00000`):
    /// their dumps link to the server's own `/media/*` ([`crate::media::media_csv`]).
    pub media: bool,
}

impl Default for OrgSpec {
    fn default() -> Self {
        Self {
            sessions: 10,
            first_page: 1,
            paging: PagingPlacement::Top,
            max_per_page: 100,
            faults: false,
            broken: false,
            all_ended: false,
            hostile: false,
            media: false,
        }
    }
}

impl OrgSpec {
    /// Reads `n=1000,first=0,paging=data,max=100,faults=1,broken=1` (every key optional).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut spec = Self::default();
        for pair in text.split(',').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not key=value"))?;
            let number = || {
                value
                    .parse::<usize>()
                    .map_err(|_| format!("`{key}` is not a number: `{value}`"))
            };
            match key {
                "n" => spec.sessions = number()?,
                "first" => {
                    spec.first_page = match value {
                        "0" => 0,
                        "1" => 1,
                        _ => return Err(format!("`first` is 0 or 1, not `{value}`")),
                    }
                }
                "paging" => {
                    spec.paging = match value {
                        "top" => PagingPlacement::Top,
                        "data" => PagingPlacement::InData,
                        "none" => PagingPlacement::Absent,
                        _ => return Err(format!("`paging` is top, data or none, not `{value}`")),
                    }
                }
                "max" => spec.max_per_page = number()?.max(1),
                "faults" => spec.faults = value == "1",
                "broken" => spec.broken = value == "1",
                "ended" => spec.all_ended = value == "1",
                "hostile" => spec.hostile = value == "1",
                "media" => spec.media = value == "1",
                _ => return Err(format!("unknown key `{key}`")),
            }
        }
        Ok(spec)
    }

    /// The spec as a URL path segment.
    #[must_use]
    pub fn to_segment(&self) -> String {
        let paging = match self.paging {
            PagingPlacement::Top => "top",
            PagingPlacement::InData => "data",
            PagingPlacement::Absent => "none",
        };
        format!(
            "n={},first={},paging={paging},max={},faults={},broken={},ended={},hostile={}{}",
            self.sessions,
            self.first_page,
            self.max_per_page,
            u8::from(self.faults),
            u8::from(self.broken),
            u8::from(self.all_ended),
            u8::from(self.hostile),
            if self.media { ",media=1" } else { "" }
        )
    }

    /// Whether session `index` is `LIVE` (every 20th, unless `ended=1`).
    #[must_use]
    pub fn is_live(&self, index: usize) -> bool {
        !self.all_ended && index % 20 == 19
    }

    /// The id of session `index`.
    #[must_use]
    pub fn session_id(&self, index: usize) -> String {
        let fault = if self.faults {
            match (index % 50, index % 100, index % 250) {
                (7, _, _) => Some("not-found"),
                (_, 13, _) => Some("api-429-once"),
                (_, 29, _) => Some("api-500-once"),
                (_, 41, _) => Some("download-500-once"),
                (_, 53, _) => Some("reset-once"),
                (_, 67, _) => Some("truncated-once"),
                (_, _, 99) => Some("broken"),
                _ => None,
            }
        } else {
            None
        };
        match fault {
            Some(fault) => format!("{fault}--s{index:05}"),
            None if self.hostile => format!("s{index:05}/../évil id.x"),
            None if self.media => format!("media--s{index:05}"),
            None => format!("s{index:05}-0f4c2d1e"),
        }
    }

    /// The session ids this organisation holds that the chat route answers 404 for.
    #[must_use]
    pub fn sessions_without_chat(&self) -> Vec<String> {
        (0..self.sessions)
            .map(|index| self.session_id(index))
            .filter(|id| id.starts_with("not-found--"))
            .collect()
    }

    /// The session ids that fail while `broken=1`.
    #[must_use]
    pub fn broken_sessions(&self) -> Vec<String> {
        (0..self.sessions)
            .map(|index| self.session_id(index))
            .filter(|id| id.starts_with("broken--"))
            .collect()
    }
}

/// The `--base-url` (Dyte provider) of an organisation served by `server`.
#[must_use]
pub fn bulk_base_url(server: &crate::Server, spec: &OrgSpec) -> String {
    format!("http://{}/bulk/{}/v2", server.addr(), spec.to_segment())
}

pub(crate) fn start_of(index: usize) -> Timestamp {
    let base: Timestamp = "2024-05-14T00:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    base + SignedDuration::from_mins(i64::try_from(index).unwrap_or(0))
}

/// The routes, to merge into the server's router.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/bulk/{spec}/v2/sessions", get(list_sessions))
        .route(
            "/bulk/{spec}/v2/sessions/{session}/participants",
            get(participants),
        )
        .route("/bulk/{spec}/v2/sessions/{session}/chat", get(chat))
}

pub(crate) fn bad_request(message: &str) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({"success": false, "error": {"code": 400, "message": message}}),
    )
}

pub(crate) fn dyte_auth(shared: &Shared, headers: &HeaderMap) -> bool {
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            shared.config.org_id, shared.config.api_key
        ))
    );
    auth_matches(headers, &expected)
}

pub(crate) fn unauthorized() -> Response {
    json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"success": false, "error": {"code": 401, "message": "Unauthorized"}}),
    )
}

/// Counts a request under a key of this module's own (kept apart from the chat counters).
fn count(shared: &Shared, key: &str) -> u32 {
    shared.count(Route::DyteApi, &format!("\u{0}bulk\u{0}{key}"))
}

fn paged(
    spec: &OrgSpec,
    key: &str,
    items: &[serde_json::Value],
    paging: &serde_json::Value,
) -> Response {
    let body = match spec.paging {
        PagingPlacement::Top => {
            serde_json::json!({"success": true, "data": {key: items}, "paging": paging})
        }
        PagingPlacement::InData => {
            serde_json::json!({"success": true, "data": {key: items, "paging": paging}})
        }
        PagingPlacement::Absent => serde_json::json!({"success": true, "data": {key: items}}),
    };
    json(StatusCode::OK, &body)
}

/// The query string's parameters (`+` and percent escapes decoded).
fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| crate::percent_decode(&text.replace('+', " "));
            (decode(key), decode(value))
        })
        .collect()
}

/// One query parameter, decoded.
pub(crate) fn query_value(uri: &Uri, key: &str) -> Option<String> {
    query_map(uri).remove(key)
}

/// The page window: (offset, length) for `page_no` and `per_page`, or an error answer.
fn window(spec: &OrgSpec, query: &HashMap<String, String>) -> Result<(usize, usize), String> {
    let number = |key: &str, default: usize| match query.get(key) {
        None => Ok(default),
        Some(value) => value
            .parse::<usize>()
            .map_err(|_| format!("BAD_REQUEST: \"{key}\" must be a number")),
    };
    let page_no = number("page_no", spec.first_page as usize)?;
    let per_page = number("per_page", 20)?.clamp(1, spec.max_per_page);
    let index = page_no.saturating_sub(spec.first_page as usize);
    Ok((index.saturating_mul(per_page), per_page))
}

async fn list_sessions(
    State(shared): State<Arc<Shared>>,
    Path(spec): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let spec = match OrgSpec::parse(&spec) {
        Ok(spec) => spec,
        Err(error) => return bad_request(&error),
    };
    if !dyte_auth(&shared, &headers) {
        return unauthorized();
    }
    let query = query_map(&uri);
    let request = count(&shared, &format!("list/{}", spec.to_segment()));
    if spec.faults && request == 2 {
        let response = json(
            StatusCode::TOO_MANY_REQUESTS,
            &serde_json::json!({"success": false, "error": {"code": 429, "message": "Too many requests"}}),
        );
        return retry_after(response, "1");
    }
    if spec.faults && request == 4 {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"success": false, "error": {"code": 503, "message": "Service unavailable"}}),
        );
    }
    let time = |key: &str| -> Result<Option<Timestamp>, String> {
        query
            .get(key)
            .map(|value| {
                value
                    .parse::<Timestamp>()
                    .map_err(|_| format!("BAD_REQUEST: \"{key}\" must be an ISO date-time"))
            })
            .transpose()
    };
    let (since, until) = match (time("start_time"), time("end_time")) {
        (Ok(since), Ok(until)) => (since, until),
        (Err(error), _) | (_, Err(error)) => return bad_request(&error),
    };
    let (offset, per_page) = match window(&spec, &query) {
        Ok(window) => window,
        Err(error) => return bad_request(&error),
    };
    let matching = (0..spec.sessions).filter(|&index| {
        let start = start_of(index);
        let status = if spec.is_live(index) { "LIVE" } else { "ENDED" };
        since.is_none_or(|since| start >= since)
            && until.is_none_or(|until| start < until)
            && query
                .get("associated_id")
                .is_none_or(|meeting| *meeting == format!("meeting-{}", index % 37))
            && query.get("status").is_none_or(|wanted| wanted == status)
    });
    let mut total = 0usize;
    let mut items = Vec::new();
    for index in matching {
        if total >= offset && items.len() < per_page {
            let start = start_of(index);
            let live = spec.is_live(index);
            let mut session = serde_json::json!({
                "id": spec.session_id(index),
                "associated_id": format!("meeting-{}", index % 37),
                "meeting_display_name": format!("Meeting {}", index % 37),
                "type": "meeting",
                "status": if live { "LIVE" } else { "ENDED" },
                "live_participants": if live { 2 } else { 0 },
                "max_concurrent_participants": 4,
                "minutes_consumed": 12.5,
                "organization_id": shared.config.org_id,
                "started_at": start.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                "created_at": start.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                "updated_at": start.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                "meta": {},
            });
            if !live {
                session["ended_at"] = (start + SignedDuration::from_mins(30))
                    .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string()
                    .into();
            }
            items.push(session);
        }
        total += 1;
    }
    let paging = serde_json::json!({
        "total_count": total,
        "start_offset": offset,
        "end_offset": (offset + items.len()).saturating_sub(1).max(offset),
    });
    paged(&spec, "sessions", &items, &paging)
}

async fn participants(
    State(shared): State<Arc<Shared>>,
    Path((spec, session)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let spec = match OrgSpec::parse(&spec) {
        Ok(spec) => spec,
        Err(error) => return bad_request(&error),
    };
    if !dyte_auth(&shared, &headers) {
        return unauthorized();
    }
    let query = query_map(&uri);
    let index = (0..spec.sessions).find(|&index| spec.session_id(index) == session);
    let Some(index) = index.filter(|_| !session.starts_with("not-found--")) else {
        return json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"success": false, "error": {"code": 404, "message": format!("No session found for session_id {session}")}}),
        );
    };
    let request = count(&shared, &format!("participants/{session}"));
    if spec.faults && request == 1 && index % 10 == 3 {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"success": false, "error": {"code": 503, "message": "Service unavailable"}}),
        );
    }
    let (offset, per_page) = match window(&spec, &query) {
        Ok(window) => window,
        Err(error) => return bad_request(&error),
    };
    let items: Vec<serde_json::Value> = PARTICIPANTS
        .iter()
        .skip(offset)
        .take(per_page)
        .map(|(id, user, custom)| {
            serde_json::json!({
                "id": id,
                "user_id": user,
                "custom_participant_id": custom,
                "display_name": "",
                "preset_name": "group_call_participant",
                "joined_at": "2024-05-14T09:00:00.000Z",
                "left_at": "2024-05-14T10:00:00.000Z",
                "duration": 60.0,
            })
        })
        .collect();
    let paging = serde_json::json!({
        "total_count": PARTICIPANTS.len(),
        "start_offset": offset,
        "end_offset": (offset + items.len()).saturating_sub(1).max(offset),
    });
    paged(&spec, "participants", &items, &paging)
}

async fn chat(
    State(shared): State<Arc<Shared>>,
    Path((spec, session)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let spec = match OrgSpec::parse(&spec) {
        Ok(spec) => spec,
        Err(error) => return bad_request(&error),
    };
    if spec.broken && session.starts_with("broken--") && dyte_auth(&shared, &headers) {
        let response = json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &serde_json::json!({"success": false, "error": {"code": 422, "message": "Chat export failed for this session"}}),
        );
        shared.record(Route::DyteApi, &session, &headers, response.status());
        return response;
    }
    crate::dyte_chat(State(shared), Path(session), headers).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participants_match_the_dumps() {
        let csv = String::from_utf8(crate::chat_csv("s", 8)).unwrap();
        for (id, _, _) in PARTICIPANTS {
            assert!(csv.contains(id), "{id}");
        }
    }

    #[test]
    fn spec_round_trips() {
        let spec = OrgSpec::parse("n=1000,first=0,paging=data,max=50,faults=1,broken=1").unwrap();
        assert_eq!(OrgSpec::parse(&spec.to_segment()).unwrap(), spec);
        assert_eq!(spec.sessions_without_chat().len(), 20);
        assert_eq!(spec.broken_sessions().len(), 4);
        assert!(OrgSpec::parse("first=2").is_err());
    }
}
