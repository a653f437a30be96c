//! What may be fetched, and how: caps, timeouts, retries, and the rules a link must pass.

use std::fmt;
use std::net::Ipv6Addr;
use std::time::Duration;

use reqwest::Url;

use chatdump_api::RetryPolicy;
use chatdump_api::allow::HostPattern;
use chatdump_api::guard::AddressGuard;
use chatdump_core::escape::escape_for_terminal;

/// How [`fetch_all`](crate::fetch_all) fetches.
#[derive(Debug, Clone)]
pub struct MediaOptions {
    /// The largest file fetched, in bytes (default 25 MiB). A larger one fails, whether its
    /// `Content-Length` says so or its body grows past the cap.
    pub max_file_bytes: u64,
    /// The most bytes fetched in all (default 1 GiB), counted in URL order: the link that would
    /// take the total past the cap, and every link after it, fail.
    pub max_total_bytes: u64,
    /// Downloads at once (default 4; 0 counts as 1).
    pub concurrency: usize,
    /// The longest wait for a TCP and TLS connection (default 10 s).
    pub connect_timeout: Duration,
    /// The longest wait for the response headers or the next piece of the body (default 30 s).
    pub read_timeout: Duration,
    /// Retries of connection failures, timeouts, HTTP 408, 429 and 5xx (default: 4 attempts,
    /// 500 ms backoff base, 5 min per link). 403, 404 and the other statuses are final.
    pub retry: RetryPolicy,
    /// When not empty, the only hosts links (and their redirects) may lead to. IP literals
    /// match no pattern.
    pub allowed_hosts: Vec<HostPattern>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// FOR TESTS ONLY: the one `HOST:PORT` that may be fetched over plain `http` and may be an
    /// internal address ([`allow_insecure_host`](Self::allow_insecure_host)).
    pub insecure_host: Option<InsecureHost>,
}

/// FOR TESTS ONLY: an exact `HOST:PORT` that media may be fetched from over plain `http`, even
/// though it is an internal address. Any other port of that host stays refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsecureHost {
    /// The host, lower-case, an `IPv6` address without brackets.
    host: String,
    port: u16,
}

impl InsecureHost {
    /// Parses `HOST:PORT` (`127.0.0.1:8787`, `[::1]:8080`).
    pub fn parse(host_port: &str) -> Result<Self, String> {
        // The guard's parser says what a valid HOST:PORT is.
        AddressGuard::new().allow(host_port)?;
        let text = host_port.trim();
        let (host, port) = text.rsplit_once(':').unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|host| host.strip_suffix(']'))
            .unwrap_or(host)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let host = host.parse::<Ipv6Addr>().map_or(host, |ip| ip.to_string());
        let port = port.parse().map_err(|_| "not a port".to_owned())?;
        Ok(Self { host, port })
    }
}

impl fmt::Display for InsecureHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Default for MediaOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: 25 << 20,
            max_total_bytes: 1 << 30,
            concurrency: 4,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            allowed_hosts: Vec::new(),
            user_agent: concat!("chatdump/", env!("CARGO_PKG_VERSION")).to_owned(),
            insecure_host: None,
        }
    }
}

/// A URL's host (an `IPv6` address without brackets, lower-case, no final dot) and port.
fn host_port(url: &Url) -> Option<(String, u16)> {
    let host = url.host_str()?;
    let host = match host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .and_then(|host| host.parse::<Ipv6Addr>().ok())
    {
        Some(ip) => ip.to_string(),
        None => host.trim_end_matches('.').to_ascii_lowercase(),
    };
    Some((host, url.port_or_known_default()?))
}

impl MediaOptions {
    /// FOR TESTS ONLY: allows plain `http` to exactly `host_port` (`127.0.0.1:8787`), even
    /// though it is an internal address ([`InsecureHost`]).
    pub fn allow_insecure_host(mut self, host_port: &str) -> Result<Self, String> {
        self.insecure_host = Some(InsecureHost::parse(host_port)?);
        Ok(self)
    }

    /// The guard against internal addresses: strict, but for the insecure host.
    pub(crate) fn address_guard(&self) -> AddressGuard {
        let guard = AddressGuard::new();
        match &self.insecure_host {
            Some(host) => guard.clone().allow(&host.to_string()).unwrap_or(guard),
            None => guard,
        }
    }

    /// The rules every link and every redirect must pass before the address guard.
    pub(crate) fn rules(&self) -> Rules {
        Rules {
            hosts: self.allowed_hosts.clone(),
            insecure: self.insecure_host.clone(),
        }
    }

    /// The HTTP client: HTTP/1.1 over rustls, the guard's resolver, redirects checked by the
    /// guard and the rules, no `Referer` (it would carry the link's signature to the next
    /// host), no cookies, no default headers.
    pub(crate) fn client(&self) -> Result<reqwest::Client, reqwest::Error> {
        // `Err` means a provider is already installed, which is all that is needed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let guard = self.address_guard();
        let rules = self.rules();
        reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .user_agent(self.user_agent.clone())
            .referer(false)
            .dns_resolver(guard.resolver())
            .redirect(guard.redirect_policy(10, move |url| rules.check(url)))
            .build()
            .map_err(reqwest::Error::without_url)
    }
}

/// The scheme, user-info and host rules of [`MediaOptions`].
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    hosts: Vec<HostPattern>,
    insecure: Option<InsecureHost>,
}

impl Rules {
    /// Checks a link or a redirect's target; the reason names the host, never the path or query.
    pub(crate) fn check(&self, url: &Url) -> Result<(), String> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a link with user info is refused".into());
        }
        let Some((host, port)) = host_port(url) else {
            return Err(format!(
                "a `{}` link is refused (https only)",
                escape_for_terminal(url.scheme(), 20)
            ));
        };
        let shown = escape_for_terminal(url.host_str().unwrap_or_default(), 100);
        if let Some(insecure) = &self.insecure
            && insecure.host == host
        {
            // The test host: exactly its port, over http or https.
            return if port == insecure.port && matches!(url.scheme(), "http" | "https") {
                Ok(())
            } else {
                Err(format!("port {port} of `{shown}` is refused"))
            };
        }
        if url.scheme() != "https" {
            return Err(format!(
                "plain `{}` to `{shown}:{port}` is refused (https only)",
                escape_for_terminal(url.scheme(), 20)
            ));
        }
        if self.hosts.is_empty() {
            return Ok(());
        }
        match url.domain() {
            Some(_) if self.hosts.iter().any(|pattern| pattern.matches(&host)) => Ok(()),
            _ => Err(format!(
                "the host `{shown}` is not on the allowed media hosts"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(options: &MediaOptions, url: &str) -> Result<(), String> {
        options.rules().check(&url.parse().unwrap())
    }

    #[test]
    fn https_only_and_the_exact_insecure_host() {
        let options = MediaOptions::default()
            .allow_insecure_host("127.0.0.1:8787")
            .unwrap();
        assert_eq!(
            options
                .insecure_host
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("127.0.0.1:8787")
        );
        assert!(check(&options, "https://cdn.example.com/a.png?sig=x").is_ok());
        assert!(check(&options, "http://127.0.0.1:8787/media/a.png").is_ok());
        let refused = check(&options, "http://127.0.0.1:8788/a.png?X-Amz-Signature=s").unwrap_err();
        assert_eq!(refused, "port 8788 of `127.0.0.1` is refused");
        let refused = check(&options, "http://localhost:8787/a.png?sig=s").unwrap_err();
        assert_eq!(
            refused,
            "plain `http` to `localhost:8787` is refused (https only)"
        );
        assert!(check(&options, "ftp://cdn.example.com/a.png").is_err());
        assert!(check(&options, "data:image/png;base64,AAAA").is_err());
        assert!(check(&options, "https://user:pw@cdn.example.com/a.png").is_err());
        assert!(
            MediaOptions::default()
                .allow_insecure_host("127.0.0.1")
                .is_err()
        );
        let v6 = MediaOptions::default()
            .allow_insecure_host("[::1]:80")
            .unwrap();
        assert_eq!(
            v6.insecure_host
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("[::1]:80")
        );
        assert!(check(&v6, "http://[::1]/a.png").is_ok());
    }

    #[test]
    fn the_allow_list_narrows_hosts() {
        let options = MediaOptions {
            allowed_hosts: vec![HostPattern::parse("*.cdn.example.com").unwrap()],
            ..MediaOptions::default()
        };
        assert!(check(&options, "https://a.cdn.example.com/x.png").is_ok());
        assert_eq!(
            check(&options, "https://evil.example.net/x.png?sig=1").unwrap_err(),
            "the host `evil.example.net` is not on the allowed media hosts"
        );
        assert!(check(&options, "https://8.8.8.8/x.png").is_err());
    }
}
