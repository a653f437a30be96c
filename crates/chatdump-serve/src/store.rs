//! The durable job queue: one `SQLite` database holding every accepted delivery and its job.
//!
//! Two tables. `jobs` has one row per `(event, session id)` (the events being
//! `meeting.chatSynced`, `meeting.transcript` and `meeting.summary`), which is what makes a duplicate
//! delivery harmless: a second delivery of the same event for the same session finds the row and
//! adds nothing. `deliveries` maps each delivery uuid (`rtk-uuid` / `dyte-uuid`) to its job, so
//! a retried delivery is recognised even before its body is looked at twice.
//!
//! The database runs in WAL mode with `synchronous = FULL`: a transaction that returned has
//! reached the disk, which is what lets the server answer 2xx only after the job is recorded.
//!
//! At most one job per session runs at a time ([`Store::claim`]): the jobs of one session
//! render the same files.
//!
//! A job goes `queued` -> `running` -> `done`, or back to `queued` (with a later
//! `next_attempt_at`) after a failure worth retrying, or to `failed` with its reason. A process
//! killed while a job runs leaves it `running`; [`Store::requeue_running`] puts it back on the
//! next start.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

/// The schema of the first release; every statement is idempotent. Columns added since are in
/// [`ADDED_COLUMNS`].
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    event TEXT NOT NULL,
    session_id TEXT NOT NULL,
    meeting_id TEXT,
    download_url TEXT,
    download_url_expiry TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    outputs TEXT,
    deliveries INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (event, session_id)
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS deliveries (
    uuid TEXT PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    received_at INTEGER NOT NULL
);
";

/// Columns added after the first release, each with its definition: added to a database that
/// lacks them when it is opened.
const ADDED_COLUMNS: &[(&str, &str)] = &[
    // The session's start as the delivery stated it (`startedAt`), verbatim (issue 18).
    ("started_at", "TEXT"),
];

/// A job-store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or set up.
    #[error("cannot open the job database `{path}`")]
    Open {
        /// The database path.
        path: String,
        /// The `SQLite` error.
        #[source]
        source: rusqlite::Error,
    },
    /// A query failed.
    #[error("job database error")]
    Query(#[from] rusqlite::Error),
    /// The database holds a value this version does not know.
    #[error("job database holds an unknown job status `{0}`")]
    UnknownStatus(String),
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for a worker (possibly until its next attempt is due).
    Queued,
    /// A worker has it.
    Running,
    /// Exported.
    Done,
    /// Given up; the reason is in [`Job::last_error`].
    Failed,
}

impl JobStatus {
    /// The name stored in the database and shown by `chatdump jobs`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, StoreError> {
        match text {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "done" => Ok(Self::Done),
            "failed" => Ok(Self::Failed),
            other => Err(StoreError::UnknownStatus(other.to_owned())),
        }
    }
}

/// One job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job id.
    pub id: i64,
    /// The webhook event (`meeting.chatSynced`).
    pub event: String,
    /// The session whose chat is exported.
    pub session_id: String,
    /// The meeting, when the delivery named it.
    pub meeting_id: Option<String>,
    /// The download link from the delivery (a presigned URL: never show it unredacted).
    pub download_url: Option<String>,
    /// When the link expires, as the delivery stated it.
    pub download_url_expiry: Option<String>,
    /// Where the job is.
    pub status: JobStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// When the next attempt is due (Unix milliseconds).
    pub next_attempt_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The files written, one per line, once done.
    pub outputs: Option<String>,
    /// How many deliveries named this job (duplicates included).
    pub deliveries: u32,
    /// When the first delivery was accepted (Unix milliseconds).
    pub created_at: i64,
    /// When the row last changed (Unix milliseconds).
    pub updated_at: i64,
    /// The session's start as the delivery stated it (`startedAt`), verbatim.
    pub started_at: Option<String>,
}

impl Job {
    /// The job as `chatdump jobs --json` and `GET /jobs` show it: the download link only in
    /// its redacted form (it is presigned), times as UTC (`2024-05-14T09:00:04Z`), `outputs`
    /// as a list.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let link = self.download_url.as_deref().map(|link| {
            link.parse::<chatdump_api::Url>().map_or_else(
                |_| "<not a URL>".to_owned(),
                |url| chatdump_api::redact_url(&url),
            )
        });
        serde_json::json!({
            "id": self.id,
            "event": self.event,
            "session_id": self.session_id,
            "meeting_id": self.meeting_id,
            "started_at": self.started_at,
            "status": self.status.as_str(),
            "attempts": self.attempts,
            "deliveries": self.deliveries,
            "last_error": self.last_error,
            "outputs": self.outputs.as_deref().map(|outputs| outputs.lines().collect::<Vec<_>>()),
            "download_url": link,
            "created_at": utc_time(self.created_at),
            "updated_at": utc_time(self.updated_at),
            "next_attempt_at": utc_time(self.next_attempt_at),
        })
    }
}

/// Unix milliseconds as UTC to the second (`2024-05-14T09:00:04Z`); the number itself when it
/// is out of range.
#[must_use]
pub fn utc_time(milliseconds: i64) -> String {
    jiff::Timestamp::from_millisecond(milliseconds).map_or_else(
        |_| milliseconds.to_string(),
        |time| time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// What a delivery should become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The webhook event.
    pub event: String,
    /// The session id.
    pub session_id: String,
    /// The meeting id.
    pub meeting_id: Option<String>,
    /// The download link.
    pub download_url: Option<String>,
    /// Its stated expiry.
    pub download_url_expiry: Option<String>,
    /// The session's start as the delivery stated it (`startedAt`), verbatim.
    pub started_at: Option<String>,
}

/// What the other jobs of a session say about it, for the job that renders its files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    /// Whether the session's `meeting.chatSynced` job is done: its dump is downloaded and its
    /// outputs were written.
    pub chat_done: bool,
    /// Every distinct start its deliveries stated (`startedAt`), verbatim, sorted.
    pub started_at: Vec<String>,
}

/// What recording a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new job.
    New(i64),
    /// The delivery uuid was seen before; nothing changed.
    DuplicateDelivery(i64),
    /// Another delivery already created the job for this (event, session); nothing changed
    /// except the delivery count.
    DuplicateEvent(i64),
    /// The job for this (event, session) had failed; it is queued again with the new link.
    Requeued(i64),
}

impl Recorded {
    /// The job the delivery belongs to.
    #[must_use]
    pub fn job_id(self) -> i64 {
        match self {
            Self::New(id)
            | Self::DuplicateDelivery(id)
            | Self::DuplicateEvent(id)
            | Self::Requeued(id) => id,
        }
    }
}

const JOB_COLUMNS: &str = "id, event, session_id, meeting_id, download_url, download_url_expiry, status, attempts, next_attempt_at, last_error, outputs, deliveries, created_at, updated_at, started_at";

fn job_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Job, String)> {
    let status: String = row.get(6)?;
    Ok((
        Job {
            id: row.get(0)?,
            event: row.get(1)?,
            session_id: row.get(2)?,
            meeting_id: row.get(3)?,
            download_url: row.get(4)?,
            download_url_expiry: row.get(5)?,
            status: JobStatus::Queued,
            attempts: row.get(7)?,
            next_attempt_at: row.get(8)?,
            last_error: row.get(9)?,
            outputs: row.get(10)?,
            deliveries: row.get(11)?,
            created_at: row.get(12)?,
            updated_at: row.get(13)?,
            started_at: row.get(14)?,
        },
        status,
    ))
}

fn finish_job((mut job, status): (Job, String)) -> Result<Job, StoreError> {
    job.status = status.parse()?;
    Ok(job)
}

/// The job database. Not `Sync`: share it behind a mutex.
#[derive(Debug)]
pub struct Store {
    connection: Connection,
}

impl Store {
    /// Opens (creating if needed) the database at `path`. Its directory must exist.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let connection = Connection::open(path).map_err(open_error)?;
        Self::set_up(connection).map_err(open_error)
    }

    /// Opens an existing database read-only (for `chatdump jobs`).
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Self { connection })
    }

    /// An in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let connection = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: ":memory:".into(),
            source,
        })?;
        Self::set_up(connection).map_err(|source| StoreError::Open {
            path: ":memory:".into(),
            source,
        })
    }

    fn set_up(connection: Connection) -> rusqlite::Result<Self> {
        connection.busy_timeout(Duration::from_secs(5))?;
        // WAL lets `chatdump jobs` read while the server writes; FULL makes every commit durable.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.execute_batch(SCHEMA)?;
        for (column, definition) in ADDED_COLUMNS {
            let present: bool = connection.query_row(
                "SELECT COUNT(*) > 0 FROM pragma_table_info('jobs') WHERE name = ?1",
                [column],
                |row| row.get(0),
            )?;
            if !present {
                connection.execute_batch(&format!(
                    "ALTER TABLE jobs ADD COLUMN {column} {definition}"
                ))?;
            }
        }
        Ok(Self { connection })
    }

    /// Records a delivery durably: a new job, or nothing new for a duplicate. `uuid` is the
    /// delivery uuid header, when there was one; `now` is Unix milliseconds.
    pub fn record(
        &mut self,
        uuid: Option<&str>,
        job: &NewJob,
        now: i64,
    ) -> Result<Recorded, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let Some(uuid) = uuid {
            let seen: Option<i64> = transaction
                .query_row(
                    "SELECT job_id FROM deliveries WHERE uuid = ?1",
                    [uuid],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(job_id) = seen {
                return Ok(Recorded::DuplicateDelivery(job_id));
            }
        }
        let existing: Option<(i64, String)> = transaction
            .query_row(
                "SELECT id, status FROM jobs WHERE event = ?1 AND session_id = ?2",
                params![job.event, job.session_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let recorded = match existing {
            None => {
                transaction.execute(
                    "INSERT INTO jobs (event, session_id, meeting_id, download_url, download_url_expiry, status, next_attempt_at, created_at, updated_at, started_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?6, ?6, ?7)",
                    params![
                        job.event,
                        job.session_id,
                        job.meeting_id,
                        job.download_url,
                        job.download_url_expiry,
                        now,
                        job.started_at
                    ],
                )?;
                Recorded::New(transaction.last_insert_rowid())
            }
            Some((id, status)) if status == JobStatus::Failed.as_str() => {
                // A new delivery of an event whose job gave up: it has exported nothing, so
                // trying again with the (possibly fresh) link cannot export twice.
                transaction.execute(
                    "UPDATE jobs SET status = 'queued', attempts = 0, next_attempt_at = ?2, last_error = NULL,
                         download_url = ?3, download_url_expiry = ?4, deliveries = deliveries + 1, updated_at = ?2,
                         started_at = COALESCE(?5, started_at)
                     WHERE id = ?1",
                    params![id, now, job.download_url, job.download_url_expiry, job.started_at],
                )?;
                Recorded::Requeued(id)
            }
            Some((id, _)) => {
                transaction.execute(
                    "UPDATE jobs SET deliveries = deliveries + 1, updated_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
                Recorded::DuplicateEvent(id)
            }
        };
        if let Some(uuid) = uuid {
            transaction.execute(
                "INSERT INTO deliveries (uuid, job_id, received_at) VALUES (?1, ?2, ?3)",
                params![uuid, recorded.job_id(), now],
            )?;
        }
        transaction.commit()?;
        Ok(recorded)
    }

    /// Puts every job a killed process left `running` back in the queue, due now. Returns them.
    pub fn requeue_running(&mut self, now: i64) -> Result<Vec<Job>, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let jobs = {
            let mut statement = transaction.prepare(&format!(
                "UPDATE jobs SET status = 'queued', next_attempt_at = ?1, updated_at = ?1
                 WHERE status = 'running' RETURNING {JOB_COLUMNS}"
            ))?;
            statement
                .query_map([now], job_from_row)?
                .collect::<Result<Vec<_>, _>>()?
        };
        transaction.commit()?;
        jobs.into_iter().map(finish_job).collect()
    }

    /// Takes the next due job (the one due longest ago) and marks it running, counting the
    /// attempt. `None` when no job is due. A job whose session has another job running waits:
    /// the jobs of one session write the same files, so they run one after the other.
    pub fn claim(&mut self, now: i64) -> Result<Option<Job>, StoreError> {
        let row = self
            .connection
            .query_row(
                &format!(
                    "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ?1
                     WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND next_attempt_at <= ?1
                                   AND session_id NOT IN (SELECT session_id FROM jobs WHERE status = 'running')
                                 ORDER BY next_attempt_at, id LIMIT 1)
                     RETURNING {JOB_COLUMNS}"
                ),
                [now],
                job_from_row,
            )
            .optional()?;
        row.map(finish_job).transpose()
    }

    /// When the next queued job is due (Unix milliseconds), if any job is queued.
    pub fn next_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.connection.query_row(
            "SELECT MIN(next_attempt_at) FROM jobs WHERE status = 'queued'",
            [],
            |row| row.get(0),
        )?)
    }

    /// Marks a running job done, with the files it wrote.
    pub fn complete(&mut self, id: i64, outputs: &[String], now: i64) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE jobs SET status = 'done', last_error = NULL, outputs = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, outputs.join("\n"), now],
        )?;
        Ok(())
    }

    /// Puts a running job back in the queue after a failed attempt, due at `next_attempt_at`.
    pub fn retry_later(
        &mut self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE jobs SET status = 'queued', last_error = ?2, next_attempt_at = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, error, next_attempt_at, now],
        )?;
        Ok(())
    }

    /// Puts a running job back in the queue without counting the attempt (shutdown interrupted
    /// it).
    pub fn release(&mut self, id: i64, now: i64) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE jobs SET status = 'queued', attempts = MAX(attempts - 1, 0), next_attempt_at = ?2, updated_at = ?2
             WHERE id = ?1 AND status = 'running'",
            params![id, now],
        )?;
        Ok(())
    }

    /// Marks a job failed for good, with its reason.
    pub fn fail(&mut self, id: i64, error: &str, now: i64) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE jobs SET status = 'failed', last_error = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, error, now],
        )?;
        Ok(())
    }

    /// After a job (`by`) rendered the outputs of `session_id`: each of its other parts' jobs
    /// (by event) that is done or failed becomes done when its part went into the outputs
    /// (`None`), or failed with the reason it was left out. Queued and running jobs are left
    /// alone: they render again themselves.
    pub fn settle_parts(
        &mut self,
        session_id: &str,
        by: i64,
        parts: &[(&str, Option<String>)],
        now: i64,
    ) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        for (event, reason) in parts {
            transaction.execute(
                "UPDATE jobs SET status = CASE WHEN ?4 IS NULL THEN 'done' ELSE 'failed' END,
                     last_error = ?4, updated_at = ?5
                 WHERE session_id = ?1 AND event = ?2 AND id != ?3 AND status IN ('done', 'failed')
                   AND (status != CASE WHEN ?4 IS NULL THEN 'done' ELSE 'failed' END
                        OR last_error IS NOT ?4)",
                params![session_id, event, by, reason, now],
            )?;
        }
        transaction.commit()?;
        Ok(())
    }

    /// Records the session's start on job `id` when it has none (from the API's session
    /// details), so that every later render of the session finds it.
    pub fn set_started_at(
        &mut self,
        id: i64,
        started_at: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE jobs SET started_at = ?2, updated_at = ?3 WHERE id = ?1 AND started_at IS NULL",
            params![id, started_at, now],
        )?;
        Ok(())
    }

    /// What the jobs of `session_id` say about it: whether its chat is done, and the starts
    /// its deliveries stated.
    pub fn session(&self, session_id: &str) -> Result<SessionState, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT event, status, started_at FROM jobs WHERE session_id = ?1")?;
        let rows = statement
            .query_map([session_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut state = SessionState::default();
        for (event, status, started_at) in rows {
            state.chat_done |=
                event == crate::payload::CHAT_SYNCED && status == JobStatus::Done.as_str();
            state.started_at.extend(started_at);
        }
        state.started_at.sort();
        state.started_at.dedup();
        Ok(state)
    }

    /// One job by id.
    pub fn job(&self, id: i64) -> Result<Option<Job>, StoreError> {
        self.connection
            .query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                [id],
                job_from_row,
            )
            .optional()?
            .map(finish_job)
            .transpose()
    }

    /// The most recently changed jobs, newest first, optionally only those with `status`.
    pub fn recent(&self, limit: u32, status: Option<JobStatus>) -> Result<Vec<Job>, StoreError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ?1 IS NULL OR status = ?1
             ORDER BY updated_at DESC, id DESC LIMIT ?2"
        ))?;
        statement
            .query_map(params![status.map(JobStatus::as_str), limit], job_from_row)?
            .map(|row| finish_job(row?))
            .collect()
    }

    /// How many jobs are in each status.
    pub fn counts(&self) -> Result<Vec<(JobStatus, u64)>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(status, count)| Ok((status.parse()?, u64::try_from(count).unwrap_or(0))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_job(session: &str) -> NewJob {
        NewJob {
            event: "meeting.chatSynced".into(),
            session_id: session.into(),
            meeting_id: Some("m".into()),
            download_url: Some("https://bucket.s3.amazonaws.com/x.csv".into()),
            download_url_expiry: None,
            started_at: None,
        }
    }

    #[test]
    fn one_job_per_session_runs_at_a_time_and_the_session_state_is_shared() {
        let mut store = Store::open_in_memory().unwrap();
        let chat = store.record(None, &new_job("s1"), 1).unwrap().job_id();
        let transcript = NewJob {
            event: crate::payload::TRANSCRIPT.into(),
            started_at: Some("2024-05-14T09:00:00Z".into()),
            ..new_job("s1")
        };
        let transcript = store.record(None, &transcript, 2).unwrap().job_id();
        let other = store.record(None, &new_job("s2"), 3).unwrap().job_id();
        assert_eq!(store.claim(10).unwrap().unwrap().id, chat);
        // The transcript of `s1` waits for its chat; `s2` does not.
        assert_eq!(store.claim(10).unwrap().unwrap().id, other);
        assert_eq!(store.claim(10).unwrap(), None);
        let state = store.session("s1").unwrap();
        assert_eq!(
            state,
            SessionState {
                chat_done: false,
                started_at: vec!["2024-05-14T09:00:00Z".into()],
            }
        );
        store.complete(chat, &[], 11).unwrap();
        assert!(store.session("s1").unwrap().chat_done);
        assert_eq!(store.claim(12).unwrap().unwrap().id, transcript);
        assert_eq!(
            store
                .job(transcript)
                .unwrap()
                .unwrap()
                .started_at
                .as_deref(),
            Some("2024-05-14T09:00:00Z")
        );
    }

    #[test]
    fn a_render_settles_the_other_parts_jobs() {
        let mut store = Store::open_in_memory().unwrap();
        let part = |event: &str| NewJob {
            event: event.into(),
            ..new_job("s1")
        };
        let transcript = store
            .record(None, &part(crate::payload::TRANSCRIPT), 1)
            .unwrap()
            .job_id();
        let summary = store
            .record(None, &part(crate::payload::SUMMARY), 1)
            .unwrap()
            .job_id();
        let chat = store.record(None, &new_job("s1"), 1).unwrap().job_id();
        // The transcript was stored (done); the summary is still queued.
        let _ = store.claim(1).unwrap().unwrap();
        store.complete(transcript, &[], 2).unwrap();
        let parts = [
            (
                crate::payload::TRANSCRIPT,
                Some("needs the start".to_owned()),
            ),
            (crate::payload::SUMMARY, None),
        ];
        store.settle_parts("s1", chat, &parts, 3).unwrap();
        let job = store.job(transcript).unwrap().unwrap();
        assert_eq!(
            (job.status, job.last_error.as_deref()),
            (JobStatus::Failed, Some("needs the start"))
        );
        assert_eq!(
            store.job(summary).unwrap().unwrap().status,
            JobStatus::Queued,
            "a queued job renders itself"
        );
        // A later render that used it marks it done.
        store
            .settle_parts("s1", chat, &[(crate::payload::TRANSCRIPT, None)], 4)
            .unwrap();
        let job = store.job(transcript).unwrap().unwrap();
        assert_eq!((job.status, job.last_error), (JobStatus::Done, None));
        assert_eq!(job.updated_at, 4);
    }

    #[test]
    fn a_database_of_the_first_release_gets_the_new_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite3");
        {
            let connection = Connection::open(&path).unwrap();
            // The first release's tables (`SCHEMA`; later columns are in `ADDED_COLUMNS`),
            // with a job in them.
            connection.execute_batch(SCHEMA).unwrap();
            connection
                .execute(
                    "INSERT INTO jobs (event, session_id, status, next_attempt_at, created_at, updated_at)
                     VALUES ('meeting.chatSynced', 's1', 'done', 1, 1, 1)",
                    [],
                )
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let job = store.recent(10, None).unwrap().remove(0);
        assert_eq!((job.session_id.as_str(), job.started_at), ("s1", None));
        drop(store);
        // Opening again adds nothing twice.
        Store::open(&path).unwrap();
    }

    #[test]
    fn duplicates_add_nothing() {
        let mut store = Store::open_in_memory().unwrap();
        let first = store.record(Some("u1"), &new_job("s1"), 1).unwrap();
        assert!(matches!(first, Recorded::New(_)));
        assert_eq!(
            store.record(Some("u1"), &new_job("s1"), 2).unwrap(),
            Recorded::DuplicateDelivery(first.job_id())
        );
        assert_eq!(
            store.record(Some("u2"), &new_job("s1"), 3).unwrap(),
            Recorded::DuplicateEvent(first.job_id())
        );
        assert_eq!(
            store.record(None, &new_job("s1"), 3).unwrap(),
            Recorded::DuplicateEvent(first.job_id())
        );
        let jobs = store.recent(10, None).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].deliveries, 3);
    }

    #[test]
    fn lifecycle_and_recovery() {
        let mut store = Store::open_in_memory().unwrap();
        let id = store.record(None, &new_job("s1"), 10).unwrap().job_id();
        assert_eq!(store.claim(5).unwrap(), None, "not due yet");
        let job = store.claim(10).unwrap().unwrap();
        assert_eq!(
            (job.id, job.status, job.attempts),
            (id, JobStatus::Running, 1)
        );
        assert_eq!(store.claim(10).unwrap(), None, "already taken");
        store.retry_later(id, "boom", 100, 20).unwrap();
        assert_eq!(store.next_due().unwrap(), Some(100));
        let job = store.claim(100).unwrap().unwrap();
        assert_eq!(job.attempts, 2);
        // A crash here leaves the job running; the next start requeues it.
        let requeued = store.requeue_running(200).unwrap();
        assert_eq!(requeued.len(), 1);
        let job = store.claim(200).unwrap().unwrap();
        store.fail(job.id, "gave up", 300).unwrap();
        let job = store.job(id).unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.last_error.as_deref(), Some("gave up"));
        // A new delivery of the failed event queues it again.
        assert_eq!(
            store.record(Some("u9"), &new_job("s1"), 400).unwrap(),
            Recorded::Requeued(id)
        );
        let job = store.claim(400).unwrap().unwrap();
        assert_eq!(job.attempts, 1);
        store.complete(id, &["a.jsonl".into()], 500).unwrap();
        assert_eq!(store.counts().unwrap(), vec![(JobStatus::Done, 1)]);
    }
}
