//! Which download links the receiver may follow (SSRF protection).
//!
//! `chatDownloadUrl` arrives inside the request. Even with a valid signature the receiver does
//! not dereference it blindly: it must be `https`, on the default port, with no user info, and
//! its host must match one of the allowed host patterns (by default the AWS S3 endpoints the
//! providers' presigned links use). IP literals never match a pattern, so metadata addresses
//! (`169.254.169.254`, `[fd00:ec2::254]`), loopback and private addresses are refused, as are
//! `file:`, `http:` and every other scheme. Redirects are checked against the same policy.
//!
//! For tests against a local plain-HTTP storage server there is one escape hatch,
//! [`DownloadPolicy::allow_insecure`]: an exact `host:port` that may be fetched over `http`.
//! It exists for testing only and must not be used in production.

use std::fmt;

use reqwest::Url;

use crate::guard::AddressGuard;

/// The default allowed hosts: the AWS S3 endpoint forms (global, regional, dualstack,
/// virtual-hosted and path-style).
pub const DEFAULT_ALLOWED_HOSTS: &[&str] = &[
    "s3.amazonaws.com",
    "*.s3.amazonaws.com",
    "s3.*.amazonaws.com",
    "*.s3.*.amazonaws.com",
    "s3-*.amazonaws.com",
    "*.s3-*.amazonaws.com",
    "s3.dualstack.*.amazonaws.com",
    "*.s3.dualstack.*.amazonaws.com",
];

/// Why a link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// Not a URL.
    #[error("the download link is not a URL")]
    NotUrl,
    /// A scheme other than https.
    #[error("the download link's scheme `{0}` is not allowed (https only)")]
    Scheme(String),
    /// User info in the URL.
    #[error("the download link carries user info")]
    UserInfo,
    /// An IP address instead of a host name.
    #[error("the download link's host `{0}` is an IP address")]
    IpAddress(String),
    /// A host that matches no pattern.
    #[error("the download link's host `{0}` is not on the allowed list")]
    Host(String),
    /// A port other than 443.
    #[error("the download link's port `{0}` is not allowed")]
    Port(u16),
}

/// A host pattern: labels separated by dots, where a `*` label matches exactly one label, and
/// a leading `*` matches one or more (bucket names may contain dots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    labels: Vec<String>,
}

impl HostPattern {
    /// Parses a pattern such as `*.s3.amazonaws.com`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_end_matches('.').to_ascii_lowercase();
        if text.is_empty() {
            return Err("an empty host pattern".into());
        }
        let labels: Vec<String> = text.split('.').map(str::to_owned).collect();
        for label in &labels {
            let valid = label == "*"
                || (!label.is_empty()
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*'));
            if !valid {
                return Err(format!(
                    "`{}` is not a host pattern",
                    chatdump_core::escape::escape_for_terminal(&text, 80)
                ));
            }
        }
        // A pattern must pin at least the registrable domain: `*.com` or `*` would allow anything.
        if labels.iter().filter(|label| !label.contains('*')).count() < 2 {
            return Err(format!(
                "`{text}` is too broad: name at least two fixed labels, like `*.s3.amazonaws.com`"
            ));
        }
        Ok(Self { labels })
    }

    /// Whether `host` (a lower-case DNS name) matches.
    #[must_use]
    pub fn matches(&self, host: &str) -> bool {
        let host: Vec<&str> = host.split('.').collect();
        let (first, rest) = match self.labels.split_first() {
            Some((first, rest)) if first == "*" => (true, rest),
            _ => (false, &self.labels[..]),
        };
        if first {
            // One or more leading labels, then the rest label by label.
            if host.len() <= rest.len() {
                return false;
            }
            let tail = &host[host.len() - rest.len()..];
            host[..host.len() - rest.len()]
                .iter()
                .all(|label| !label.is_empty())
                && labels_match(rest, tail)
        } else {
            host.len() == rest.len() && labels_match(rest, &host)
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.labels.join("."))
    }
}

fn labels_match(patterns: &[String], labels: &[&str]) -> bool {
    patterns
        .iter()
        .zip(labels)
        .all(|(pattern, label)| label_matches(pattern, label))
}

/// One label against one pattern label; `*` inside a label (`s3-*`) matches one or more
/// characters, never a dot.
fn label_matches(pattern: &str, label: &str) -> bool {
    if label.is_empty() {
        return false;
    }
    match pattern.split_once('*') {
        None => pattern == label,
        Some((prefix, suffix)) => {
            label.len() > prefix.len() + suffix.len()
                && label.starts_with(prefix)
                && label.ends_with(suffix)
        }
    }
}

/// What the receiver may download.
#[derive(Debug, Clone)]
pub struct DownloadPolicy {
    hosts: Vec<HostPattern>,
    insecure: Vec<String>,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        Self::new(
            DEFAULT_ALLOWED_HOSTS
                .iter()
                .filter_map(|pattern| HostPattern::parse(pattern).ok()),
        )
    }
}

impl DownloadPolicy {
    /// Allows https downloads from hosts matching `hosts`.
    #[must_use]
    pub fn new(hosts: impl IntoIterator<Item = HostPattern>) -> Self {
        Self {
            hosts: hosts.into_iter().collect(),
            insecure: Vec::new(),
        }
    }

    /// Allows https downloads from hosts matching the `patterns` given by the user, or from
    /// the default hosts when none is given.
    ///
    /// # Errors
    ///
    /// The first pattern that [`HostPattern::parse`] refuses, and why.
    pub fn allowing(patterns: &[impl AsRef<str>]) -> Result<Self, String> {
        if patterns.is_empty() {
            return Ok(Self::default());
        }
        let hosts = patterns
            .iter()
            .map(|pattern| HostPattern::parse(pattern.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(hosts))
    }

    /// FOR TESTS ONLY: also allows plain `http` to exactly `host_port` (`127.0.0.1:8080`).
    #[must_use]
    pub fn allow_insecure(mut self, host_port: impl Into<String>) -> Self {
        self.insecure.push(host_port.into().to_ascii_lowercase());
        self
    }

    /// The [`AddressGuard`] for a client that follows these links: every internal address is
    /// refused after resolution, except the plain-http `host:port`s allowed for tests.
    #[must_use]
    pub fn address_guard(&self) -> AddressGuard {
        let mut guard = AddressGuard::new();
        for host_port in &self.insecure {
            // An entry that is not HOST:PORT matches no URL in `check_url` either.
            if let Ok(allowed) = guard.clone().allow(host_port) {
                guard = allowed;
            }
        }
        guard
    }

    /// The allowed host patterns.
    #[must_use]
    pub fn hosts(&self) -> &[HostPattern] {
        &self.hosts
    }

    /// Checks a link; `Ok` with the parsed URL when it may be fetched.
    pub fn check(&self, link: &str) -> Result<Url, Refused> {
        let url: Url = link.parse().map_err(|_| Refused::NotUrl)?;
        self.check_url(&url)?;
        Ok(url)
    }

    /// Checks a parsed URL (also used for each redirect).
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::UserInfo);
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme(url.scheme().to_owned()));
        }
        let host = url.host_str().ok_or(Refused::NotUrl)?;
        if url.scheme() == "http" {
            let host_port = format!("{host}:{}", url.port_or_known_default().unwrap_or_default());
            if self.insecure.contains(&host_port) {
                return Ok(());
            }
        }
        if url.scheme() != "https" {
            return Err(Refused::Scheme(url.scheme().to_owned()));
        }
        let name = url
            .domain()
            .ok_or_else(|| Refused::IpAddress(host.to_owned()))?
            .to_ascii_lowercase();
        if let Some(port) = url.port()
            && port != 443
        {
            return Err(Refused::Port(port));
        }
        let name = name.trim_end_matches('.');
        // A dotted-decimal name that is not an `Ipv4` host (`0x7f.1`, `2130706433`) is refused
        // too: some resolvers read these as addresses.
        if name
            .rsplit('.')
            .next()
            .is_some_and(|last| last.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(Refused::IpAddress(name.to_owned()));
        }
        if self.hosts.iter().any(|pattern| pattern.matches(name)) {
            Ok(())
        } else {
            Err(Refused::Host(name.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_patterns_replace_the_default_hosts() {
        let none: [&str; 0] = [];
        assert_eq!(
            DownloadPolicy::allowing(&none).unwrap().hosts(),
            DownloadPolicy::default().hosts()
        );
        let policy = DownloadPolicy::allowing(&["*.example.com", "files.example.org"]).unwrap();
        let hosts: Vec<String> = policy.hosts().iter().map(ToString::to_string).collect();
        assert_eq!(hosts, ["*.example.com", "files.example.org"]);
        assert!(policy.check("https://a.example.com/x.csv").is_ok());
        assert!(
            policy
                .check("https://bucket.s3.amazonaws.com/chat.csv")
                .is_err()
        );
        assert_eq!(
            DownloadPolicy::allowing(&["files.example.org", "*.com"]).unwrap_err(),
            "`*.com` is too broad: name at least two fixed labels, like `*.s3.amazonaws.com`"
        );
    }

    #[test]
    fn default_policy() {
        let policy = DownloadPolicy::default();
        for good in [
            "https://bucket.s3.amazonaws.com/chat.csv?X-Amz-Signature=x",
            "https://my.dotted.bucket.s3.us-east-1.amazonaws.com/a.csv",
            "https://s3.ap-south-1.amazonaws.com/bucket/a.csv",
            "https://bucket.s3-eu-west-1.amazonaws.com/a.csv",
            "https://bucket.s3.dualstack.us-east-1.amazonaws.com/a.csv",
            "https://BUCKET.S3.AMAZONAWS.COM:443/a.csv",
        ] {
            assert!(policy.check(good).is_ok(), "{good}");
        }
        for bad in [
            "http://bucket.s3.amazonaws.com/a.csv",
            "https://169.254.169.254/latest/meta-data/",
            "http://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://127.0.0.1/a.csv",
            "file:///etc/passwd",
            "https://example.com/chat.csv",
            "https://s3.amazonaws.com.evil.com/a.csv",
            "https://evils3.amazonaws.com/a.csv",
            "https://ec2-1-2-3-4.compute-1.amazonaws.com/a.csv",
            "https://user:pw@bucket.s3.amazonaws.com/a.csv",
            "https://bucket.s3.amazonaws.com:8443/a.csv",
            "gopher://bucket.s3.amazonaws.com/a.csv",
            "not a url",
            "https://2130706433/",
        ] {
            assert!(policy.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn insecure_escape_hatch_is_exact() {
        let policy = DownloadPolicy::default().allow_insecure("127.0.0.1:8080");
        assert!(policy.check("http://127.0.0.1:8080/a.csv").is_ok());
        assert!(policy.check("http://127.0.0.1:8081/a.csv").is_err());
        assert!(policy.check("https://127.0.0.1:8080/a.csv").is_err());
    }

    #[test]
    fn patterns() {
        assert!(HostPattern::parse("*.com").is_err());
        let error = HostPattern::parse("a\u{1b}[31m.example.com").unwrap_err();
        assert!(!error.contains('\u{1b}'), "{error}");
        assert!(HostPattern::parse("*").is_err());
        assert!(HostPattern::parse("a b.com").is_err());
        let pattern = HostPattern::parse("storage.example.net").unwrap();
        assert!(pattern.matches("storage.example.net"));
        assert!(!pattern.matches("x.storage.example.net"));
    }
}
