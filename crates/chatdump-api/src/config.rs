//! Building an [`Api`] from what the user configured: the API root, the account ids and the
//! secret, checked with messages that name the flag or variable to fix. The caller reads the
//! environment and the key file, and passes the values in.

use chatdump_core::escape::escape_for_terminal;
use reqwest::Url;

use crate::api::Api;
use crate::provider::Provider;
use crate::redact::{Secret, redact_url};

/// A URL given on the command line that is not an http or https URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The text does not parse as a URL.
    #[error("{flag} `{text}` is not a URL")]
    NotAUrl {
        /// The flag it was given with (`--base-url`).
        flag: &'static str,
        /// The text, escaped for a terminal.
        text: String,
    },
    /// The URL's scheme is neither `http` nor `https`.
    #[error("{flag} `{url}` is not an http or https URL")]
    NotHttp {
        /// The flag it was given with.
        flag: &'static str,
        /// The URL, redacted.
        url: String,
    },
}

/// Parses `text`, given with `flag`, as an http or https URL.
///
/// # Errors
///
/// [`UrlError`] when it is not a URL or its scheme is another.
pub fn http_url(flag: &'static str, text: &str) -> Result<Url, UrlError> {
    let url: Url = text.parse().map_err(|_| UrlError::NotAUrl {
        flag,
        text: escape_for_terminal(text, 200),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::NotHttp {
            flag,
            url: redact_url(&url),
        });
    }
    Ok(url)
}

/// The ids naming the account, as configured (a flag or its environment variable). Only those
/// the provider uses are read: `org_id` for Dyte, `account_id` and `app_id` for `RealtimeKit`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountIds<'a> {
    /// The Dyte organization id (`--org-id`, `DYTE_ORG_ID`).
    pub org_id: Option<&'a str>,
    /// The Cloudflare account id (`--account-id`, `CLOUDFLARE_ACCOUNT_ID`).
    pub account_id: Option<&'a str>,
    /// The `RealtimeKit` app id (`--app-id`, `REALTIMEKIT_APP_ID`).
    pub app_id: Option<&'a str>,
}

/// Why no [`Api`] could be built from the configuration. Every message says what to set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiConfigError {
    /// `--base-url` is not an http or https URL.
    #[error(transparent)]
    BaseUrl(#[from] UrlError),
    /// No secret was given.
    #[error("no credentials: set {variable} or pass --api-key-file")]
    NoCredentials {
        /// The variable holding the secret.
        variable: &'static str,
    },
    /// The secret is empty.
    #[error("the {what} is empty: set {variable} or pass --api-key-file")]
    EmptySecret {
        /// What the secret is called (`API key`).
        what: &'static str,
        /// The variable holding it.
        variable: &'static str,
    },
    /// An account id is missing or blank.
    #[error("the {what} ({flag} or {variable}) is missing")]
    MissingId {
        /// What it is (`organization id`).
        what: &'static str,
        /// The flag giving it.
        flag: &'static str,
        /// The variable giving it.
        variable: &'static str,
    },
}

impl Api {
    /// The API of `provider` at `base_url` (its default when `None`), with the account `ids`
    /// (trimmed) and the `secret`. Checked in this order: the URL, the secret, the ids.
    ///
    /// # Errors
    ///
    /// [`ApiConfigError`] naming what is wrong and what to set.
    pub fn new(
        provider: Provider,
        base_url: Option<&str>,
        ids: AccountIds<'_>,
        secret: Option<Secret>,
    ) -> Result<Self, ApiConfigError> {
        let base = http_url(
            "--base-url",
            base_url.unwrap_or(provider.default_base_url()),
        )?;
        let variable = provider.secret_variable();
        let secret = secret.ok_or(ApiConfigError::NoCredentials { variable })?;
        if secret.is_empty() {
            return Err(ApiConfigError::EmptySecret {
                what: provider.secret_name(),
                variable,
            });
        }
        let required = |value: Option<&str>, what, flag, variable| match value.map(str::trim) {
            Some(value) if !value.is_empty() => Ok(value.to_owned()),
            _ => Err(ApiConfigError::MissingId {
                what,
                flag,
                variable,
            }),
        };
        Ok(match provider {
            Provider::Dyte => Self::Dyte {
                base,
                org_id: required(
                    ids.org_id,
                    "organization id",
                    "--org-id",
                    Provider::DYTE_ORG_ID,
                )?,
                api_key: secret,
            },
            Provider::RealtimeKit => Self::RealtimeKit {
                base,
                account_id: required(
                    ids.account_id,
                    "account id",
                    "--account-id",
                    Provider::CLOUDFLARE_ACCOUNT_ID,
                )?,
                app_id: required(
                    ids.app_id,
                    "app id",
                    "--app-id",
                    Provider::REALTIMEKIT_APP_ID,
                )?,
                api_token: secret,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DYTE: AccountIds<'static> = AccountIds {
        org_id: Some(" org "),
        account_id: None,
        app_id: None,
    };

    fn error(
        provider: Provider,
        base_url: Option<&str>,
        ids: AccountIds<'_>,
        secret: Option<&str>,
    ) -> String {
        Api::new(provider, base_url, ids, secret.map(Secret::new))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn builds_each_provider_with_trimmed_ids() {
        let api = Api::new(Provider::Dyte, None, DYTE, Some(Secret::new("key"))).unwrap();
        let Api::Dyte { base, org_id, .. } = &api else {
            panic!("{api:?}")
        };
        assert_eq!(base.as_str(), "https://api.dyte.io/v2");
        assert_eq!(org_id, "org");
        let ids = AccountIds {
            account_id: Some("acc"),
            app_id: Some("app\t"),
            ..AccountIds::default()
        };
        let api = Api::new(
            Provider::RealtimeKit,
            Some("http://127.0.0.1:9/client/v4"),
            ids,
            Some(Secret::new("token")),
        )
        .unwrap();
        let Api::RealtimeKit {
            base,
            account_id,
            app_id,
            ..
        } = &api
        else {
            panic!("{api:?}")
        };
        assert_eq!(base.as_str(), "http://127.0.0.1:9/client/v4");
        assert_eq!((account_id.as_str(), app_id.as_str()), ("acc", "app"));
    }

    #[test]
    fn bad_base_urls_are_named_escaped_and_redacted() {
        assert_eq!(
            error(Provider::Dyte, Some("not a url\u{1b}[2J"), DYTE, Some("k")),
            "--base-url `not a url\\u{1b}[2J` is not a URL"
        );
        assert_eq!(
            error(
                Provider::Dyte,
                Some("ftp://user:pw@example.com/v2?token=t"),
                DYTE,
                None
            ),
            "--base-url `ftp://example.com/v2?token=<redacted>` is not an http or https URL"
        );
    }

    #[test]
    fn missing_or_empty_secrets_name_the_variable() {
        assert_eq!(
            error(Provider::Dyte, None, DYTE, None),
            "no credentials: set DYTE_API_KEY or pass --api-key-file"
        );
        assert_eq!(
            error(Provider::RealtimeKit, None, AccountIds::default(), Some("")),
            "the API token is empty: set CLOUDFLARE_API_TOKEN or pass --api-key-file"
        );
    }

    #[test]
    fn missing_ids_name_the_flag_and_variable() {
        let secret = Some("k");
        assert_eq!(
            error(Provider::Dyte, None, AccountIds::default(), secret),
            "the organization id (--org-id or DYTE_ORG_ID) is missing"
        );
        let blank = AccountIds {
            account_id: Some("  "),
            app_id: Some("app"),
            ..AccountIds::default()
        };
        assert_eq!(
            error(Provider::RealtimeKit, None, blank, secret),
            "the account id (--account-id or CLOUDFLARE_ACCOUNT_ID) is missing"
        );
        let no_app = AccountIds {
            account_id: Some("acc"),
            ..AccountIds::default()
        };
        assert_eq!(
            error(Provider::RealtimeKit, None, no_app, secret),
            "the app id (--app-id or REALTIMEKIT_APP_ID) is missing"
        );
    }
}
