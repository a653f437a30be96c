//! Fault injection: the session id picks what goes wrong.
//!
//! The part of a session id before `--` names a scenario (`reset-once--run42` is `reset-once`
//! for session `reset-once--run42`); any other id is served normally. "Once" faults happen on
//! the first request of that kind for the session, then the server behaves.

/// What the server does for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Everything works.
    Normal,
    /// The API answers 500 once.
    Api500Once,
    /// The API answers 429 with `Retry-After: 1` once.
    Api429Once,
    /// The API answers 429 with `Retry-After` as an HTTP date one second ahead, once.
    Api429Date,
    /// The API always answers 429 with `Retry-After: 1`.
    Api429Always,
    /// The API answers 429 with `Retry-After: 3600`.
    Api429Long,
    /// The API answers 200 with a body that is not JSON.
    ApiBadJson,
    /// The API answers 200 with an empty body.
    ApiEmpty,
    /// The API answers 200 with `success: false`.
    ApiSuccessFalse,
    /// The API answers 404: no chat for this session.
    NotFound,
    /// The API uses camelCase names (`chatDownloadUrl`, `chatDownloadUrlExpiry`).
    CamelCase,
    /// The first link has already expired (both by its stated expiry and at the storage).
    ExpiredLinkOnce,
    /// The first link expires in two seconds.
    ExpiringLinkOnce,
    /// The first link states a normal expiry, but the storage refuses it with 403.
    RevokedLinkOnce,
    /// Every link is refused by the storage with 403.
    RevokedLinkAlways,
    /// The storage answers 500 once.
    Download500Once,
    /// The storage answers 503 with `Retry-After: 1` once.
    Download503Once,
    /// The storage resets the connection halfway through the body once (ranges supported).
    ResetOnce,
    /// The same without range support: the client must restart.
    ResetNoRangeOnce,
    /// Like `ResetOnce`, but the object's `ETag` changes, so a guarded resume gets 412.
    EtagChangedOnce,
    /// The storage resets the connection halfway through every time.
    ResetAlways,
    /// The body stops at a record boundary, short of a correct `Content-Length`, once.
    TruncatedOnce,
    /// The same on every request.
    TruncatedAlways,
    /// `Content-Length` lies: it matches a body cut at a record boundary; only the `ETag` (MD5
    /// of the whole object) tells.
    LyingLength,
    /// The body comes slowly in small pieces, each well within the read timeout.
    Slow,
    /// The body stalls halfway (longer than any test's read timeout) once.
    StallOnce,
    /// The storage answers 200 with an empty body.
    EmptyBody,
    /// The object is encrypted with SSE-KMS: its `ETag` looks like an MD5 but is not one.
    KmsEtag,
    /// The link names the host `localhost` (which resolves to a loopback address) in place of
    /// `127.0.0.1`.
    LinkLocalhost,
    /// The storage, asked at `127.0.0.1`, redirects (302) to the same link at `localhost`.
    RedirectLocalhost,
    /// The dump also has image and file messages linking to the server's own `/media/*`
    /// ([`crate::media::media_csv`]).
    Media,
    /// The chat and the summary, but no speech transcript (404).
    NoTranscript,
    /// The chat and the transcript, but no summary (404).
    NoSummary,
    /// The chat alone: transcript and summary answer 404.
    NoParts,
    /// The transcript CSV comes without its header line, its first column milliseconds from
    /// the session's start.
    HeaderlessTranscript,
}

impl Scenario {
    /// Every scenario with its name.
    pub const ALL: [(&'static str, Self); 35] = [
        ("ok", Self::Normal),
        ("api-500-once", Self::Api500Once),
        ("api-429-once", Self::Api429Once),
        ("api-429-date", Self::Api429Date),
        ("api-429-always", Self::Api429Always),
        ("api-429-long", Self::Api429Long),
        ("api-bad-json", Self::ApiBadJson),
        ("api-empty", Self::ApiEmpty),
        ("api-success-false", Self::ApiSuccessFalse),
        ("not-found", Self::NotFound),
        ("camel-case", Self::CamelCase),
        ("expired-link-once", Self::ExpiredLinkOnce),
        ("expiring-link-once", Self::ExpiringLinkOnce),
        ("revoked-link-once", Self::RevokedLinkOnce),
        ("revoked-link-always", Self::RevokedLinkAlways),
        ("download-500-once", Self::Download500Once),
        ("download-503-once", Self::Download503Once),
        ("reset-once", Self::ResetOnce),
        ("reset-norange-once", Self::ResetNoRangeOnce),
        ("etag-changed-once", Self::EtagChangedOnce),
        ("reset-always", Self::ResetAlways),
        ("truncated-once", Self::TruncatedOnce),
        ("truncated-always", Self::TruncatedAlways),
        ("lying-length", Self::LyingLength),
        ("slow", Self::Slow),
        ("stall-once", Self::StallOnce),
        ("empty-body", Self::EmptyBody),
        ("kms-etag", Self::KmsEtag),
        ("link-localhost", Self::LinkLocalhost),
        ("redirect-localhost", Self::RedirectLocalhost),
        ("media", Self::Media),
        ("no-transcript", Self::NoTranscript),
        ("no-summary", Self::NoSummary),
        ("no-parts", Self::NoParts),
        ("headerless-transcript", Self::HeaderlessTranscript),
    ];

    /// The scenario a session id selects.
    #[must_use]
    pub fn for_session(session_id: &str) -> Self {
        let name = session_id.split("--").next().unwrap_or(session_id);
        Self::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map_or(Self::Normal, |(_, scenario)| *scenario)
    }

    /// Whether the storage supports byte ranges for this scenario.
    #[must_use]
    pub fn supports_ranges(self) -> bool {
        self != Self::ResetNoRangeOnce
    }
}
