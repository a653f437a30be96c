//! The HTTP side: `POST /webhook` and `GET /healthz`.
//!
//! A delivery is checked in this order, each step answering before the next runs:
//! size (413 above [`MAX_BODY`]), signature over the raw bytes (401), JSON and nesting (400),
//! event type (other events: 200, ignored and logged), then the job is recorded durably and only
//! then is 200 sent. A database failure answers 500 so the provider retries.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::payload::{self, Delivery};
use crate::signature::{SignatureError, Verifier};
use crate::store::{NewJob, Recorded};
use crate::worker::{Context, with_store};

/// The largest delivery body accepted (a `chatSynced` body is under 1 KiB).
pub const MAX_BODY: usize = 64 * 1024;
/// The longest delivery uuid kept.
const MAX_UUID_LEN: usize = 200;

pub(crate) struct App {
    pub(crate) verifier: Verifier,
    pub(crate) context: Arc<Context>,
}

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        value.to_string(),
    )
        .into_response()
}

fn refuse(status: StatusCode, error: &str) -> Response {
    json(status, &serde_json::json!({ "error": error }))
}

/// 200 with the job counts when the job database answers, else 503.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    match with_store(&app.context.store, |store| store.counts()).await {
        Ok(counts) => {
            let jobs: serde_json::Map<String, serde_json::Value> = counts
                .into_iter()
                .map(|(status, count)| (status.as_str().to_owned(), count.into()))
                .collect();
            json(
                StatusCode::OK,
                &serde_json::json!({ "status": "ok", "jobs": jobs }),
            )
        }
        Err(error) => {
            tracing::error!(error = %error, "health check: the job database does not answer");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the job database does not answer",
            )
        }
    }
}

/// The first of `names` present in `headers`.
fn first_header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a HeaderValue> {
    names.iter().find_map(|name| headers.get(*name))
}

async fn webhook(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = first_header(&headers, &["rtk-signature", "dyte-signature"]);
    if let Err(error) = app
        .verifier
        .verify(&body, signature.map(HeaderValue::as_bytes))
        .await
    {
        return match error {
            SignatureError::NoKey(reason) => {
                tracing::error!(reason = %reason, "cannot verify a delivery: no public key");
                refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no public key to verify with",
                )
            }
            other => {
                tracing::warn!(reason = %other, bytes = body.len(), "refused a delivery");
                refuse(StatusCode::UNAUTHORIZED, "invalid signature")
            }
        };
    }
    let delivery = match payload::parse(&body) {
        Ok(delivery) => delivery,
        Err(error) => {
            tracing::warn!(reason = %error, "refused a signed delivery");
            return refuse(StatusCode::BAD_REQUEST, &error.to_string());
        }
    };
    let uuid = first_header(&headers, &["rtk-uuid", "dyte-uuid"])
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|uuid| !uuid.is_empty() && uuid.len() <= MAX_UUID_LEN)
        .map(str::to_owned);
    let event = match delivery {
        Delivery::Other(event) => {
            let shown = chatdump_core::escape::escape_for_terminal(&event, 80);
            tracing::info!(event = %shown, uuid = uuid.as_deref().unwrap_or("-"), "ignored an event this receiver does not handle");
            return json(
                StatusCode::OK,
                &serde_json::json!({ "status": "ignored", "event": event }),
            );
        }
        Delivery::ChatSynced(event) => event,
    };
    let job = NewJob {
        event: payload::CHAT_SYNCED.to_owned(),
        session_id: event.session_id,
        meeting_id: event.meeting_id,
        download_url: event.chat_download_url,
        download_url_expiry: event.chat_download_url_expiry,
    };
    let session = job.session_id.clone();
    let now = app.context.options.clock.now().as_millisecond();
    let recorded = with_store(&app.context.store, {
        let uuid = uuid.clone();
        move |store| store.record(uuid.as_deref(), &job, now)
    })
    .await;
    match recorded {
        Ok(recorded) => {
            let status = match recorded {
                Recorded::New(_) | Recorded::Requeued(_) => {
                    app.context.wake.notify_one();
                    "accepted"
                }
                Recorded::DuplicateDelivery(_) | Recorded::DuplicateEvent(_) => "duplicate",
            };
            tracing::info!(job = recorded.job_id(), session = %session, uuid = uuid.as_deref().unwrap_or("-"), status, "delivery recorded");
            json(
                StatusCode::OK,
                &serde_json::json!({ "status": status, "job": recorded.job_id() }),
            )
        }
        Err(error) => {
            tracing::error!(error = %error, "cannot record a delivery");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot record the delivery",
            )
        }
    }
}
