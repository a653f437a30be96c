//! When and how long to wait before trying again: jittered exponential backoff, `Retry-After`,
//! and the bounds on attempts and total time.

use std::time::Duration;

use jiff::Timestamp;

use crate::GaveUp;

/// How failed requests are retried.
///
/// Connection errors, timeouts, resets mid-body, HTTP 408, 429 and 5xx are retried; other errors
/// are not. The wait before retry `n` (1-based) is "full jitter" (as in the AWS SDKs): a random
/// duration in `[0, min(initial_delay * 2^(n-1), max_delay))`, or the server's `Retry-After`
/// when it sent one, which must not exceed `max_retry_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included (so 1 means no retry).
    pub max_attempts: u32,
    /// The backoff base.
    pub initial_delay: Duration,
    /// The largest backoff between two attempts.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a server asking for more ends the retries at once
    /// (failing fast beats sleeping through a nightly job's window).
    pub max_retry_after: Duration,
    /// The budget for one session's whole fetch (API calls, waits and download); no retry starts
    /// once it is spent. A download that is progressing is never cut by it.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
            max_total: Duration::from_secs(300),
        }
    }
}

/// Why no further attempt is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// `max_attempts` reached.
    Attempts,
    /// The next wait would go past `max_total`.
    Budget,
    /// The server asked to wait longer than `max_retry_after`.
    RetryAfterTooLong(Duration),
}

impl RetryPolicy {
    /// The wait before attempt `failed_attempts + 1`, or why there is none.
    pub(crate) fn next_delay(
        &self,
        failed_attempts: u32,
        retry_after: Option<Duration>,
        elapsed: Duration,
    ) -> Result<Duration, GiveUp> {
        if failed_attempts >= self.max_attempts {
            return Err(GiveUp::Attempts);
        }
        let delay = match retry_after {
            Some(wait) if wait > self.max_retry_after => {
                return Err(GiveUp::RetryAfterTooLong(wait));
            }
            Some(wait) => wait,
            None => self.backoff(failed_attempts),
        };
        if elapsed.saturating_add(delay) > self.max_total {
            return Err(GiveUp::Budget);
        }
        Ok(delay)
    }

    /// The wait before the next attempt after `failed_attempts` failed ones, `elapsed` into the
    /// budget, honouring the server's `retry_after`; or why no further attempt is made. For retry
    /// loops outside this crate (media downloads).
    pub fn delay_after(
        &self,
        failed_attempts: u32,
        retry_after: Option<Duration>,
        elapsed: Duration,
    ) -> Result<Duration, GaveUp> {
        self.next_delay(failed_attempts, retry_after, elapsed)
            .map_err(|give_up| match give_up {
                GiveUp::Attempts => GaveUp::Attempts(failed_attempts),
                GiveUp::Budget => GaveUp::Budget(self.max_total),
                GiveUp::RetryAfterTooLong(wait) => GaveUp::RetryAfter(wait),
            })
    }

    /// Full-jitter exponential backoff after `failed_attempts` failures (at least 1).
    fn backoff(&self, failed_attempts: u32) -> Duration {
        let exponent = failed_attempts.saturating_sub(1).min(30);
        let ceiling = self
            .initial_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// Parses a `Retry-After` value: delay seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), measured from `now`. A date in the past means no wait.
pub(crate) fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let wait = date.duration_since(now);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now: Timestamp = "2015-10-21T07:27:50Z".parse().unwrap();
        assert_eq!(parse_retry_after("4", now), Some(Duration::from_secs(4)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            max_retry_after: Duration::from_secs(2),
            max_total: Duration::from_secs(60),
        };
        for failures in 1..10 {
            let delay = policy.next_delay(failures, None, Duration::ZERO).unwrap();
            assert!(delay < Duration::from_millis(400), "{delay:?}");
        }
        assert_eq!(
            policy.next_delay(10, None, Duration::ZERO),
            Err(GiveUp::Attempts)
        );
        assert_eq!(
            policy.next_delay(1, Some(Duration::from_secs(1)), Duration::ZERO),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(
            policy.next_delay(1, Some(Duration::from_secs(3)), Duration::ZERO),
            Err(GiveUp::RetryAfterTooLong(Duration::from_secs(3)))
        );
        assert_eq!(
            policy.next_delay(1, Some(Duration::from_secs(1)), Duration::from_secs(60)),
            Err(GiveUp::Budget)
        );
    }

    #[test]
    fn public_delays_say_why_they_gave_up() {
        let policy = RetryPolicy {
            max_attempts: 2,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
            max_retry_after: Duration::from_secs(2),
            max_total: Duration::from_secs(5),
        };
        assert!(policy.delay_after(1, None, Duration::ZERO).is_ok());
        assert_eq!(
            policy.delay_after(2, None, Duration::ZERO),
            Err(GaveUp::Attempts(2))
        );
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(9)), Duration::ZERO),
            Err(GaveUp::RetryAfter(Duration::from_secs(9)))
        );
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(1)), Duration::from_secs(5)),
            Err(GaveUp::Budget(Duration::from_secs(5)))
        );
    }
}
