//! The HTTP side: `POST /webhook`, `GET /healthz` and `GET /jobs`.
//!
//! A delivery is checked in this order, each step answering before the next runs:
//! size (413 above [`MAX_BODY`]), signature over the raw bytes (a `dyte-signature` may instead
//! cover their compact re-serialisation, which Dyte's sample receiver checks) (401), JSON and
//! nesting (400), event type (`meeting.chatSynced`, `meeting.transcript` and `meeting.summary`
//! make jobs; other events: 200, ignored and logged), then the job is recorded
//! durably and only then is 200 sent. A database failure answers 500 so the provider retries.
//!
//! Connections are served by an accept loop of our own rather than `axum::serve`, which sets no
//! header-read timeout: here a client gets [`Limits::header_timeout`] to send its request head
//! and [`Limits::body_timeout`] for the body (slowloris), and at most
//! [`Limits::max_connections`] connections are open at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::payload::{self, Delivery};
use crate::signature::{SignatureError, Verifier};
use crate::store::{NewJob, Recorded};
use crate::worker::{Context, with_store};

/// The largest delivery body accepted (a `chatSynced`, `transcript` or `summary` body is under
/// 1 KiB).
pub const MAX_BODY: usize = 64 * 1024;
/// The longest delivery uuid kept.
const MAX_UUID_LEN: usize = 200;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest wait for a request head (from the connection's start or the previous
    /// response).
    pub header_timeout: Duration,
    /// The longest wait for a request body.
    pub body_timeout: Duration,
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// On shutdown, the longest wait for open connections to finish their requests.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    /// 10 s for the head, 10 s for the body, 1024 connections, 10 s to drain.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

pub(crate) struct App {
    pub(crate) verifier: Verifier,
    pub(crate) context: Arc<Context>,
    pub(crate) limits: Limits,
}

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(healthz))
        .route("/jobs", get(jobs))
        .with_state(app)
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets open
/// connections finish their requests (closing idle ones), for at most
/// [`Limits::drain_timeout`].
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_sender, stop) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    tracing::warn!(error = %error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let mut stop = stop.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let mut connection =
                std::pin::pin!(builder.serve_connection(TokioIo::new(stream), service));
            // The guard `wait_for` returns is dropped at once: it must not live across an await.
            let stopped = async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            };
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(error = %error, "connection ended with an error");
                    }
                }
                () = stopped => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Reap finished connections so the set stays small.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop_sender.send(true);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open after the drain timeout are closed");
        connections.shutdown().await;
    }
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

/// The most jobs `GET /jobs` lists.
const JOBS_MAX: u32 = 1000;
/// How many jobs `GET /jobs` lists without `limit`.
const JOBS_DEFAULT: u32 = 100;

/// `GET /jobs[?status=queued|running|done|failed][&limit=N]`: the most recently updated jobs
/// (at most [`JOBS_MAX`], [`JOBS_DEFAULT`] unless `limit` says) and the counts by status, as
/// JSON, each job as [`crate::Job::to_json`] shows it (links redacted). Only with
/// `Authorization: Bearer TOKEN` (401 otherwise), and only when a token is configured (404
/// otherwise): the queue names sessions and errors, which the open internet should not see.
async fn jobs(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let Some(token) = app.context.options.jobs_token.as_ref() else {
        return refuse(StatusCode::NOT_FOUND, "not found");
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if !given.is_some_and(|given| same_secret(given, token.expose())) {
        let mut response = refuse(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let (status, limit) = match jobs_query(uri.query().unwrap_or("")) {
        Ok(query) => query,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, &message),
    };
    let listed = with_store(&app.context.store, move |store| {
        Ok((store.recent(limit, status)?, store.counts()?))
    })
    .await;
    match listed {
        Ok((jobs, counts)) => {
            let jobs: Vec<serde_json::Value> = jobs.iter().map(crate::Job::to_json).collect();
            json(
                StatusCode::OK,
                &serde_json::json!({ "counts": counts_json(counts), "jobs": jobs }),
            )
        }
        Err(error) => {
            tracing::error!(error = %error, "GET /jobs: the job database does not answer");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the job database does not answer",
            )
        }
    }
}

/// Job counts by status as a JSON object (`{"done": 12, "queued": 1}`).
fn counts_json(counts: Vec<(crate::JobStatus, u64)>) -> serde_json::Value {
    counts
        .into_iter()
        .map(|(status, count)| (status.as_str().to_owned(), count.into()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Whether two secrets are equal, in time that does not depend on where they differ: their
/// SHA-256 digests are compared in full.
fn same_secret(given: &str, expected: &str) -> bool {
    let digest = |text: &str| ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let (given, expected) = (digest(given), digest(expected));
    given
        .as_ref()
        .iter()
        .zip(expected.as_ref())
        .fold(0_u8, |differ, (a, b)| differ | (a ^ b))
        == 0
}

/// The `status` and `limit` of a `GET /jobs` query string; anything else is an error.
fn jobs_query(query: &str) -> Result<(Option<crate::JobStatus>, u32), String> {
    let mut status = None;
    let mut limit = JOBS_DEFAULT;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let shown = || chatdump_core::escape::escape_for_terminal(value, 40);
        match name {
            "status" => {
                status = Some(value.parse().map_err(|_| {
                    format!(
                        "status must be queued, running, done or failed, not `{}`",
                        shown()
                    )
                })?);
            }
            "limit" => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|limit| (1..=JOBS_MAX).contains(limit))
                    .ok_or_else(|| {
                        format!(
                            "limit must be a number from 1 to {JOBS_MAX}, not `{}`",
                            shown()
                        )
                    })?;
            }
            other => {
                return Err(format!(
                    "unknown parameter `{}` (status, limit)",
                    chatdump_core::escape::escape_for_terminal(other, 40)
                ));
            }
        }
    }
    Ok((status, limit))
}

/// 200 with the job counts when the job database answers, else 503.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    match with_store(&app.context.store, |store| store.counts()).await {
        Ok(counts) => json(
            StatusCode::OK,
            &serde_json::json!({ "status": "ok", "jobs": counts_json(counts) }),
        ),
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

async fn webhook(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let too_large = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .is_some_and(|length| length > MAX_BODY as u64);
    if too_large {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 64 KiB",
        );
    }
    let body = match tokio::time::timeout(
        app.limits.body_timeout,
        axum::body::to_bytes(body, MAX_BODY),
    )
    .await
    {
        Err(_) => {
            tracing::warn!("a delivery's body did not arrive in time");
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            );
        }
        Ok(Err(error)) => {
            // `to_bytes` fails on the length limit or on a broken connection.
            let too_long = std::error::Error::source(&error)
                .is_some_and(<dyn std::error::Error>::is::<http_body_util::LengthLimitError>);
            return if too_long {
                refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the body is larger than 64 KiB",
                )
            } else {
                refuse(StatusCode::BAD_REQUEST, "cannot read the body")
            };
        }
        Ok(Ok(body)) => body,
    };
    let signature = first_header(&headers, &["rtk-signature", "dyte-signature"]);
    // Dyte's sample receiver verifies over `JSON.stringify(req.body)`, so a Dyte signature may
    // cover the compact re-serialisation rather than the bytes sent. RealtimeKit signs the raw
    // body and says not to re-serialise: its `rtk-signature` is checked over the raw bytes only.
    let dyte_signed = !headers.contains_key("rtk-signature") && signature.is_some();
    let compact = if dyte_signed {
        payload::compact(&body)
    } else {
        None
    };
    if let Err(error) = app
        .verifier
        .verify_either(
            &body,
            compact.as_deref(),
            signature.map(HeaderValue::as_bytes),
        )
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
    let job = match delivery {
        Delivery::Other(event) => {
            let shown = chatdump_core::escape::escape_for_terminal(&event, 80);
            tracing::info!(event = %shown, uuid = uuid.as_deref().unwrap_or("-"), "ignored an event this receiver does not handle");
            return json(
                StatusCode::OK,
                &serde_json::json!({ "status": "ignored", "event": event }),
            );
        }
        Delivery::ChatSynced(event) => NewJob {
            event: payload::CHAT_SYNCED.to_owned(),
            session_id: event.session_id,
            meeting_id: event.meeting_id,
            download_url: event.chat_download_url,
            download_url_expiry: event.chat_download_url_expiry,
            started_at: event.started_at,
        },
        Delivery::Part(event) => NewJob {
            event: event.part.event().to_owned(),
            session_id: event.session_id,
            meeting_id: event.meeting_id,
            download_url: event.download_url,
            download_url_expiry: event.download_url_expiry,
            started_at: event.started_at,
        },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JobStatus;

    #[test]
    fn jobs_query_takes_status_and_limit_and_nothing_else() {
        assert_eq!(jobs_query(""), Ok((None, JOBS_DEFAULT)));
        assert_eq!(
            jobs_query("status=failed&limit=5"),
            Ok((Some(JobStatus::Failed), 5))
        );
        assert_eq!(jobs_query("limit=1000&"), Ok((None, 1000)));
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=x",
            "status=gone",
            "order=id",
            "status",
        ] {
            assert!(jobs_query(bad).is_err(), "{bad}");
        }
        let error = jobs_query("status=%1b[31m\u{1b}").unwrap_err();
        assert!(
            !error.contains('\u{1b}'),
            "escaped for the terminal: {error}"
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("s3cret-token", "s3cret-token"));
        assert!(!same_secret("s3cret-token", "s3cret-tokem"));
        assert!(!same_secret("s3cret", "s3cret-token"));
        assert!(!same_secret("", "s3cret-token"));
    }
}
