//! What differs between the two platforms, written once: the default API root, the credential
//! environment variables (named here, read by the binary), the webhook public-key document and
//! the default client-side rate limit. Routes and authentication are per provider too: see
//! [`Api`](crate::Api), which pairs a provider with its credentials.

use std::fmt;

/// The Dyte REST API root.
pub const DYTE_BASE_URL: &str = "https://api.dyte.io/v2";
/// The Cloudflare API root (`RealtimeKit` routes live under `accounts/{account}/realtime/kit/{app}`).
pub const REALTIMEKIT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// A platform whose Chat Replay API chatdump talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Dyte: HTTP Basic with the organization id and API key, routes under `{base}/sessions`.
    Dyte,
    /// Cloudflare `RealtimeKit`: a Bearer API token, routes under
    /// `{base}/accounts/{account}/realtime/kit/{app}/sessions`.
    RealtimeKit,
}

impl Provider {
    /// The variable holding the Dyte organization id.
    pub const DYTE_ORG_ID: &'static str = "DYTE_ORG_ID";
    /// The variable holding the Dyte API key.
    pub const DYTE_API_KEY: &'static str = "DYTE_API_KEY";
    /// The variable holding the Cloudflare account id.
    pub const CLOUDFLARE_ACCOUNT_ID: &'static str = "CLOUDFLARE_ACCOUNT_ID";
    /// The variable holding the `RealtimeKit` app id.
    pub const REALTIMEKIT_APP_ID: &'static str = "REALTIMEKIT_APP_ID";
    /// The variable holding the Cloudflare API token.
    pub const CLOUDFLARE_API_TOKEN: &'static str = "CLOUDFLARE_API_TOKEN";

    /// The API root used unless the caller gives another.
    #[must_use]
    pub const fn default_base_url(self) -> &'static str {
        match self {
            Self::Dyte => DYTE_BASE_URL,
            Self::RealtimeKit => REALTIMEKIT_BASE_URL,
        }
    }

    /// The environment variables naming the account (in the order the routes use them).
    #[must_use]
    pub const fn id_variables(self) -> &'static [&'static str] {
        match self {
            Self::Dyte => &[Self::DYTE_ORG_ID],
            Self::RealtimeKit => &[Self::CLOUDFLARE_ACCOUNT_ID, Self::REALTIMEKIT_APP_ID],
        }
    }

    /// The environment variable holding the secret credential.
    #[must_use]
    pub const fn secret_variable(self) -> &'static str {
        match self {
            Self::Dyte => Self::DYTE_API_KEY,
            Self::RealtimeKit => Self::CLOUDFLARE_API_TOKEN,
        }
    }

    /// What the secret credential is called, for messages (`API key`, `API token`).
    #[must_use]
    pub const fn secret_name(self) -> &'static str {
        match self {
            Self::Dyte => "API key",
            Self::RealtimeKit => "API token",
        }
    }

    /// The well-known document holding the provider's webhook public key.
    #[must_use]
    pub const fn webhook_key_url(self) -> &'static str {
        match self {
            Self::Dyte => "https://api.dyte.io/.well-known/webhooks.json",
            Self::RealtimeKit => "https://api.realtime.cloudflare.com/.well-known/webhooks.json",
        }
    }

    /// API calls per minute a bulk export starts by default: below the documented limits
    /// (Dyte 2000, Cloudflare 1200 per 5 minutes).
    #[must_use]
    pub const fn default_requests_per_minute(self) -> u32 {
        match self {
            Self::Dyte => 1500,
            Self::RealtimeKit => 200,
        }
    }

    /// Which credentials to check after the API refused them.
    #[must_use]
    pub fn credentials_hint(self) -> String {
        match self {
            Self::Dyte => format!(
                "check the organization id and API key (`{}`, `{}`)",
                Self::DYTE_ORG_ID,
                Self::DYTE_API_KEY
            ),
            Self::RealtimeKit => format!(
                "check the account id, app id and API token (`{}`, `{}`, `{}`); the token needs the Realtime or Realtime Admin permission",
                Self::CLOUDFLARE_ACCOUNT_ID,
                Self::REALTIMEKIT_APP_ID,
                Self::CLOUDFLARE_API_TOKEN
            ),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dyte => "dyte",
            Self::RealtimeKit => "realtimekit",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_variables() {
        assert_eq!(
            Provider::Dyte.credentials_hint(),
            "check the organization id and API key (`DYTE_ORG_ID`, `DYTE_API_KEY`)"
        );
        for provider in [Provider::Dyte, Provider::RealtimeKit] {
            let hint = provider.credentials_hint();
            for variable in provider.id_variables() {
                assert!(hint.contains(variable), "{hint}");
            }
            assert!(hint.contains(provider.secret_variable()), "{hint}");
            assert!(provider.default_base_url().starts_with("https://"));
            assert!(provider.webhook_key_url().starts_with("https://"));
        }
    }
}
