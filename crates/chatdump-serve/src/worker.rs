//! The worker pool: takes due jobs from the [`Store`], gets the job's part (the chat dump, the
//! speech transcript or the summary), renders the session's outputs from every part stored so
//! far, and records the outcome (done, retry later with backoff, or failed with the reason).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatdump_api::{FetchEvent, FetchObserver, Fetcher, PartOutcome, redact_url};
use chatdump_core::error::error_chain;
use chatdump_core::time::Clock;
use chatdump_pipeline::Events;
use tokio::sync::{Notify, watch};

use crate::ServeOptions;
use crate::download::{self, LinkError};
use crate::parts;
use crate::payload::Part;
use crate::store::{Job, SessionState, Store, StoreError};

/// What the workers share.
pub(crate) struct Context {
    pub(crate) store: Arc<Mutex<Store>>,
    pub(crate) options: ServeOptions,
    pub(crate) fetcher: Option<Arc<Fetcher>>,
    pub(crate) link_client: reqwest::Client,
    /// Woken when a job is recorded.
    pub(crate) wake: Notify,
}

/// Runs `operation` on the store on the blocking pool.
pub(crate) async fn with_store<T, F>(
    store: &Arc<Mutex<Store>>,
    operation: F,
) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        // A panic while holding the lock leaves a consistent database (SQLite transactions
        // roll back), so a poisoned lock is still usable.
        let mut store = store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        operation(&mut store)
    })
    .await
    .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
}

/// A failed attempt.
struct Failure {
    message: String,
    /// Whether another attempt can help.
    retryable: bool,
}

impl Failure {
    fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Logs the fetcher's events (its URLs are already redacted).
struct LogEvents {
    job: i64,
}

impl FetchObserver for LogEvents {
    fn event(&mut self, event: &FetchEvent) {
        tracing::debug!(job = self.job, ?event, "fetch");
    }
}

/// The backoff before attempt `attempts + 1`: `base * 2^(attempts - 1)`, capped, with up to
/// 20 % jitter either way.
pub(crate) fn backoff(options: &ServeOptions, attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let delay = options
        .retry_delay
        .saturating_mul(1 << exponent)
        .min(options.max_retry_delay);
    // `try_from`: a configured maximum near `Duration::MAX` must not overflow.
    Duration::try_from_secs_f64(delay.as_secs_f64() * (0.8 + fastrand::f64() * 0.4))
        .unwrap_or(delay)
}

fn now_ms(clock: &Clock) -> i64 {
    clock.now().as_millisecond()
}

/// Whether the link's stated expiry has passed (unknown formats count as not expired: the
/// storage has the last word).
fn link_expired(expiry: Option<&str>, clock: &Clock) -> bool {
    expiry
        .and_then(chatdump_core::reader::parse_timestamp)
        .is_some_and(|expires| expires <= clock.now())
}

/// Gets the job's part (the chat dump, the transcript or the summary) and renders the session's
/// outputs from every part stored so far. Returns the files written.
async fn attempt(context: &Context, job: &Job) -> Result<Vec<String>, Failure> {
    let dumps = &context.options.output;
    tokio::fs::create_dir_all(dumps)
        .await
        .map_err(|error| Failure::retry(format!("cannot create `{}`: {error}", dumps.display())))?;
    // Temporary files of an earlier attempt that was killed (SIGKILL, power loss) or abandoned at
    // shutdown; no other attempt for this session can be running.
    let stem = chatdump_pipeline::session_stem(&job.session_id)
        .map_err(|error| Failure::permanent(error.to_string()))?;
    crate::remove_stale_temporaries(dumps, &stem);
    let part = Part::from_event(&job.event);
    let target = match part {
        None => parts::chat_path(dumps, &stem),
        Some(part) => parts::part_path(dumps, &stem, part),
    };
    download_part(context, job, part, &target).await?;
    let session = job.session_id.clone();
    let mut state = with_store(&context.store, move |store| store.session(&session))
        .await
        .map_err(|error| Failure::retry(error_chain(&error)))?;
    let unknown_start = start_from_api(context, job, &stem, &mut state).await?;
    let conversion = context.options.conversion.clone();
    let output = context.options.output.clone();
    let session_id = job.session_id.clone();
    let job_id = job.id;
    let rendered = tokio::task::spawn_blocking(move || {
        let mut start = parts::Start::from_stated(&state.started_at);
        if let (parts::Start::Unknown, Some(reason)) = (&start, unknown_start) {
            start = parts::Start::Unusable(reason);
        }
        render(
            &conversion,
            &output,
            &stem,
            &session_id,
            part,
            &Known {
                chat_done: state.chat_done,
                start,
            },
            job_id,
        )
    })
    .await
    .map_err(|_| Failure::retry("the export panicked"))??;
    if !rendered.settled.is_empty() {
        // The session's other parts: done when they went into the outputs, failed (with the
        // reason) when they were left out, whichever job stored them.
        let session = job.session_id.clone();
        let now = now_ms(&context.options.clock);
        let settled: Vec<(&'static str, Option<String>)> = rendered
            .settled
            .into_iter()
            .map(|(part, reason)| (part.event(), reason))
            .collect();
        with_store(&context.store, move |store| {
            store.settle_parts(&session, job_id, &settled, now)
        })
        .await
        .map_err(|error| Failure::retry(error_chain(&error)))?;
    }
    Ok(rendered.files)
}

/// What a render knows of the session besides its files.
struct Known {
    /// Whether the session's chat job is done.
    chat_done: bool,
    /// The session's start.
    start: parts::Start,
}

/// What a job wrote, and (when it rendered the session's outputs) which stored parts went in.
struct Rendered {
    /// The files written.
    files: Vec<String>,
    /// Every part stored other than the job's own: `None` when it went into the outputs,
    /// else why not.
    settled: Vec<(Part, Option<String>)>,
}

/// Downloads the job's part into `target`: the delivery's link when the policy allows it and it
/// has not expired, else (for the chat) a fresh link from the Chat Replay API.
async fn download_part(
    context: &Context,
    job: &Job,
    part: Option<Part>,
    target: &Path,
) -> Result<(), Failure> {
    let what = part.map_or("chat dump", Part::name);
    let mut link_problem = String::from("the delivery has no download link");
    if let Some(link) = &job.download_url {
        match context.options.policy.check(link) {
            Err(refused) => {
                tracing::warn!(job = job.id, session = %job.session_id, reason = %refused, "refusing the delivery's download link");
                link_problem = refused.to_string();
            }
            Ok(_) if link_expired(job.download_url_expiry.as_deref(), &context.options.clock) => {
                link_problem = format!(
                    "the download link expired at `{}`",
                    job.download_url_expiry.as_deref().unwrap_or_default()
                );
                tracing::info!(job = job.id, "the delivery's download link has expired");
            }
            Ok(url) => {
                tracing::info!(job = job.id, part = what, url = %redact_url(&url), "downloading the delivery's link");
                match download::download(
                    &context.link_client,
                    &url,
                    target,
                    context.options.max_dump_size,
                )
                .await
                {
                    Ok(bytes) => {
                        tracing::info!(job = job.id, bytes, "downloaded");
                        return Ok(());
                    }
                    Err(LinkError::Write { path, source }) => {
                        return Err(Failure::retry(format!("cannot write `{path}`: {source}")));
                    }
                    Err(error) => {
                        tracing::warn!(job = job.id, error = %error, "the delivery's link failed");
                        link_problem = error.to_string();
                    }
                }
            }
        }
    }
    let Some(fetcher) = &context.fetcher else {
        // Without API credentials nothing else can get this part; a refused or expired
        // link will not get better by waiting.
        return Err(Failure::permanent(format!(
            "{link_problem}; no API credentials are configured to ask the API for a fresh link"
        )));
    };
    tracing::info!(job = job.id, session = %job.session_id, part = what, reason = %link_problem, "asking the API for a fresh link");
    let mut observer = LogEvents { job: job.id };
    let api_part = match part {
        None => chatdump_api::Part::Chat,
        Some(Part::Transcript) => chatdump_api::Part::Transcript(None),
        Some(Part::Summary) => chatdump_api::Part::Summary,
    };
    match fetcher
        .fetch_part_to(&job.session_id, api_part, target, &mut observer)
        .await
    {
        Ok(PartOutcome::Fetched(result)) => {
            tracing::info!(
                job = job.id,
                bytes = result.bytes,
                api_calls = result.api_calls,
                "fetched through the API"
            );
            Ok(())
        }
        // The platform has not got it (feature off, not generated, past retention).
        Ok(PartOutcome::NotAvailable(missing)) => Err(Failure::permanent(format!(
            "{link_problem}; the API has {missing}"
        ))),
        Err(error) if error.is_credentials() => Err(Failure::permanent(error_chain(&error))),
        Err(error) => Err(Failure::retry(error_chain(&error))),
    }
}

/// When the session has a stored transcript whose times count from the session's start, no
/// delivery stated the start, and API credentials are configured: asks the API's session
/// details (`started_at`) and records the answer on `job`, where every later render of the
/// session finds it. Returns why the start is still unknown, when the API was asked in vain.
async fn start_from_api(
    context: &Context,
    job: &Job,
    stem: &str,
    state: &mut SessionState,
) -> Result<Option<String>, Failure> {
    let start = parts::Start::from_stated(&state.started_at);
    let transcript = parts::part_path(&context.options.output, stem, Part::Transcript);
    if start != parts::Start::Unknown || !tokio::fs::try_exists(&transcript).await.unwrap_or(false)
    {
        return Ok(None);
    }
    let Some(fetcher) = &context.fetcher else {
        return Ok(None);
    };
    let (session_id, options) = (
        job.session_id.clone(),
        context.options.conversion.options.clone(),
    );
    let needs_start = tokio::task::spawn_blocking(move || {
        matches!(
            parts::check_transcript(
                &transcript,
                &session_id,
                &parts::Start::Unknown,
                options.on_error,
                options.max_record_size,
            ),
            Err(parts::Unusable {
                needs_start: true,
                ..
            })
        )
    })
    .await
    .map_err(|_| Failure::retry("the transcript check panicked"))?;
    if !needs_start {
        return Ok(None);
    }
    tracing::info!(job = job.id, session = %job.session_id, "asking the API for the session's start");
    let started_at = match fetcher.session_details(&job.session_id).await {
        Ok(details) => details.started_at,
        Err(chatdump_api::FetchError::NotFound { .. }) => None,
        // The transcript's own job waits for the API; another job renders without it.
        Err(error) if Part::from_event(&job.event) == Some(Part::Transcript) => {
            return Err(Failure::retry(format!(
                "cannot get the session's start: {}",
                error_chain(&error)
            )));
        }
        Err(error) => {
            tracing::warn!(job = job.id, error = %error_chain(&error), "cannot get the session's start from the API");
            return Ok(Some(format!(
                "no delivery for this session stated its start, and the API's session details could not be read ({})",
                error_chain(&error)
            )));
        }
    };
    let Some(started_at) = started_at else {
        return Ok(Some(
            "no delivery for this session stated its start, nor do the API's session details"
                .to_owned(),
        ));
    };
    let stated = started_at.to_string();
    let (id, value, now) = (job.id, stated.clone(), now_ms(&context.options.clock));
    with_store(&context.store, move |store| {
        store.set_started_at(id, &value, now)
    })
    .await
    .map_err(|error| Failure::retry(error_chain(&error)))?;
    state.started_at.push(stated);
    Ok(None)
}

/// After the job's `part` (`None`: the chat) was stored: checks it, then converts the session's
/// chat with every usable part stored so far into `output`, with the one pipeline. A part
/// that arrives before the chat is only stored (the chat's job renders it); a part that cannot
/// be used fails its job for good, its file kept, and the session's outputs stay as they were.
/// Returns the files written: the stored part, and the outputs when rendered.
fn render(
    conversion: &crate::Conversion,
    output: &Path,
    stem: &str,
    session_id: &str,
    part: Option<Part>,
    known: &Known,
    job: i64,
) -> Result<Rendered, Failure> {
    let (chat_done, start) = (known.chat_done, &known.start);
    let options = &conversion.options;
    let transcript = parts::part_path(output, stem, Part::Transcript);
    let summary = parts::part_path(output, stem, Part::Summary);
    let check = |which: Part| -> Result<(), parts::Unusable> {
        match which {
            Part::Transcript => parts::check_transcript(
                &transcript,
                session_id,
                start,
                options.on_error,
                options.max_record_size,
            ),
            Part::Summary => parts::check_summary(&summary),
        }
    };
    if let Some(part) = part {
        let stored = parts::part_path(output, stem, part).display().to_string();
        match check(part) {
            Ok(()) if !chat_done => {
                tracing::info!(
                    job,
                    part = part.name(),
                    "stored; the session's outputs are rendered when its chat arrives"
                );
                return Ok(Rendered {
                    files: vec![stored],
                    settled: Vec::new(),
                });
            }
            Ok(()) => {}
            // The chat's delivery may still state the start.
            Err(unusable) if unusable.needs_start && !chat_done => {
                tracing::info!(job, part = part.name(), reason = %unusable.reason, "stored; waiting for the chat and the session's start");
                return Ok(Rendered {
                    files: vec![stored],
                    settled: Vec::new(),
                });
            }
            Err(unusable) => return Err(Failure::permanent(unusable.reason)),
        }
    }
    let mut meeting = chatdump_pipeline::MeetingParts {
        session_start: start.known(),
        ..chatdump_pipeline::MeetingParts::default()
    };
    let mut settled = Vec::new();
    for (which, path) in [(Part::Transcript, &transcript), (Part::Summary, &summary)] {
        if !path.is_file() {
            continue;
        }
        let outcome = check(which);
        match &outcome {
            Ok(()) => match which {
                Part::Transcript => meeting.transcript = Some(path.clone()),
                Part::Summary => meeting.summary = Some(path.clone()),
            },
            Err(unusable) => {
                tracing::warn!(job, part = which.name(), reason = %unusable.reason, "a stored part is left out of the session's outputs");
            }
        }
        if part != Some(which) {
            settled.push((which, outcome.err().map(|unusable| unusable.reason)));
        }
    }
    let dump = parts::chat_path(output, stem);
    let mut files = vec![dump.display().to_string()];
    files.extend(
        [&meeting.transcript, &meeting.summary]
            .into_iter()
            .flatten()
            .map(|path| path.display().to_string()),
    );
    let converted = conversion
        .session(&dump, session_id, meeting, output, &mut LogWarnings { job })
        .map_err(|error| Failure::retry(format!("export failed: {}", error_chain(&error))))?;
    tracing::info!(job, summary = %converted, "converted");
    files.extend(
        converted
            .outputs
            .iter()
            .filter_map(|written| written.path.as_ref())
            .map(|path| path.display().to_string()),
    );
    Ok(Rendered { files, settled })
}

/// Logs what a conversion warns about (the receiver has no terminal).
struct LogWarnings {
    job: i64,
}

impl Events for LogWarnings {
    fn rejected(&mut self, error: &chatdump_core::error::RecordError) {
        tracing::warn!(job = self.job, error = %error, "skipped a bad record");
    }

    fn warning(&mut self, warning: &chatdump_pipeline::Warning) {
        tracing::warn!(job = self.job, warning = %warning, "conversion warning");
    }
}

/// One worker: claims due jobs until `stop` says so. `abort` (the end of the shutdown grace
/// period) cuts an attempt short; the job is then released to the queue, not counted.
pub(crate) async fn run(
    context: Arc<Context>,
    mut stop: watch::Receiver<bool>,
    mut abort: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let now = now_ms(&context.options.clock);
        let claimed = with_store(&context.store, move |store| store.claim(now)).await;
        let job = match claimed {
            Ok(Some(job)) => job,
            Ok(None) => {
                let next_due = with_store(&context.store, |store| store.next_due())
                    .await
                    .ok()
                    .flatten();
                let wait = next_due.map_or(Duration::from_secs(1), |due| {
                    Duration::from_millis(u64::try_from(due - now).unwrap_or(0).clamp(10, 1000))
                });
                tokio::select! {
                    () = context.wake.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "cannot take a job from the queue");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        };
        let id = job.id;
        tracing::info!(job = id, session = %job.session_id, attempt = job.attempts, "job started");
        let outcome = tokio::select! {
            outcome = attempt(&context, &job) => Some(outcome),
            _ = abort.wait_for(|aborted| *aborted) => None,
        };
        let now = now_ms(&context.options.clock);
        let max_attempts = context.options.max_attempts;
        let delay = backoff(&context.options, job.attempts);
        let recorded = match outcome {
            None => {
                tracing::warn!(job = id, "shutting down: the job goes back to the queue");
                with_store(&context.store, move |store| store.release(id, now)).await
            }
            Some(Ok(outputs)) => {
                tracing::info!(job = id, outputs = outputs.len(), "job done");
                with_store(&context.store, move |store| {
                    store.complete(id, &outputs, now)
                })
                .await
            }
            Some(Err(failure)) if failure.retryable && job.attempts < max_attempts => {
                tracing::warn!(job = id, attempt = job.attempts, retry_in_ms = delay.as_millis() as u64, error = %failure.message, "job failed; will retry");
                let due = now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                with_store(&context.store, move |store| {
                    store.retry_later(id, &failure.message, due, now)
                })
                .await
            }
            Some(Err(failure)) => {
                tracing::error!(job = id, attempts = job.attempts, error = %failure.message, "job failed for good");
                with_store(&context.store, move |store| {
                    store.fail(id, &failure.message, now)
                })
                .await
            }
        };
        if let Err(error) = recorded {
            // The job stays `running`; the next start puts it back in the queue.
            tracing::error!(job = id, error = %error_chain(&error), "cannot record the job's outcome");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let key = crate::signature::PublicKey::from_pem(include_str!(
            "../../../tests/fixtures/webhook/test-only-public.pem"
        ))
        .unwrap();
        let mut options = ServeOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            "out".into(),
            crate::Conversion {
                formats: vec![chatdump_pipeline::Format::Jsonl],
                partition_by_date: false,
                rejects: None,
                parts_dir: None,
                options: chatdump_pipeline::Options::new("tmp".into(), "test"),
            },
            crate::signature::KeySource::Fixed(key),
            Clock::new(jiff::Timestamp::now),
        );
        options.retry_delay = Duration::from_secs(1);
        options.max_retry_delay = Duration::from_secs(10);
        for (attempts, base) in [
            (1, 1.0),
            (2, 2.0),
            (3, 4.0),
            (4, 8.0),
            (5, 10.0),
            (40, 10.0),
        ] {
            let delay = backoff(&options, attempts).as_secs_f64();
            assert!(
                (base * 0.8..=base * 1.2).contains(&delay),
                "attempt {attempts}: {delay}"
            );
        }
    }

    #[test]
    fn expiry() {
        let clock = Clock::new(|| "2026-01-01T00:00:00Z".parse().unwrap());
        assert!(link_expired(Some("2025-12-31 23:59:59.000000Z"), &clock));
        assert!(!link_expired(Some("2026-01-01T00:15:00.000Z"), &clock));
        assert!(
            !link_expired(Some("soon"), &clock),
            "unknown: the storage decides"
        );
        assert!(!link_expired(None, &clock));
    }
}
