//! Where a bulk dataset lives: an object store (`s3://`, `gs://`, `az://`) or a local directory
//! (`file://` or a plain path), through the `object_store` crate.
//!
//! Uploads stream a local file through [`object_store::buffered::BufWriter`], which sends a
//! file up to its capacity in one `PUT` and switches to a multipart upload beyond it, so memory
//! stays at one part per upload whatever the file size. Both are atomic: the object appears
//! whole or not at all (a local store writes a staging file and renames it).

use std::path::Path as LocalPath;
use std::sync::Arc;

use futures_util::StreamExt as _;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::buffered::BufWriter;
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::BulkError;

/// The default size above which an upload becomes multipart, and the size of each part: 10 MiB
/// (S3 requires parts of at least 5 MiB).
pub const DEFAULT_PART_SIZE: usize = 10 << 20;

/// An uploaded file: its size and the SHA-256 of its bytes (lower-case hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Bytes uploaded.
    pub bytes: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
}

/// One object under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The path relative to the root, `/`-separated.
    pub path: String,
    /// The size in bytes.
    pub bytes: u64,
    /// The entity tag, if the store gives one (S3: the MD5 of a single-part upload, or
    /// `<md5 of the part MD5s>-<parts>` for a multipart one).
    pub e_tag: Option<String>,
}

/// A dataset root on an object store or a local directory.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    shown: String,
    part_size: usize,
}

impl Store {
    /// Opens `location`: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`
    /// (also `abfs://`, `abfss://`, `azure://`), `file:///path`, or a plain local path (created
    /// if missing).
    ///
    /// `settings` are configuration keys and values as `object_store`'s builders read them
    /// from the environment (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, `GOOGLE_SERVICE_ACCOUNT`,
    /// `AZURE_STORAGE_ACCOUNT_NAME`, ...); the library reads no environment itself, the caller
    /// passes them in. Keys a provider does not know are ignored. For the cloud schemes, the
    /// ring TLS provider is installed as the process default if none is.
    pub fn open(location: &str, settings: &[(String, String)]) -> Result<Self, BulkError> {
        let shown = chatdump_core::escape::escape_for_terminal(location, 200);
        let location_error = |reason: String| BulkError::Location {
            location: shown.clone(),
            reason,
        };
        let store_error = |source: object_store::Error| BulkError::Store {
            location: shown.clone(),
            source,
        };
        let scheme = location
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        let local = |dir: &LocalPath| -> Result<(Arc<dyn ObjectStore>, Path), BulkError> {
            std::fs::create_dir_all(dir).map_err(|source| BulkError::Io {
                action: "create the directory",
                path: shown.clone(),
                source,
            })?;
            let store = LocalFileSystem::new_with_prefix(dir).map_err(store_error)?;
            Ok((Arc::new(store), Path::default()))
        };
        let (inner, prefix): (Arc<dyn ObjectStore>, Path) = match scheme.as_deref() {
            None => local(LocalPath::new(location))?,
            Some("file") => {
                let url: chatdump_api::Url = location
                    .parse()
                    .map_err(|error| location_error(format!("not a URL ({error})")))?;
                let dir = url
                    .to_file_path()
                    .map_err(|()| location_error("not a local file URL".into()))?;
                local(&dir)?
            }
            Some(scheme) => {
                // The HTTP client needs a TLS crypto provider: ring, as for the API client. `Err`
                // means one is installed already, which is all that is needed.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let url: chatdump_api::Url = location
                    .parse()
                    .map_err(|error| location_error(format!("not a URL ({error})")))?;
                let prefix = Path::from_url_path(url.path())
                    .map_err(|error| location_error(format!("bad path ({error})")))?;
                let store: Arc<dyn ObjectStore> = match scheme {
                    "s3" | "s3a" => {
                        let mut builder = AmazonS3Builder::new().with_url(location);
                        for (key, value) in settings {
                            if let Ok(key) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                                builder = builder.with_config(key, value);
                            }
                        }
                        Arc::new(builder.build().map_err(store_error)?)
                    }
                    "gs" => {
                        let mut builder = GoogleCloudStorageBuilder::new().with_url(location);
                        for (key, value) in settings {
                            if let Ok(key) = key.to_ascii_lowercase().parse::<GoogleConfigKey>() {
                                builder = builder.with_config(key, value);
                            }
                        }
                        Arc::new(builder.build().map_err(store_error)?)
                    }
                    "az" | "azure" | "abfs" | "abfss" | "adl" => {
                        let mut builder = MicrosoftAzureBuilder::new().with_url(location);
                        for (key, value) in settings {
                            if let Ok(key) = key.to_ascii_lowercase().parse::<AzureConfigKey>() {
                                builder = builder.with_config(key, value);
                            }
                        }
                        Arc::new(builder.build().map_err(store_error)?)
                    }
                    other => {
                        return Err(location_error(format!(
                            "unknown scheme `{}`",
                            chatdump_core::escape::escape_for_terminal(other, 20)
                        )));
                    }
                };
                (store, prefix)
            }
        };
        Ok(Self {
            inner,
            prefix,
            shown,
            part_size: DEFAULT_PART_SIZE,
        })
    }

    /// Sets the multipart threshold and part size (at least 5 MiB for S3).
    #[must_use]
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes.max(1);
        self
    }

    /// The location as given, escaped for display.
    #[must_use]
    pub fn shown(&self) -> &str {
        &self.shown
    }

    fn path(&self, relative: &str) -> Path {
        let mut path = self.prefix.clone();
        for part in relative.split('/').filter(|part| !part.is_empty()) {
            path = path.clone().join(part);
        }
        path
    }

    fn relative(&self, path: &Path) -> String {
        path.prefix_match(&self.prefix).map_or_else(
            || path.to_string(),
            |parts| {
                parts
                    .map(|part| part.as_ref().to_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            },
        )
    }

    fn object_error(
        &self,
        action: &'static str,
        relative: &str,
    ) -> impl FnOnce(object_store::Error) -> BulkError {
        let path = format!("{}/{relative}", self.shown.trim_end_matches('/'));
        move |source| BulkError::Object {
            action,
            path,
            source,
        }
    }

    /// Uploads the local file `local` to `relative`, streaming it (multipart above the part
    /// size), and returns its size and SHA-256.
    pub async fn upload_file(
        &self,
        local: &LocalPath,
        relative: &str,
    ) -> Result<Uploaded, BulkError> {
        let io_error = |source| BulkError::Io {
            action: "read",
            path: chatdump_core::escape::escape_for_terminal(&local.display().to_string(), 200),
            source,
        };
        let mut file = tokio::fs::File::open(local).await.map_err(io_error)?;
        let mut writer =
            BufWriter::with_capacity(Arc::clone(&self.inner), self.path(relative), self.part_size)
                .with_max_concurrency(4);
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; 1 << 20];
        let mut bytes = 0u64;
        let upload_error = |source| BulkError::Io {
            action: "upload",
            path: format!("{}/{relative}", self.shown.trim_end_matches('/')),
            source,
        };
        let written: Result<(), std::io::Error> = async {
            loop {
                let read = file.read(&mut buffer).await?;
                if read == 0 {
                    return Ok(());
                }
                hasher.update(&buffer[..read]);
                bytes += read as u64;
                writer.write_all(&buffer[..read]).await?;
            }
        }
        .await;
        if let Err(error) = written {
            // Abandons a multipart upload, so no parts are left behind.
            let _ = writer.abort().await;
            return Err(upload_error(error));
        }
        // A failed shutdown cannot be aborted (the writer is shut down either way); a
        // multipart upload left incomplete by it is invisible, and removed by the bucket's
        // lifecycle rule for incomplete uploads.
        writer.shutdown().await.map_err(upload_error)?;
        Ok(Uploaded {
            bytes,
            sha256: hex(&hasher.finalize()),
        })
    }

    /// Writes a small object in one `PUT`.
    pub async fn put_bytes(&self, relative: &str, bytes: Vec<u8>) -> Result<(), BulkError> {
        self.inner
            .put(&self.path(relative), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(self.object_error("write", relative))
    }

    /// Reads a whole object; `None` when it does not exist.
    pub async fn get_bytes(&self, relative: &str) -> Result<Option<Vec<u8>>, BulkError> {
        match self.inner.get(&self.path(relative)).await {
            Ok(result) => result
                .bytes()
                .await
                .map(|bytes| Some(bytes.to_vec()))
                .map_err(self.object_error("read", relative)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.object_error("read", relative)(error)),
        }
    }

    /// Downloads an object to a local file.
    pub async fn download(&self, relative: &str, local: &LocalPath) -> Result<u64, BulkError> {
        let result = self
            .inner
            .get(&self.path(relative))
            .await
            .map_err(self.object_error("read", relative))?;
        let mut stream = result.into_stream();
        let io_error = |source| BulkError::Io {
            action: "write",
            path: chatdump_core::escape::escape_for_terminal(&local.display().to_string(), 200),
            source,
        };
        let mut file = tokio::fs::File::create(local).await.map_err(io_error)?;
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.object_error("read", relative))?;
            bytes += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(io_error)?;
        }
        file.flush().await.map_err(io_error)?;
        Ok(bytes)
    }

    /// Every object under `relative_dir` (the whole root for `""`), sorted by path.
    pub async fn list(&self, relative_dir: &str) -> Result<Vec<Listed>, BulkError> {
        let dir = self.path(relative_dir);
        let prefix = (!relative_dir.is_empty() || self.prefix.as_ref() != "").then_some(&dir);
        let mut stream = self.inner.list(prefix);
        let mut listed = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(self.object_error("list", relative_dir))?;
            listed.push(Listed {
                path: self.relative(&meta.location),
                bytes: meta.size,
                e_tag: meta.e_tag,
            });
        }
        listed.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listed)
    }

    /// Deletes an object; one that is already gone is not an error.
    pub async fn delete(&self, relative: &str) -> Result<(), BulkError> {
        match self.inner.delete(&self.path(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(self.object_error("delete", relative)(error)),
        }
    }

    /// Renames an object (a copy and a delete on object stores).
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), BulkError> {
        self.inner
            .rename(&self.path(from), &self.path(to))
            .await
            .map_err(self.object_error("rename", from))
    }

    /// Whether an object exists.
    pub async fn exists(&self, relative: &str) -> Result<bool, BulkError> {
        match self.inner.head(&self.path(relative)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(self.object_error("read", relative)(error)),
        }
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}
