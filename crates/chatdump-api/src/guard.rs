//! Keeping downloads away from internal addresses (SSRF protection).
//!
//! A download link comes from the API's answer (or a webhook delivery), so it is not trusted:
//! a proxy in front of the API or a forged answer must not turn chatdump into a way to reach
//! services inside the network. An [`AddressGuard`] refuses every address that is loopback,
//! private, link-local (the cloud metadata address `169.254.169.254` included), shared
//! (`100.64.0.0/10`), unspecified, broadcast, `IPv6` unique-local or site-local, and the
//! IPv4-mapped, IPv4-compatible and NAT64 forms of these ([`forbidden_kind`]).
//!
//! The check runs after DNS resolution, in a [`reqwest::dns::Resolve`] that drops forbidden
//! addresses ([`AddressGuard::resolver`]), so a host name pointing inside the network is
//! refused as surely as an IP literal, on the first request and on every redirect. IP literals
//! never reach a resolver: [`AddressGuard::check_url`] checks them, before the request and in
//! the redirect policy. The API root itself is trusted (it is what the user configured) and is
//! not guarded.
//!
//! A caller may allow exact `HOST:PORT`s ([`AddressGuard::allow`]), for a storage server on the
//! local network or a test server on 127.0.0.1. An allowed IP literal is allowed on that port
//! only; an allowed host name's addresses are not filtered (the resolver does not see the
//! port).
//!
//! A proxy set in the environment (`HTTPS_PROXY`) resolves the target itself: the guard then
//! sees only the proxy's address, and the proxy's own policy applies.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use chatdump_core::escape::escape_for_terminal;

/// Why an address must not be downloaded from, or `None` when it is a public address.
#[must_use]
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => forbidden_v4(ip),
        IpAddr::V6(ip) => forbidden_v6(ip),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (b & 0xc0) == 64 {
        // Carrier-grade NAT; some clouds put metadata services here (100.100.100.200).
        Some("shared")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        forbidden_v4(v4)
    } else if segments[..6] == [0; 6] {
        // IPv4-compatible (`::a.b.c.d`, deprecated but still routed by some stacks).
        forbidden_v4(ip.to_ipv4().unwrap_or(Ipv4Addr::UNSPECIFIED))
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix: the embedded IPv4 address is what is reached.
        let [.., c, d] = segments;
        forbidden_v4(Ipv4Addr::from((u32::from(c) << 16) | u32::from(d)))
    } else if (segments[0] & 0xfe00) == 0xfc00 {
        Some("unique-local")
    } else if (segments[0] & 0xffc0) == 0xfe80 {
        Some("link-local")
    } else if (segments[0] & 0xffc0) == 0xfec0 {
        Some("site-local")
    } else {
        None
    }
}

/// A download refused because its host is, or resolves to, an internal address. The message
/// names the host and the address, never the link's path or query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the download link's host `{host}` {verb} a {kind} address ({address}); downloads from internal addresses are refused unless that host is explicitly allowed"
)]
pub struct PrivateAddress {
    /// The host, escaped.
    pub host: String,
    /// The refused address.
    pub address: IpAddr,
    /// `loopback`, `private`, `link-local`, ...
    pub kind: &'static str,
    /// `is` (an IP literal) or `resolves to` (a host name).
    verb: &'static str,
}

impl PrivateAddress {
    /// The refusal inside an error's source chain, if there is one (reqwest wraps what the
    /// resolver and the redirect policy return).
    #[must_use]
    pub fn find<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Self> {
        let mut next = Some(error);
        while let Some(error) = next {
            if let Some(found) = error.downcast_ref::<Self>() {
                return Some(found);
            }
            next = error.source();
        }
        None
    }
}

/// Which internal addresses downloads may reach: by default none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressGuard {
    /// Allowed `(host, port)`, the host lower-case, an `IPv6` address without brackets.
    allowed: Vec<(String, u16)>,
}

impl AddressGuard {
    /// A guard that refuses every internal address.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Also allows `HOST:PORT` (`127.0.0.1:8787`, `[::1]:8080`, `storage.lan:9000`).
    pub fn allow(mut self, host_port: &str) -> Result<Self, String> {
        let text = host_port.trim();
        let invalid = || {
            format!(
                "`{}` is not HOST:PORT (such as `127.0.0.1:8787`)",
                escape_for_terminal(text, 100)
            )
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
        let port: u16 = port.parse().map_err(|_| invalid())?;
        let host = host
            .strip_prefix('[')
            .and_then(|host| host.strip_suffix(']'))
            .unwrap_or(host)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if host.is_empty() || host.contains(['/', '@', ' ', '[', ']']) {
            return Err(invalid());
        }
        if host.contains(':') && host.parse::<Ipv6Addr>().is_err() {
            return Err(invalid());
        }
        self.allowed.push((host, port));
        Ok(self)
    }

    /// Whether no internal address is allowed.
    #[must_use]
    pub fn is_strict(&self) -> bool {
        self.allowed.is_empty()
    }

    /// Checks a URL whose host is an IP literal (names are checked after resolution, by
    /// [`resolver`](Self::resolver)).
    pub fn check_url(&self, url: &Url) -> Result<(), PrivateAddress> {
        // A URL's IPv4 host is normalised (`0x7f.1` is `127.0.0.1`); an IPv6 one is bracketed.
        let Some(host) = url.host_str() else {
            return Ok(());
        };
        let literal = host
            .strip_prefix('[')
            .and_then(|host| host.strip_suffix(']'))
            .unwrap_or(host);
        let Ok(address) = literal.parse::<IpAddr>() else {
            return Ok(());
        };
        let Some(kind) = forbidden_kind(address) else {
            return Ok(());
        };
        let host = address.to_string();
        let shown = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or_default();
        if self.allowed.iter().any(|(h, p)| *h == host && *p == port) {
            return Ok(());
        }
        Err(PrivateAddress {
            host: shown,
            address,
            kind,
            verb: "is",
        })
    }

    /// A resolver for a download client: it resolves with the system resolver and drops every
    /// forbidden address; a name left with none is refused with a [`PrivateAddress`].
    #[must_use]
    pub fn resolver(&self) -> Arc<dyn Resolve> {
        Arc::new(GuardedResolver {
            allowed_names: self.allowed.iter().map(|(host, _)| host.clone()).collect(),
        })
    }

    /// A redirect policy for a download client: at most `max` redirects, each target checked
    /// with [`check_url`](Self::check_url) and then `extra`.
    #[must_use]
    pub fn redirect_policy(
        &self,
        max: usize,
        extra: impl Fn(&Url) -> Result<(), String> + Send + Sync + 'static,
    ) -> reqwest::redirect::Policy {
        let guard = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= max {
                attempt.error("too many redirects")
            } else if let Err(refused) = guard.check_url(attempt.url()) {
                attempt.error(refused)
            } else if let Err(refused) = extra(attempt.url()) {
                attempt.error(format!("redirect refused: {refused}"))
            } else {
                attempt.follow()
            }
        })
    }
}

struct GuardedResolver {
    allowed_names: Vec<String>,
}

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedResolver").finish_non_exhaustive()
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let allowed = self.allowed_names.contains(&host);
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if allowed {
                return Ok(Box::new(addresses.into_iter()) as Addrs);
            }
            let mut refused = None;
            let kept: Vec<SocketAddr> = addresses
                .into_iter()
                .filter(|address| match forbidden_kind(address.ip()) {
                    None => true,
                    Some(kind) => {
                        refused.get_or_insert(PrivateAddress {
                            host: escape_for_terminal(&host, 100),
                            address: address.ip(),
                            kind,
                            verb: "resolves to",
                        });
                        false
                    }
                })
                .collect();
            match refused {
                Some(refused) if kept.is_empty() => {
                    let error: Box<dyn std::error::Error + Send + Sync> = Box::new(refused);
                    Err(error)
                }
                _ => Ok(Box::new(kept.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        for (text, kind) in [
            ("127.0.0.1", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("link-local")),
            ("100.100.100.200", Some("shared")),
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("255.255.255.255", Some("broadcast")),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("fd00:ec2::254", Some("unique-local")),
            ("fc00::1", Some("unique-local")),
            ("fe80::1", Some("link-local")),
            ("fec0::1", Some("site-local")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("::127.0.0.1", Some("loopback")),
            ("64:ff9b::a9fe:a9fe", Some("link-local")),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("52.216.1.1", None),
            ("2600:1f18::1", None),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::808:808", None),
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(forbidden_kind(ip), kind, "{text}");
        }
    }

    #[test]
    fn literals_and_allowed_ports() {
        let strict = AddressGuard::new();
        let refused = strict
            .check_url(
                &"http://127.0.0.1:8080/x.csv?X-Amz-Signature=secret"
                    .parse()
                    .unwrap(),
            )
            .unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains("`127.0.0.1` is a loopback address"),
            "{message}"
        );
        assert!(
            !message.contains("secret") && !message.contains("x.csv"),
            "{message}"
        );
        assert!(
            strict
                .check_url(&"http://[::ffff:a9fe:a9fe]/".parse().unwrap())
                .is_err()
        );
        assert!(
            strict
                .check_url(&"https://s3.amazonaws.com/b/x".parse().unwrap())
                .is_ok()
        );
        assert!(
            strict
                .check_url(&"https://8.8.8.8/x".parse().unwrap())
                .is_ok()
        );
        let loose = AddressGuard::new().allow("127.0.0.1:8080").unwrap();
        assert!(
            loose
                .check_url(&"http://127.0.0.1:8080/a".parse().unwrap())
                .is_ok()
        );
        assert!(
            loose
                .check_url(&"http://127.0.0.1:8081/a".parse().unwrap())
                .is_err()
        );
        assert!(
            loose
                .check_url(&"http://127.0.0.2:8080/a".parse().unwrap())
                .is_err()
        );
        let v6 = AddressGuard::new().allow("[::1]:443").unwrap();
        assert!(v6.check_url(&"https://[::1]/a".parse().unwrap()).is_ok());
        for bad in [
            "127.0.0.1",
            "127.0.0.1:x",
            ":80",
            "a b:80",
            "http://x:80",
            "1:2:3:80",
        ] {
            assert!(AddressGuard::new().allow(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn names_are_checked_after_resolution() {
        let strict = AddressGuard::new().resolver();
        let error = strict
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost resolves to loopback only");
        let refused = PrivateAddress::find(&*error).expect("a PrivateAddress");
        assert_eq!(refused.host, "localhost");
        assert_eq!(refused.kind, "loopback");
        assert!(
            refused
                .to_string()
                .starts_with("the download link's host `localhost` resolves to a loopback address"),
            "{refused}"
        );
        let allowed = AddressGuard::new().allow("localhost:1").unwrap().resolver();
        let addresses: Vec<_> = allowed
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addresses.iter().all(|address| address.ip().is_loopback()));
        assert!(!addresses.is_empty());
    }
}
