//! Paging through a list route whose paging rules are not settled (`dyte-api.md` §4), and the
//! client-side rate limit every API call goes through.
//!
//! The rules, robust to every shape seen:
//!
//! - page 1 is asked for first. Whether it was the first page is told by `paging.start_offset`
//!   (0 for a 1-based server, `per_page` for a 0-based one); without `paging`, page 0 is asked
//!   for as well: if it holds other items than page 1, the server is 0-based and page 0 comes
//!   first; if it repeats page 1 (a server that clamps) or is refused, the server is 1-based;
//! - the listing ends at an empty page, at a page short of `per_page` (unless `total_count`
//!   says more items remain, as when a server caps `per_page`), or when `paging` says the end
//!   is reached (`start_offset + items >= total_count`, or `end_offset >= total_count`);
//! - items already seen are dropped (pages can shift while sessions are being created), and a
//!   page made only of items already seen ends the listing with an error rather than loop.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chatdump_api::FetchError;
use chatdump_api::sessions::{Page, Paging};
use futures_util::future::BoxFuture;
use std::sync::Mutex;

use tokio::time::Instant;

use crate::BulkError;

/// The most pages one listing reads (100 million sessions at 100 a page).
const MAX_PAGES: u32 = 1_000_000;

/// Paces API calls to at most a given number per minute, shared by every task; a 429 seen by
/// one task pauses them all for its `Retry-After`.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RateLimiter {
    /// A limiter allowing `per_minute` calls a minute (0 means no limit).
    #[must_use]
    pub fn per_minute(per_minute: u32) -> Self {
        let interval = if per_minute == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(60) / per_minute
        };
        Self {
            interval,
            next: Mutex::new(None),
        }
    }

    /// Waits for the next free slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = lock(&self.next);
            let now = Instant::now();
            let slot = next.map_or(now, |next| next.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Holds every call back for `wait` from now (the server said `Retry-After`).
    pub fn pause(&self, wait: Duration) {
        let mut next = lock(&self.next);
        let until = Instant::now() + wait;
        *next = Some(next.map_or(until, |next| next.max(until)));
    }
}

/// Fetches one page: `page_no` and `per_page` in, a page or the API's error out.
pub(crate) type FetchPage<T> =
    Box<dyn Fn(u32, u32) -> BoxFuture<'static, Result<Page<T>, FetchError>> + Send + Sync>;

/// A listing in progress.
pub(crate) struct Lister<T> {
    fetch: FetchPage<T>,
    id_of: fn(&T) -> &str,
    limiter: Arc<RateLimiter>,
    per_page: u32,
    /// The next page to ask for; `None` before the first.
    next_page: Option<u32>,
    /// A page fetched ahead while probing (page 1 when page 0 came first).
    ahead: Option<Page<T>>,
    done: bool,
    seen: HashSet<String>,
    /// Items seen so far, counting from the start of the listing (for `total_count`).
    offset: u64,
    /// `total_count` from the last page that had one.
    pub(crate) total: Option<u64>,
}

impl<T> Lister<T> {
    pub(crate) fn new(
        fetch: FetchPage<T>,
        id_of: fn(&T) -> &str,
        limiter: Arc<RateLimiter>,
        per_page: u32,
    ) -> Self {
        Self {
            fetch,
            id_of,
            limiter,
            per_page: per_page.max(1),
            next_page: None,
            ahead: None,
            done: false,
            seen: HashSet::new(),
            offset: 0,
            total: None,
        }
    }

    async fn page(&self, page_no: u32) -> Result<Page<T>, FetchError> {
        self.limiter.acquire().await;
        (self.fetch)(page_no, self.per_page).await
    }

    /// The next page's new items; `None` at the end.
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<T>>, BulkError> {
        if self.done {
            return Ok(None);
        }
        let page = match (self.next_page, self.ahead.take()) {
            (_, Some(page)) => page,
            (Some(page_no), None) => {
                if page_no > MAX_PAGES {
                    self.done = true;
                    return Err(BulkError::Paging(format!(
                        "more than {MAX_PAGES} pages; stopped"
                    )));
                }
                self.next_page = Some(page_no + 1);
                self.page(page_no).await.map_err(BulkError::Listing)?
            }
            (None, None) => self.first().await?,
        };
        self.accept(page)
    }

    /// Reads the first page, finding out whether pages count from 0 or 1.
    async fn first(&mut self) -> Result<Page<T>, BulkError> {
        let one = self.page(1).await.map_err(BulkError::Listing)?;
        self.next_page = Some(2);
        // Whether page 1 may have a page before it: `paging` tells when present (a 1-based
        // server's page 1 starts at offset 0); otherwise page 0 must be looked at.
        let maybe_before = match one.paging {
            Some(Paging {
                start_offset: Some(start),
                ..
            }) if !one.items.is_empty() => start > 0,
            Some(Paging {
                total_count: Some(total),
                ..
            }) if one.items.is_empty() => total > 0,
            _ => true,
        };
        if !maybe_before {
            return Ok(one);
        }
        match self.page(0).await {
            Ok(zero) => {
                let id_of = self.id_of;
                let first_id =
                    |page: &Page<T>| page.items.first().map(|item| id_of(item).to_owned());
                if !zero.items.is_empty() && first_id(&zero) != first_id(&one) {
                    self.ahead = Some(one);
                    Ok(zero)
                } else {
                    // Page 0 repeats page 1 (a server that clamps) or is empty: 1-based.
                    Ok(one)
                }
            }
            // A server that refuses page 0 counts from 1.
            Err(FetchError::Status {
                status: 400 | 404 | 422,
                ..
            }) => Ok(one),
            Err(error) => Err(BulkError::Listing(error)),
        }
    }

    fn accept(&mut self, page: Page<T>) -> Result<Option<Vec<T>>, BulkError> {
        let count = page.items.len() as u64;
        if let Some(total) = page.paging.and_then(|paging| paging.total_count) {
            self.total = Some(total);
        }
        let start = page
            .paging
            .and_then(|paging| paging.start_offset)
            .unwrap_or(self.offset);
        self.offset = start + count;
        let reached_total = |total: u64| {
            start + count >= total
                || page
                    .paging
                    .and_then(|paging| paging.end_offset)
                    .is_some_and(|end| end >= total)
        };
        let short = count < u64::from(self.per_page);
        self.done = count == 0
            || match self.total {
                Some(total) => reached_total(total),
                None => short,
            };
        if self.ahead.is_some() {
            // Page 0 of a 0-based server: page 1, already fetched, follows.
            self.done = false;
        }
        let mut fresh = Vec::with_capacity(page.items.len());
        for item in page.items {
            if self.seen.insert((self.id_of)(&item).to_owned()) {
                fresh.push(item);
            }
        }
        if fresh.is_empty() && count > 0 && !self.done {
            self.done = true;
            return Err(BulkError::Paging(
                "a page repeated items already listed (the server may ignore `page_no`)".into(),
            ));
        }
        Ok(Some(fresh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake server: `total` items `i0..`, pages of at most `cap`, counting from `first`, with
    /// `paging` or not; a 1-based server answers page 0 like page 1.
    fn server(total: u32, cap: u32, first: u32, paging: bool) -> FetchPage<String> {
        Box::new(move |page_no, per_page| {
            let per_page = per_page.min(cap);
            let index = page_no.saturating_sub(first);
            let start = index * per_page;
            let items: Vec<String> = (start..total.min(start + per_page))
                .map(|i| format!("i{i}"))
                .collect();
            let paging = paging.then_some(Paging {
                total_count: Some(u64::from(total)),
                start_offset: Some(u64::from(start)),
                end_offset: Some(u64::from(start + items.len() as u32).saturating_sub(1)),
            });
            Box::pin(async move { Ok(Page { items, paging }) })
        })
    }

    async fn all(fetch: FetchPage<String>, per_page: u32) -> Vec<String> {
        let mut lister = Lister::new(
            fetch,
            String::as_str,
            Arc::new(RateLimiter::per_minute(0)),
            per_page,
        );
        let mut out = Vec::new();
        while let Some(items) = lister.next().await.unwrap() {
            out.extend(items);
        }
        out
    }

    #[tokio::test]
    async fn the_limiter_paces_and_pauses() {
        let limiter = RateLimiter::per_minute(1200);
        let started = std::time::Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        // Five calls at 50 ms intervals: the last starts 200 ms after the first.
        assert!(started.elapsed() >= Duration::from_millis(200));
        limiter.pause(Duration::from_millis(300));
        let paused = std::time::Instant::now();
        limiter.acquire().await;
        assert!(paused.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn every_paging_shape_lists_everything_once() {
        let expected = |n: u32| (0..n).map(|i| format!("i{i}")).collect::<Vec<_>>();
        for first in [0, 1] {
            for paging in [true, false] {
                for total in [0, 1, 9, 10, 11, 25] {
                    let got = all(server(total, 100, first, paging), 10).await;
                    assert_eq!(
                        got,
                        expected(total),
                        "first={first} paging={paging} total={total}"
                    );
                }
                // A server capping per_page below what was asked: only `paging` can tell.
                if paging {
                    let got = all(server(25, 5, first, paging), 10).await;
                    assert_eq!(got, expected(25), "capped, first={first}");
                }
            }
        }
    }
}
