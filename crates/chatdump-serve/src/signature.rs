//! Webhook authenticity: RSA PKCS#1 v1.5 SHA-256 signatures over the raw body bytes.
//!
//! Dyte and Cloudflare `RealtimeKit` sign each delivery with their private key and send the
//! base64 signature in `rtk-signature` (or `dyte-signature`). The public key is a PEM SPKI
//! document, given as a file or fetched from the provider's well-known URL
//! (`{"success":true,"data":{"publicKey":"-----BEGIN PUBLIC KEY-----..."}}`). A fetched key is
//! cached for an hour and fetched again once when a signature does not verify (the provider may
//! have rotated it), at most once per [`REFETCH_INTERVAL`] so that a flood of forged deliveries
//! cannot turn the receiver into a request amplifier.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chatdump_core::escape::escape_for_terminal;
use reqwest::Url;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long a fetched key is used before it is fetched again.
pub const KEY_TTL: Duration = Duration::from_secs(3600);
/// The shortest time between two fetches triggered by failed verifications.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// The shortest time between two fetches while no key could be fetched at all.
const NO_KEY_RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// The largest key document read.
const MAX_KEY_DOCUMENT: usize = 64 * 1024;

/// The DER of the `rsaEncryption` object identifier (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// Why a public key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No PEM block in the text.
    #[error("no `-----BEGIN PUBLIC KEY-----` block found")]
    NoPem,
    /// The PEM body is not base64.
    #[error("the PEM block is not valid base64")]
    Base64,
    /// The DER is not an RSA `SubjectPublicKeyInfo` (or `RSAPublicKey`).
    #[error("the key is not an RSA public key (SubjectPublicKeyInfo): {0}")]
    NotRsa(&'static str),
    /// The RSA modulus is outside the sizes that are verified.
    #[error("the RSA key has {0} bits; 2048 to 8192 are supported")]
    KeySize(usize),
    /// The key document could not be fetched.
    #[error("cannot fetch the public key from `{url}`: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// Why a key file could not be used. The path is escaped for a terminal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("cannot read the public key `{path}`")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no usable key.
    #[error("`{path}` is not a usable public key")]
    Key {
        /// The file.
        path: String,
        /// What is wrong with the key.
        #[source]
        source: KeyError,
    },
}

/// Why a delivery's signature was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// Neither `rtk-signature` nor `dyte-signature` was sent.
    #[error("no `rtk-signature` or `dyte-signature` header")]
    Missing,
    /// The header is not base64.
    #[error("the signature header is not base64")]
    NotBase64,
    /// The signature does not match the body and key.
    #[error("the signature does not match the body")]
    Mismatch,
    /// No key is available to check with.
    #[error("no public key to verify with: {0}")]
    NoKey(String),
}

/// An RSA public key, ready to verify signatures.
#[derive(Clone)]
pub struct PublicKey {
    /// The `RSAPublicKey` DER (PKCS#1), which is what ring takes.
    rsa_der: Arc<[u8]>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({} DER bytes)", self.rsa_der.len())
    }
}

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1) block. The key must be
    /// well-formed DER with nothing after it, and its modulus 2048 to 8192 bits, the sizes
    /// [`PublicKey::verifies`] accepts: a damaged key is an error here, not a signature that
    /// never matches.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) = pem_block(pem)?;
        let rsa_der = if label == "RSA PUBLIC KEY" {
            der
        } else {
            spki_to_rsa(&der)?.to_vec()
        };
        check_rsa_public_key(&rsa_der)?;
        Ok(Self {
            rsa_der: rsa_der.into(),
        })
    }

    /// Reads the PEM file at `path`, as [`PublicKey::from_pem`].
    ///
    /// # Errors
    ///
    /// [`KeyFileError`] naming the file when it cannot be read or holds no usable key.
    pub fn from_pem_file(path: &Path) -> Result<Self, KeyFileError> {
        let shown = || escape_for_terminal(&path.display().to_string(), 200);
        let pem = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
            path: shown(),
            source,
        })?;
        Self::from_pem(&pem).map_err(|source| KeyFileError::Key {
            path: shown(),
            source,
        })
    }

    /// Whether `signature` is this key's RSA PKCS#1 v1.5 SHA-256 signature of `message`.
    #[must_use]
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &*self.rsa_der)
            .verify(message, signature)
            .is_ok()
    }
}

/// The label and DER bytes of the first PEM block in `text`.
fn pem_block(text: &str) -> Result<(String, Vec<u8>), KeyError> {
    let start = text.find("-----BEGIN ").ok_or(KeyError::NoPem)?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or(KeyError::NoPem)?;
    let label = rest[..label_end].to_owned();
    let body = &rest[label_end + 5..];
    let end = body
        .find(&format!("-----END {label}-----"))
        .ok_or(KeyError::NoPem)?;
    let base64: String = body[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|_| KeyError::Base64)?;
    Ok((label, der))
}

/// Reads one DER element: its tag, its content and what follows it.
fn der_element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), KeyError> {
    let truncated = KeyError::NotRsa("truncated DER");
    let (&tag, rest) = input.split_first().ok_or(truncated)?;
    let (&first, mut rest) = rest
        .split_first()
        .ok_or(KeyError::NotRsa("truncated DER"))?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(KeyError::NotRsa("bad DER length"));
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        // DER: the shortest form, so that one key has one encoding.
        if bytes[0] == 0 {
            return Err(KeyError::NotRsa("bad DER length"));
        }
        let length = bytes
            .iter()
            .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
        if length < 0x80 {
            return Err(KeyError::NotRsa("bad DER length"));
        }
        length
    };
    if rest.len() < length {
        return Err(KeyError::NotRsa("truncated DER"));
    }
    let (content, after) = rest.split_at(length);
    Ok((tag, content, after))
}

/// The `RSAPublicKey` inside an RSA `SubjectPublicKeyInfo`.
fn spki_to_rsa(der: &[u8]) -> Result<&[u8], KeyError> {
    const SEQUENCE: u8 = 0x30;
    const OBJECT_IDENTIFIER: u8 = 0x06;
    const BIT_STRING: u8 = 0x03;
    let (tag, spki, after) = der_element(der)?;
    if tag != SEQUENCE {
        return Err(KeyError::NotRsa("not a DER sequence"));
    }
    if !after.is_empty() {
        return Err(KeyError::NotRsa("data after the key"));
    }
    let (tag, algorithm, rest) = der_element(spki)?;
    if tag != SEQUENCE {
        return Err(KeyError::NotRsa("no algorithm identifier"));
    }
    let (tag, oid, parameters) = der_element(algorithm)?;
    if tag != OBJECT_IDENTIFIER || oid != RSA_ENCRYPTION_OID {
        return Err(KeyError::NotRsa("the algorithm is not rsaEncryption"));
    }
    // rsaEncryption's parameters are NULL (RFC 3279), which some encoders leave out.
    if !matches!(parameters, [] | [0x05, 0x00]) {
        return Err(KeyError::NotRsa("bad rsaEncryption parameters"));
    }
    let (tag, bits, after) = der_element(rest)?;
    if !after.is_empty() {
        return Err(KeyError::NotRsa("data after the public key bit string"));
    }
    match bits.split_first() {
        Some((0, key)) if tag == BIT_STRING => Ok(key),
        _ => Err(KeyError::NotRsa("bad public key bit string")),
    }
}

/// Checks that `der` is an `RSAPublicKey` (PKCS#1: a sequence of two positive integers, the
/// modulus and the public exponent, and nothing else) whose modulus has 2048 to 8192 bits.
fn check_rsa_public_key(der: &[u8]) -> Result<(), KeyError> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    let (tag, key, after) = der_element(der)?;
    if tag != SEQUENCE {
        return Err(KeyError::NotRsa("the RSA key is not a DER sequence"));
    }
    if !after.is_empty() {
        return Err(KeyError::NotRsa("data after the RSA key"));
    }
    let (tag, modulus, rest) = der_element(key)?;
    if tag != INTEGER {
        return Err(KeyError::NotRsa("no RSA modulus"));
    }
    let (tag, exponent, rest) = der_element(rest)?;
    if tag != INTEGER || !rest.is_empty() {
        return Err(KeyError::NotRsa("no RSA public exponent"));
    }
    let bits = positive_integer_bits(modulus).ok_or(KeyError::NotRsa(
        "the RSA modulus is not a positive integer",
    ))?;
    positive_integer_bits(exponent).ok_or(KeyError::NotRsa(
        "the RSA exponent is not a positive integer",
    ))?;
    if !(2048..=8192).contains(&bits) {
        return Err(KeyError::KeySize(bits));
    }
    Ok(())
}

/// The bit length of a DER INTEGER's content, when it is positive and minimally encoded.
fn positive_integer_bits(content: &[u8]) -> Option<usize> {
    let (&first, rest) = content.split_first()?;
    if first & 0x80 != 0 {
        return None;
    }
    let digits = if first == 0 { rest } else { content };
    let (&top, _) = digits.split_first()?;
    if top == 0 || (first == 0 && top & 0x80 == 0) {
        return None;
    }
    Some(digits.len() * 8 - top.leading_zeros() as usize)
}

/// The PEM in a key document: the provider's JSON envelope (`data.publicKey`, or a few other
/// spellings) or a bare PEM.
fn pem_from_document(body: &str) -> Option<String> {
    let trimmed = body.trim_start();
    if trimmed.starts_with("-----BEGIN") {
        return Some(trimmed.to_owned());
    }
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let candidates = [
        "/data/publicKey",
        "/data/public_key",
        "/publicKey",
        "/public_key",
        "/signing_keys/0/public_key",
        "/result/publicKey",
    ];
    candidates
        .iter()
        .find_map(|pointer| value.pointer(pointer).and_then(serde_json::Value::as_str))
        .map(str::to_owned)
}

/// Where the verifier's key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A key read from a file at start-up.
    Fixed(PublicKey),
    /// A key document at a URL, fetched on first use and cached.
    Url(Url),
}

#[derive(Debug, Default)]
struct Cached {
    key: Option<PublicKey>,
    /// When the key in `key` was fetched.
    fetched_at: Option<Instant>,
    /// When a fetch was last tried.
    attempted_at: Option<Instant>,
}

/// Verifies delivery signatures, fetching and caching the key when it comes from a URL.
#[derive(Debug)]
pub struct Verifier {
    source: KeySource,
    client: reqwest::Client,
    cached: Mutex<Cached>,
    refetch_interval: Duration,
}

impl Verifier {
    /// A verifier for `source`; `client` fetches the key document (unused for a fixed key).
    #[must_use]
    pub fn new(source: KeySource, client: reqwest::Client) -> Self {
        Self {
            source,
            client,
            cached: Mutex::new(Cached::default()),
            refetch_interval: REFETCH_INTERVAL,
        }
    }

    /// Replaces [`REFETCH_INTERVAL`] (tests use a short one).
    #[must_use]
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Checks the base64 `signature` (the header value, `None` when absent) over `body`.
    pub async fn verify(
        &self,
        body: &[u8],
        signature: Option<&[u8]>,
    ) -> Result<(), SignatureError> {
        self.verify_either(body, None, signature).await
    }

    /// Checks the base64 `signature` over `body`, or else over `alternative` (another form of
    /// the same body, such as its compact re-serialisation): one key fetch serves both.
    pub async fn verify_either(
        &self,
        body: &[u8],
        alternative: Option<&[u8]>,
        signature: Option<&[u8]>,
    ) -> Result<(), SignatureError> {
        let signature = signature.ok_or(SignatureError::Missing)?;
        let signature = std::str::from_utf8(signature)
            .ok()
            .map(str::trim)
            .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .ok_or(SignatureError::NotBase64)?;
        let signs = |key: &PublicKey| {
            key.verifies(body, &signature)
                || alternative.is_some_and(|other| key.verifies(other, &signature))
        };
        let url = match &self.source {
            KeySource::Fixed(key) => {
                return if signs(key) {
                    Ok(())
                } else {
                    Err(SignatureError::Mismatch)
                };
            }
            KeySource::Url(url) => url,
        };
        let key = self.key(url, false).await?;
        if signs(&key) {
            return Ok(());
        }
        // The provider may have rotated its key: fetch it again, once, rate limited.
        let fresh = self.key(url, true).await?;
        if fresh.rsa_der != key.rsa_der && signs(&fresh) {
            return Ok(());
        }
        Err(SignatureError::Mismatch)
    }

    /// Fetches the key now (at start-up, to fail early on a bad URL).
    pub async fn prefetch(&self) -> Result<(), KeyError> {
        if let KeySource::Url(url) = &self.source {
            let key = self.fetch(url).await?;
            let mut cached = self.cached.lock().await;
            cached.key = Some(key);
            cached.fetched_at = Some(Instant::now());
            cached.attempted_at = cached.fetched_at;
        }
        Ok(())
    }

    /// The cached key, fetched when missing, stale, or `after_failure` (rate limited).
    async fn key(&self, url: &Url, after_failure: bool) -> Result<PublicKey, SignatureError> {
        let mut cached = self.cached.lock().await;
        let since_attempt = cached.attempted_at.map(|at| at.elapsed());
        let key_age = cached.fetched_at.map(|at| at.elapsed());
        let wanted = match (&cached.key, since_attempt) {
            (_, None) => true,
            // No key yet: try again, but not on every delivery while the URL is down.
            (None, Some(since)) => since >= NO_KEY_RETRY_INTERVAL.min(self.refetch_interval),
            (Some(_), Some(since)) => {
                since >= self.refetch_interval
                    && (after_failure || key_age.is_none_or(|age| age >= KEY_TTL))
            }
        };
        if wanted {
            cached.attempted_at = Some(Instant::now());
            match self.fetch(url).await {
                Ok(key) => {
                    cached.fetched_at = cached.attempted_at;
                    tracing::info!(url = %url, "fetched the webhook public key");
                    cached.key = Some(key);
                }
                Err(error) => {
                    // A stale key is still better than none.
                    tracing::warn!(error = %error, "cannot refresh the webhook public key");
                }
            }
        }
        cached.key.clone().ok_or_else(|| {
            SignatureError::NoKey(format!("the key from `{url}` could not be fetched"))
        })
    }

    async fn fetch(&self, url: &Url) -> Result<PublicKey, KeyError> {
        let fetch_error = |reason: String| KeyError::Fetch {
            url: url.to_string(),
            reason,
        };
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|error| fetch_error(error.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(fetch_error(format!("HTTP {}", response.status().as_u16())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| fetch_error(error.without_url().to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_KEY_DOCUMENT {
                return Err(fetch_error("the document is larger than 64 KiB".into()));
            }
        }
        let text = String::from_utf8_lossy(&body);
        let pem = pem_from_document(&text)
            .ok_or_else(|| fetch_error("no public key in the document".into()))?;
        PublicKey::from_pem(&pem).map_err(|error| fetch_error(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2048-bit test-only key, and a signature of `hello` made with its private half
    /// (`openssl dgst -sha256 -sign`).
    const TEST_PEM: &str = include_str!("../../../tests/fixtures/webhook/test-only-public.pem");

    #[test]
    fn key_files_are_named_in_errors() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/webhook");
        let key = PublicKey::from_pem_file(&fixtures.join("test-only-public.pem")).unwrap();
        assert_eq!(key.rsa_der, PublicKey::from_pem(TEST_PEM).unwrap().rsa_der);
        let missing = fixtures.join("missing\u{1b}[2J.pem");
        let error = PublicKey::from_pem_file(&missing).unwrap_err();
        assert!(matches!(error, KeyFileError::Read { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!(
                "cannot read the public key `{}`",
                escape_for_terminal(&missing.display().to_string(), 200)
            )
        );
        assert!(error.to_string().ends_with("missing\\u{1b}[2J.pem`"));
        let not_a_key = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let error = PublicKey::from_pem_file(&not_a_key).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("`{}` is not a usable public key", not_a_key.display())
        );
        let KeyFileError::Key { source, .. } = error else {
            panic!("{error:?}")
        };
        assert!(matches!(source, KeyError::NoPem), "{source:?}");
    }

    #[test]
    fn reads_spki_pem_and_documents() {
        let key = PublicKey::from_pem(TEST_PEM).unwrap();
        assert!(key.rsa_der.len() > 256);
        let document = serde_json::json!({
            "success": true,
            "data": {"publicKey": TEST_PEM},
            "message": ""
        })
        .to_string();
        assert_eq!(pem_from_document(&document).as_deref(), Some(TEST_PEM));
        assert!(PublicKey::from_pem("nothing").is_err());
        assert!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
    }

    /// The DER of the test key, SPKI and PKCS#1, and its signature of `hello`.
    fn test_key_material() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (_, spki) = pem_block(TEST_PEM).unwrap();
        let pkcs1 = spki_to_rsa(&spki).unwrap().to_vec();
        let signature = base64::engine::general_purpose::STANDARD
            .decode(include_str!("../../../tests/fixtures/webhook/test-only-hello.sig.b64").trim())
            .unwrap();
        (spki, pkcs1, signature)
    }

    fn armor(label: &str, der: &[u8]) -> String {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    }

    #[test]
    fn reads_pkcs1_pem_and_refuses_small_keys() {
        let (_, pkcs1, signature) = test_key_material();
        let key = PublicKey::from_pem(&armor("RSA PUBLIC KEY", &pkcs1)).unwrap();
        assert!(key.verifies(b"hello", &signature));
        // A 1024-bit modulus (ring would refuse every signature): an error when loaded.
        let mut small = vec![0x30, 0x81, 0x89, 0x02, 0x81, 0x81, 0x00, 0xc0];
        small.extend(std::iter::repeat_n(0x55, 127));
        small.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        assert!(matches!(
            PublicKey::from_pem(&armor("RSA PUBLIC KEY", &small)),
            Err(KeyError::KeySize(1024))
        ));
    }

    #[test]
    fn every_truncation_of_a_valid_key_is_an_error() {
        let (spki, pkcs1, _) = test_key_material();
        for length in 0..spki.len() {
            let pem = armor("PUBLIC KEY", &spki[..length]);
            assert!(PublicKey::from_pem(&pem).is_err(), "SPKI cut at {length}");
        }
        for length in 0..pkcs1.len() {
            let pem = armor("RSA PUBLIC KEY", &pkcs1[..length]);
            assert!(PublicKey::from_pem(&pem).is_err(), "PKCS#1 cut at {length}");
        }
        // The PEM text cut anywhere: an error unless only the line end after it went.
        let complete = TEST_PEM.trim_end().len();
        for length in 0..TEST_PEM.len() {
            let result = PublicKey::from_pem(&TEST_PEM[..length]);
            assert_eq!(result.is_ok(), length >= complete, "PEM cut at {length}");
        }
        // Data after the key is refused too.
        let mut longer = spki.clone();
        longer.push(0);
        assert!(PublicKey::from_pem(&armor("PUBLIC KEY", &longer)).is_err());
    }

    /// Property test: random bytes, random DER under either label, and random damage to a valid
    /// key never panic; random material is refused, and no damaged key that still loads
    /// verifies the genuine signature.
    #[test]
    fn random_and_damaged_key_material_is_an_error_never_a_panic() {
        let (spki, pkcs1, signature) = test_key_material();
        let mut rng = fastrand::Rng::with_seed(0x5eed_c0de);
        for _ in 0..3_000 {
            let length = rng.usize(0..600);
            let bytes: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(length).collect();
            assert!(PublicKey::from_pem(&String::from_utf8_lossy(&bytes)).is_err());
            let _ = spki_to_rsa(&bytes);
            let _ = check_rsa_public_key(&bytes);
            assert!(PublicKey::from_pem(&armor("PUBLIC KEY", &bytes)).is_err());
            assert!(PublicKey::from_pem(&armor("RSA PUBLIC KEY", &bytes)).is_err());
            // Random DER-looking input: a sequence tag and a length, then random bytes.
            let mut der = vec![0x30, rng.u8(..)];
            der.extend_from_slice(&bytes);
            assert!(PublicKey::from_pem(&armor("PUBLIC KEY", &der)).is_err());
            assert!(PublicKey::from_pem(&armor("RSA PUBLIC KEY", &der)).is_err());

            // A valid key with one to three bytes changed, dropped or inserted.
            for (label, valid) in [("PUBLIC KEY", &spki), ("RSA PUBLIC KEY", &pkcs1)] {
                let mut damaged = valid.clone();
                for _ in 0..rng.usize(1..=3) {
                    let at = rng.usize(0..damaged.len());
                    match rng.u8(0..3) {
                        0 => damaged[at] ^= rng.u8(1..),
                        1 => {
                            damaged.remove(at);
                        }
                        _ => damaged.insert(at, rng.u8(..)),
                    }
                }
                if damaged == *valid {
                    continue;
                }
                if let Ok(key) = PublicKey::from_pem(&armor(label, &damaged)) {
                    assert!(
                        !key.verifies(b"hello", &signature),
                        "{label}: {damaged:02x?}"
                    );
                }
            }

            // The PEM text with random characters (multi-byte ones too) put in or replaced.
            let mut text: Vec<char> = TEST_PEM.chars().collect();
            let at = rng.usize(0..text.len());
            let junk =
                ['-', '=', '\n', ' ', 'A', '/', '\u{e9}', '\u{1F600}', '\0'][rng.usize(0..9)];
            if rng.bool() {
                text[at] = junk;
            } else {
                text.insert(at, junk);
            }
            let text: String = text.into_iter().collect();
            if let Ok(key) = PublicKey::from_pem(&text) {
                // Whitespace is skipped in the base64: the same key, which still verifies.
                let _ = key.verifies(b"hello", &signature);
            }
        }
    }

    #[tokio::test]
    async fn verifies_and_refuses() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = PublicKey::from_pem(TEST_PEM).unwrap();
        let verifier = Verifier::new(KeySource::Fixed(key), reqwest::Client::new());
        let signature = include_str!("../../../tests/fixtures/webhook/test-only-hello.sig.b64");
        assert_eq!(
            verifier.verify(b"hello", Some(signature.as_bytes())).await,
            Ok(())
        );
        assert_eq!(
            verifier.verify(b"hellO", Some(signature.as_bytes())).await,
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verifier.verify(b"hello", None).await,
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verifier.verify(b"hello", Some(b"%%%")).await,
            Err(SignatureError::NotBase64)
        );
    }

    /// Serves whatever document `current` holds, on 127.0.0.1; counts the requests.
    fn document_server(
        current: std::sync::Arc<std::sync::Mutex<String>>,
    ) -> (Url, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/.well-known/webhooks.json",
            listener.local_addr().unwrap()
        )
        .parse()
        .unwrap();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut request = [0; 2048];
                let _ = stream.read(&mut request);
                let body = current.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, hits)
    }

    #[tokio::test]
    async fn a_rotated_key_is_fetched_again_once_per_interval() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let document = |pem: &str| {
            serde_json::json!({"success": true, "data": {"publicKey": pem}}).to_string()
        };
        let other_pem = include_str!("../../../tests/fixtures/webhook/test-only-other-public.pem");
        let hello = include_str!("../../../tests/fixtures/webhook/test-only-hello.sig.b64");
        let other_hello =
            include_str!("../../../tests/fixtures/webhook/test-only-other-hello.sig.b64");
        let current = std::sync::Arc::new(std::sync::Mutex::new(document(TEST_PEM)));
        let (url, fetches) = document_server(std::sync::Arc::clone(&current));
        let verifier = Verifier::new(KeySource::Url(url), reqwest::Client::new())
            .with_refetch_interval(Duration::from_millis(300));
        verifier.prefetch().await.unwrap();
        assert_eq!(
            verifier.verify(b"hello", Some(hello.as_bytes())).await,
            Ok(())
        );
        // The provider rotates its key.
        *current.lock().unwrap() = document(other_pem);
        // Too soon after the last fetch: the old key is still used, nothing is fetched.
        assert_eq!(
            verifier
                .verify(b"hello", Some(other_hello.as_bytes()))
                .await,
            Err(SignatureError::Mismatch)
        );
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(350)).await;
        // A failure now fetches the key again, once, and the new signature verifies.
        assert_eq!(
            verifier
                .verify(b"hello", Some(other_hello.as_bytes()))
                .await,
            Ok(())
        );
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Forgeries right after do not fetch again.
        for _ in 0..3 {
            assert_eq!(
                verifier.verify(b"hello", Some(hello.as_bytes())).await,
                Err(SignatureError::Mismatch)
            );
        }
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
