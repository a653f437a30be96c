//! Listing an organisation's sessions (`GET /sessions`) and a session's participants
//! (`GET /sessions/{id}/participants`), one page per call, for bulk export.
//!
//! Both routes are read leniently, because their shapes are not settled (see
//! `dyte-api.md` §4): the list may sit in `data.sessions`, `data.participants`, or be `data`
//! itself (`result` is accepted in place of `data`); `paging` may be at the top level, inside
//! `data`, or absent. Which page number comes first (0 or 1) is the caller's business: these
//! calls fetch exactly the page asked for.
//!
//! Calls go through the [`Fetcher`]'s HTTP client and credentials and are retried like the chat
//! route (connection errors, 408, 429 with `Retry-After`, 5xx).

use jiff::Timestamp;
use reqwest::Url;
use serde_json::Value;
use tokio::time::Instant;

use crate::api::{self, Api};
use crate::{FetchError, Fetcher, IgnoreEvents, redact_url};
use chatdump_core::reader::parse_timestamp;

/// Which sessions to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only sessions started at or after this time (`start_time`).
    pub since: Option<Timestamp>,
    /// Only sessions started before this time (`end_time`).
    pub until: Option<Timestamp>,
    /// Only the sessions of this meeting (`associated_id`).
    pub meeting_id: Option<String>,
    /// Only sessions in this state (`status`: `LIVE` or `ENDED`).
    pub status: Option<String>,
}

/// One session from the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id.
    pub id: String,
    /// The meeting id (`associated_id`), if given.
    pub meeting_id: Option<String>,
    /// `LIVE` or `ENDED`, if given.
    pub status: Option<String>,
    /// When the session started (`started_at`, else `created_at`), if readable.
    pub started_at: Option<Timestamp>,
}

/// The `paging` object of a list answer; every field is optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Paging {
    /// Items in the whole listing.
    pub total_count: Option<u64>,
    /// The offset of this page's first item.
    pub start_offset: Option<u64>,
    /// The offset of this page's last item.
    pub end_offset: Option<u64>,
}

/// One page of a list answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the server's order.
    pub items: Vec<T>,
    /// The paging information, when the server sent any.
    pub paging: Option<Paging>,
}

/// One participant of a session: what enrichment needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The participant id, which is the peer id (`participantId` in the chat dump).
    pub id: String,
    /// The user id, if any.
    pub user_id: Option<String>,
    /// The id the organisation gave the participant, if any.
    pub custom_participant_id: Option<String>,
}

impl Api {
    /// The route `{root}/sessions[/{session_id}/{leaf}]`, every id one percent-encoded segment.
    pub(crate) fn sessions_route(&self, tail: &[&str]) -> Url {
        let (base, mut segments): (&Url, Vec<&str>) = match self {
            Self::Dyte { base, .. } => (base, vec!["sessions"]),
            Self::RealtimeKit {
                base,
                account_id,
                app_id,
                ..
            } => (
                base,
                vec![
                    "accounts", account_id, "realtime", "kit", app_id, "sessions",
                ],
            ),
        };
        segments.extend_from_slice(tail);
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// `GET /sessions` for one page.
    #[must_use]
    pub fn sessions_url(&self, query: &SessionQuery, page_no: u32, per_page: u32) -> Url {
        let mut url = self.sessions_route(&[]);
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("page_no", &page_no.to_string());
            pairs.append_pair("per_page", &per_page.to_string());
            // A stable order keeps pages stable while new sessions are being created.
            pairs.append_pair("sort_by", "createdAt");
            pairs.append_pair("sort_order", "ASC");
            if let Some(since) = query.since {
                pairs.append_pair("start_time", &chatdump_core::time::format_utc(since));
            }
            if let Some(until) = query.until {
                pairs.append_pair("end_time", &chatdump_core::time::format_utc(until));
            }
            if let Some(meeting) = &query.meeting_id {
                pairs.append_pair("associated_id", meeting);
            }
            if let Some(status) = &query.status {
                pairs.append_pair("status", status);
            }
        }
        url
    }

    /// `GET /sessions/{session_id}/participants` for one page.
    #[must_use]
    pub fn participants_url(&self, session_id: &str, page_no: u32, per_page: u32) -> Url {
        let mut url = self.sessions_route(&[session_id, "participants"]);
        url.query_pairs_mut()
            .append_pair("page_no", &page_no.to_string())
            .append_pair("per_page", &per_page.to_string());
        url
    }
}

impl Fetcher {
    /// Fetches page `page_no` of `GET /sessions`.
    pub async fn sessions_page(
        &self,
        query: &SessionQuery,
        page_no: u32,
        per_page: u32,
    ) -> Result<Page<Session>, FetchError> {
        let url = self.api.sessions_url(query, page_no, per_page);
        let value = self.get_json(&url, None).await?;
        parse_sessions(&value).map_err(|reason| FetchError::Malformed {
            url: redact_url(&url),
            reason,
        })
    }

    /// Fetches page `page_no` of `GET /sessions/{session_id}/participants`. A 404 is
    /// [`FetchError::NotFound`].
    pub async fn participants_page(
        &self,
        session_id: &str,
        page_no: u32,
        per_page: u32,
    ) -> Result<Page<Participant>, FetchError> {
        let url = self.api.participants_url(session_id, page_no, per_page);
        let value = self.get_json(&url, Some(session_id)).await?;
        parse_participants(&value).map_err(|reason| FetchError::Malformed {
            url: redact_url(&url),
            reason,
        })
    }

    /// A GET of a small JSON answer with the API's credentials, retried like the chat route.
    /// A 404 becomes [`FetchError::NotFound`] when `session` is given, else a status error.
    pub(crate) async fn get_json(
        &self,
        url: &Url,
        session: Option<&str>,
    ) -> Result<Value, FetchError> {
        let body = self
            .api_get(url, session, Instant::now(), &mut IgnoreEvents, |_| {})
            .await?;
        serde_json::from_slice(&body).map_err(|error| FetchError::Malformed {
            url: redact_url(url),
            reason: format!("not JSON ({error})"),
        })
    }
}

/// The payload of a list answer: `data` (or `result`), else the whole value.
fn data_of(value: &Value) -> &Value {
    ["data", "result"]
        .iter()
        .find_map(|key| value.get(key).filter(|data| !data.is_null()))
        .unwrap_or(value)
}

/// The list under `key` in `data`, or `data` itself when it is an array.
fn list_of<'v>(value: &'v Value, key: &str) -> Result<&'v [Value], String> {
    if value.get("success").and_then(Value::as_bool) == Some(false) {
        return Err(format!(
            "`success` is false{}",
            api::error_message(value).map_or_else(String::new, |message| format!(": {message}"))
        ));
    }
    let data = data_of(value);
    if let Some(items) = data.as_array() {
        return Ok(items);
    }
    match data.get(key) {
        Some(Value::Array(items)) => Ok(items),
        Some(Value::Null) | None => Err(format!("no `{key}` list in the answer")),
        Some(_) => Err(format!("`{key}` is not a list")),
    }
}

/// `paging` at the top level, else inside `data`.
fn paging_of(value: &Value) -> Option<Paging> {
    let paging = value
        .get("paging")
        .filter(|paging| paging.is_object())
        .or_else(|| {
            data_of(value)
                .get("paging")
                .filter(|paging| paging.is_object())
        })?;
    let number = |key: &str| {
        paging.get(key).and_then(|value| {
            value
                .as_u64()
                .or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
        })
    };
    Some(Paging {
        total_count: number("total_count"),
        start_offset: number("start_offset"),
        end_offset: number("end_offset"),
    })
}

fn text(item: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| match item.get(key) {
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    })
}

/// Reads a `GET /sessions` answer. Entries without an id are an error: skipping them silently
/// would lose sessions.
pub fn parse_sessions(value: &Value) -> Result<Page<Session>, String> {
    let list = list_of(value, "sessions")?;
    let mut items = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        let Some(id) = text(item, &["id", "session_id", "sessionId"]) else {
            return Err(format!("session {index} of the page has no `id`"));
        };
        items.push(Session {
            id,
            meeting_id: text(item, &["associated_id", "meeting_id", "associatedId"]),
            status: text(item, &["status"]),
            started_at: text(
                item,
                &["started_at", "startedAt", "created_at", "createdAt"],
            )
            .and_then(|time| parse_timestamp(&time)),
        });
    }
    Ok(Page {
        items,
        paging: paging_of(value),
    })
}

/// Reads a `GET /sessions/{id}/participants` answer. Entries without an id are left out (they
/// cannot be joined).
pub fn parse_participants(value: &Value) -> Result<Page<Participant>, String> {
    let list = list_of(value, "participants")?;
    let items = list
        .iter()
        .filter_map(|item| {
            Some(Participant {
                id: text(item, &["id", "peer_id", "participant_id"])?,
                user_id: text(item, &["user_id", "userId"]),
                custom_participant_id: text(
                    item,
                    &["custom_participant_id", "customParticipantId"],
                ),
            })
        })
        .collect();
    Ok(Page {
        items,
        paging: paging_of(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    #[test]
    fn paging_anywhere_or_nowhere() {
        let top: Value = serde_json::from_str(
            r#"{"success":true,"data":{"sessions":[{"id":"a","associated_id":"m","status":"ENDED","started_at":"2024-05-14T09:00:00.000Z"}]},"paging":{"total_count":3,"start_offset":0,"end_offset":0}}"#,
        )
        .unwrap();
        let page = parse_sessions(&top).unwrap();
        assert_eq!(page.items[0].meeting_id.as_deref(), Some("m"));
        assert_eq!(page.paging.unwrap().total_count, Some(3));
        let inside: Value =
            serde_json::from_str(r#"{"data":{"sessions":[],"paging":{"total_count":"0"}}}"#)
                .unwrap();
        assert_eq!(
            parse_sessions(&inside).unwrap().paging.unwrap().total_count,
            Some(0)
        );
        let bare: Value = serde_json::from_str(r#"{"data":[{"id":"x"}]}"#).unwrap();
        let page = parse_sessions(&bare).unwrap();
        assert_eq!(page.items.len(), 1);
        assert!(page.paging.is_none());
        let refused: Value =
            serde_json::from_str(r#"{"success":false,"error":{"message":"no"}}"#).unwrap();
        assert!(parse_sessions(&refused).unwrap_err().contains("no"));
        let no_id: Value = serde_json::from_str(r#"{"data":{"sessions":[{}]}}"#).unwrap();
        assert!(parse_sessions(&no_id).is_err());
    }

    #[test]
    fn participants() {
        let value: Value = serde_json::from_str(
            r#"{"data":{"participants":[{"id":"p1","user_id":"u1","custom_participant_id":null},{"user_id":"lost"}],"paging":{"total_count":1}}}"#,
        )
        .unwrap();
        let page = parse_participants(&value).unwrap();
        assert_eq!(
            page.items,
            vec![Participant {
                id: "p1".into(),
                user_id: Some("u1".into()),
                custom_participant_id: None
            }]
        );
    }

    #[test]
    fn urls() {
        let dyte = Api::Dyte {
            base: "http://127.0.0.1:1/v2".parse().unwrap(),
            org_id: "o".into(),
            api_key: Secret::new("k"),
        };
        let query = SessionQuery {
            meeting_id: Some("m 1".into()),
            status: Some("ENDED".into()),
            since: Some("2024-05-14T00:00:00Z".parse().unwrap()),
            ..SessionQuery::default()
        };
        assert_eq!(
            dyte.sessions_url(&query, 1, 100).as_str(),
            "http://127.0.0.1:1/v2/sessions?page_no=1&per_page=100&sort_by=createdAt&sort_order=ASC&start_time=2024-05-14T00%3A00%3A00.000Z&associated_id=m+1&status=ENDED"
        );
        let rtk = Api::RealtimeKit {
            base: "https://api.cloudflare.com/client/v4".parse().unwrap(),
            account_id: "acc".into(),
            app_id: "app".into(),
            api_token: Secret::new("t"),
        };
        assert_eq!(
            rtk.sessions_url(&SessionQuery::default(), 1, 10).as_str(),
            "https://api.cloudflare.com/client/v4/accounts/acc/realtime/kit/app/sessions?page_no=1&per_page=10&sort_by=createdAt&sort_order=ASC"
        );
        assert_eq!(
            dyte.participants_url("a/b", 0, 50).as_str(),
            "http://127.0.0.1:1/v2/sessions/a%2Fb/participants?page_no=0&per_page=50"
        );
    }
}
