//! `chatdump serve`: a webhook receiver that exports every meeting's chat when the
//! `meeting.chatSynced` event arrives from Dyte or Cloudflare `RealtimeKit`, with the session's
//! speech transcript and summary when `meeting.transcript` and `meeting.summary` arrive
//! (before or after the chat: see [`parts`]).
//!
//! The pieces, in the order a delivery meets them:
//!
//! - [`server`]: `POST /webhook` (body capped at 64 KiB, signature checked over the raw bytes,
//!   JSON nesting limited), `GET /healthz`, and `GET /jobs` (the queue, behind a bearer token,
//!   off unless [`ServeOptions::jobs_token`] is set);
//! - [`signature`]: RSA PKCS#1 v1.5 SHA-256 verification with a key from a file or the
//!   provider's well-known URL (cached, fetched again once when a signature fails);
//! - [`store`]: the durable `SQLite` job queue; a delivery is committed before the 2xx is sent,
//!   and deduplicated by its uuid header and by (event, session id);
//! - the worker pool: downloads the delivery's link only when the
//!   [`DownloadPolicy`] allows it (https, allowed storage hosts; anything else is refused to
//!   prevent SSRF), else asks the Chat Replay API for a fresh link through
//!   [`chatdump_api::Fetcher`], then converts the dump with the one conversion pipeline
//!   ([`Conversion::session`], as `chatdump export` does) into [`Conversion`]'s formats, with
//!   every part of the session kept so far ([`parts`]). Failures are retried with backoff
//!   and finally recorded as failed with their reason; jobs left running by a killed process
//!   are queued again on start.
//!
//! The library never prints: it emits `tracing` events (links redacted, no credentials) and the
//! binary installs the subscriber. It reads the clock only through the [`Clock`] it is given.
//!
//! ```no_run
//! use chatdump_pipeline::{Format, Options};
//! use chatdump_core::time::Clock;
//! use chatdump_serve::{Conversion, ServeOptions, signature::{KeySource, PublicKey}};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let key = PublicKey::from_pem(&std::fs::read_to_string("webhook-public.pem")?)?;
//! let conversion = Conversion {
//!     formats: vec![Format::Jsonl, Format::Html],
//!     partition_by_date: false,
//!     rejects: None,
//!     parts_dir: None,
//!     options: Options::new("/var/tmp".into(), "0.1.0"),
//! };
//! let options = ServeOptions::new(
//!     "127.0.0.1:8080".parse()?,
//!     "exports".into(),
//!     conversion,
//!     KeySource::Fixed(key),
//!     Clock::new(jiff::Timestamp::now),
//! );
//! chatdump_serve::serve(options, None, chatdump_serve::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests may use the system temporary directory and the clock"
    )
)]

pub mod download;
pub mod parts;
pub mod payload;
pub mod server;
pub mod signature;
pub mod store;
mod worker;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatdump_api::Fetcher;
use chatdump_core::time::Clock;
pub use chatdump_pipeline::Conversion;
use tokio::sync::{Notify, watch};

use chatdump_api::allow::DownloadPolicy;
pub use store::{Job, JobStatus, Store};

/// How the receiver runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Where dumps and exports go.
    pub output: PathBuf,
    /// What every dump is converted into.
    pub conversion: Conversion,
    /// The `SQLite` job database.
    pub state: PathBuf,
    /// The webhook public key.
    pub key: signature::KeySource,
    /// Which delivery links may be downloaded.
    pub policy: DownloadPolicy,
    /// Jobs run at once.
    pub workers: usize,
    /// Attempts per job before it is marked failed.
    pub max_attempts: u32,
    /// The first retry delay (doubled on every further failure).
    pub retry_delay: Duration,
    /// The longest retry delay.
    pub max_retry_delay: Duration,
    /// How long a shutdown waits for running jobs before putting them back in the queue.
    pub shutdown_grace: Duration,
    /// The largest dump downloaded from a delivery link.
    pub max_dump_size: u64,
    /// Connect timeout for delivery links and the key URL.
    pub connect_timeout: Duration,
    /// Read timeout for delivery links and the key URL.
    pub read_timeout: Duration,
    /// Connection limits (header and body timeouts, open connections).
    pub limits: server::Limits,
    /// The bearer token `GET /jobs` requires; `None` (the default) turns the endpoint off
    /// (404).
    pub jobs_token: Option<chatdump_api::Secret>,
    /// The wall clock.
    pub clock: Clock,
}

impl ServeOptions {
    /// The defaults: the state database at `<output>/.chatdump/state.sqlite3`, the S3 allowlist,
    /// 4 workers, 5 attempts with retries after 5 s, 10 s, 20 s, ... up to 10 min, a 30 s
    /// shutdown grace, 1 GiB dumps, 10 s connect and 60 s read timeouts, no `GET /jobs`.
    #[must_use]
    pub fn new(
        listen: SocketAddr,
        output: PathBuf,
        conversion: Conversion,
        key: signature::KeySource,
        clock: Clock,
    ) -> Self {
        Self {
            listen,
            state: default_state_path(&output),
            output,
            conversion,
            key,
            policy: DownloadPolicy::default(),
            workers: 4,
            max_attempts: 5,
            retry_delay: Duration::from_secs(5),
            max_retry_delay: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(30),
            max_dump_size: 1 << 30,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            limits: server::Limits::default(),
            jobs_token: None,
            clock,
        }
    }
}

/// The default job database for an output root: `<output>/.chatdump/state.sqlite3`.
#[must_use]
pub fn default_state_path(output: &Path) -> PathBuf {
    output.join(".chatdump").join("state.sqlite3")
}

/// Why the receiver could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The job database.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A directory could not be created.
    #[error("cannot create `{path}`")]
    CreateDir {
        /// The directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The address could not be bound.
    #[error("cannot listen on `{address}`")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The server failed.
    #[error("the HTTP server failed")]
    Server(#[source] std::io::Error),
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C only, elsewhere than Unix).
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Makes the job database readable by its owner only: it holds the presigned download links
/// while they are useful. (`SQLite` gives its `-wal` and `-shm` files the database's mode.)
fn restrict_permissions(state: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Err(error) = std::fs::set_permissions(state, std::fs::Permissions::from_mode(0o600))
        {
            tracing::warn!(error = %error, "cannot make the job database private");
        }
    }
    #[cfg(not(unix))]
    let _ = state;
}

/// Removes the temporary files a killed process left beside a session's outputs
/// (`.<stem>.<ext>.<random>.tmp`, the [`chatdump_core::output::AtomicFile`] naming; a stem has
/// no dot, so the prefix names one session's files).
pub(crate) fn remove_stale_temporaries(output: &Path, stem: &str) {
    let Ok(entries) = std::fs::read_dir(output) else {
        return;
    };
    let prefix = format!(".{stem}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(&prefix)
            && Path::new(name)
                .extension()
                .is_some_and(|extension| extension == "tmp")
        {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %name, "removed a temporary file left by an interrupted job");
                }
                Err(error) => {
                    tracing::warn!(file = %name, error = %error, "cannot remove a stale temporary file");
                }
            }
        }
    }
}

/// Runs the receiver until `shutdown` resolves: stops accepting, lets running jobs finish for
/// [`ServeOptions::shutdown_grace`], then puts the rest back in the queue for the next start.
///
/// `fetcher` (when API credentials are configured) gets a fresh link by session id when a
/// delivery's link is refused, expired or fails.
pub async fn serve(
    options: ServeOptions,
    fetcher: Option<Arc<Fetcher>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    for directory in [
        Some(options.output.as_path()),
        options
            .state
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty()),
    ]
    .into_iter()
    .flatten()
    {
        std::fs::create_dir_all(directory).map_err(|source| ServeError::CreateDir {
            path: directory.display().to_string(),
            source,
        })?;
    }
    let mut store = Store::open(&options.state)?;
    restrict_permissions(&options.state);
    let requeued = store.requeue_running(options.clock.now().as_millisecond())?;
    for job in &requeued {
        tracing::warn!(job = job.id, session = %job.session_id, "a job interrupted by a crash goes back to the queue");
    }
    // Rustls needs a process-wide crypto provider; `Err` means one is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let link_client = download::client(
        &options.policy,
        options.connect_timeout,
        options.read_timeout,
    )
    .map_err(ServeError::Client)?;
    let key_client = reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|error| ServeError::Client(error.without_url()))?;
    let verifier = signature::Verifier::new(options.key.clone(), key_client);
    if let Err(error) = verifier.prefetch().await {
        tracing::warn!(error = %error, "cannot fetch the webhook public key yet; deliveries get 503 until it can be");
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            address: options.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(ServeError::Server)?;
    let workers = options.workers.max(1);
    let grace = options.shutdown_grace;
    let limits = options.limits;
    let context = Arc::new(worker::Context {
        store: Arc::new(Mutex::new(store)),
        options,
        fetcher,
        link_client,
        wake: Notify::new(),
    });
    let (stop_sender, stop) = watch::channel(false);
    let (abort_sender, abort) = watch::channel(false);
    let mut pool = tokio::task::JoinSet::new();
    for _ in 0..workers {
        pool.spawn(worker::run(
            Arc::clone(&context),
            stop.clone(),
            abort.clone(),
        ));
    }
    let app = Arc::new(server::App {
        verifier,
        context: Arc::clone(&context),
        limits,
    });
    tracing::info!(%address, workers, "listening");
    server::run(
        listener,
        server::router(Arc::clone(&app)),
        app.limits,
        shutdown,
    )
    .await;
    tracing::info!("shutting down: no new deliveries; waiting for running jobs");
    let _ = stop_sender.send(true);
    context.wake.notify_waiters();
    let finished =
        tokio::time::timeout(grace, async { while pool.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        tracing::warn!(
            grace_s = grace.as_secs(),
            "running jobs did not finish in time; they go back to the queue"
        );
        let _ = abort_sender.send(true);
        while pool.join_next().await.is_some() {}
    }
    tracing::info!("stopped");
    Ok(())
}
