//! The worker pool: takes due jobs from the [`Store`], gets the chat dump, exports it, and
//! records the outcome (done, retry later with backoff, or failed with the reason).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatdump_api::{FetchEvent, FetchObserver, Fetcher, redact_url};
use chatdump_core::error::error_chain;
use chatdump_core::time::Clock;
use chatdump_pipeline::Events;
use tokio::sync::{Notify, watch};

use crate::ServeOptions;
use crate::download::{self, LinkError};
use crate::store::{Job, Store, StoreError};

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

/// Gets the dump and exports it. Returns the files written.
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
    let dump: PathBuf = dumps.join(format!("{stem}.csv"));
    let mut link_problem = String::from("the delivery has no download link");
    let mut downloaded = false;
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
                tracing::info!(job = job.id, url = %redact_url(&url), "downloading the delivery's link");
                match download::download(
                    &context.link_client,
                    &url,
                    &dump,
                    context.options.max_dump_size,
                )
                .await
                {
                    Ok(bytes) => {
                        tracing::info!(job = job.id, bytes, "downloaded");
                        downloaded = true;
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
    if !downloaded {
        let Some(fetcher) = &context.fetcher else {
            // Without API credentials nothing else can get this dump; a refused or expired
            // link will not get better by waiting.
            return Err(Failure::permanent(format!(
                "{link_problem}; no API credentials are configured to ask the Chat Replay API for a fresh link"
            )));
        };
        tracing::info!(job = job.id, session = %job.session_id, reason = %link_problem, "asking the Chat Replay API for a fresh link");
        let mut observer = LogEvents { job: job.id };
        let outcome = fetcher
            .fetch_to(&job.session_id, &dump, &mut observer)
            .await;
        match outcome {
            Ok(result) => {
                tracing::info!(
                    job = job.id,
                    bytes = result.bytes,
                    api_calls = result.api_calls,
                    "fetched through the API"
                );
            }
            Err(error) if error.is_credentials() => {
                return Err(Failure::permanent(error_chain(&error)));
            }
            Err(error) => return Err(Failure::retry(error_chain(&error))),
        }
    }
    let conversion = context.options.conversion.clone();
    let output = context.options.output.clone();
    let session_id = job.session_id.clone();
    let job_id = job.id;
    tokio::task::spawn_blocking(move || convert(&conversion, &output, &dump, &session_id, job_id))
        .await
        .map_err(|_| Failure::retry("the export panicked"))?
        .map_err(|error| Failure::retry(format!("export failed: {error}")))
}

/// Converts the dump of `session_id` into `output` with the one pipeline; returns the dump's
/// path and every file written.
fn convert(
    conversion: &crate::Conversion,
    output: &Path,
    dump: &Path,
    session_id: &str,
    job: i64,
) -> Result<Vec<String>, String> {
    let converted = conversion
        .session(
            dump,
            session_id,
            chatdump_pipeline::MeetingParts::default(),
            output,
            &mut LogWarnings { job },
        )
        .map_err(|error| error_chain(&error))?;
    let mut files = vec![dump.display().to_string()];
    files.extend(
        converted
            .outputs
            .iter()
            .filter_map(|written| written.path.as_ref())
            .map(|path| path.display().to_string()),
    );
    Ok(files)
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
