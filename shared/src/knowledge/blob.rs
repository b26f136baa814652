//! Originals and export zips live in a blob store behind a small trait,
//! implemented on the `object_store` crate: a local directory by default,
//! an S3-compatible bucket when `blobs.url` is `s3://…`. With S3, workers on
//! other hosts read originals and write exports without a shared disk; only
//! uploads in progress use local scratch space.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::config::BlobSettings;

/// A blob read as a stream of chunks, with its size: served without being
/// held in memory whole.
pub struct BlobReader {
    pub size: u64,
    pub chunks: BoxStream<'static, std::io::Result<bytes::Bytes>>,
}

/// Where uploaded originals and exports are kept, by key.
pub trait BlobStore: Send + Sync {
    /// Moves the file at `from` in under `key` (replacing nothing if the
    /// key exists: keys are content hashes).
    fn put_file<'a>(&'a self, key: &'a str, from: &'a Path) -> BoxFuture<'a, std::io::Result<()>>;
    /// The bytes under `key`.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<Vec<u8>>>;
    /// The bytes under `key`, as a stream.
    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<BlobReader>>;
    /// Removes `key`; a missing key is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<()>>;
    /// A scratch directory on local disk, for uploads in progress.
    fn scratch_dir(&self) -> PathBuf;
}

/// Files up to this size are sent in one request; bigger ones in parts of
/// this size (S3 wants parts of at least 5 MiB), so memory stays bounded.
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts in flight at once for one big file.
const PARTS_IN_FLIGHT: usize = 2;

/// A blob store on an `object_store` backend.
#[derive(Debug, Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    scratch: PathBuf,
}

fn io(e: object_store::Error) -> std::io::Error {
    match e {
        object_store::Error::NotFound { .. } => std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()),
        other => std::io::Error::other(other.to_string()),
    }
}

impl Blobs {
    /// The store `settings` name, with scratch space under `local_dir/tmp`
    /// (`local_dir` also holds the blobs when no URL is set).
    pub fn open(settings: &BlobSettings, local_dir: &str) -> std::io::Result<Self> {
        let scratch = PathBuf::from(local_dir).join("tmp");
        std::fs::create_dir_all(&scratch)?;
        let store: Arc<dyn ObjectStore> = if settings.url.is_empty() {
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(local_dir).map_err(io)?)
        } else if settings.url.starts_with("s3://") {
            Arc::new(Self::s3(settings).map_err(io)?)
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("blobs.url {:?} is neither empty (local disk) nor s3://bucket", settings.url),
            ));
        };
        Ok(Self { store, scratch })
    }

    /// An S3-compatible bucket; what the settings leave empty comes from
    /// the standard `AWS_*` variables.
    fn s3(s: &BlobSettings) -> object_store::Result<object_store::aws::AmazonS3> {
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(&s.url).with_allow_http(s.allow_http);
        for (value, set) in [
            (&s.endpoint, object_store::aws::AmazonS3ConfigKey::Endpoint),
            (&s.region, object_store::aws::AmazonS3ConfigKey::Region),
            (&s.access_key_id, object_store::aws::AmazonS3ConfigKey::AccessKeyId),
            (&s.secret_access_key, object_store::aws::AmazonS3ConfigKey::SecretAccessKey),
        ] {
            if !value.is_empty() {
                b = b.with_config(set, value);
            }
        }
        b.build()
    }

    /// The store's key for `key`; refuses empty, `.` and `..` segments.
    fn key(key: &str) -> std::io::Result<Key> {
        let ok = !key.is_empty() && key.split('/').all(|p| !p.is_empty() && p != "." && p != "..");
        let parsed = Key::parse(key).ok().filter(|_| ok);
        parsed.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad blob key"))
    }

    /// Sends the file at `from` to `key`, in parts when it is big.
    async fn upload(&self, key: &Key, from: &Path) -> std::io::Result<()> {
        let mut file = tokio::fs::File::open(from).await?;
        let size = file.metadata().await?.len();
        if size <= PART_BYTES as u64 {
            let bytes = tokio::fs::read(from).await?;
            self.store.put(key, PutPayload::from(bytes)).await.map_err(io)?;
            return Ok(());
        }
        let mut upload =
            WriteMultipart::new_with_chunk_size(self.store.put_multipart(key).await.map_err(io)?, PART_BYTES);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            upload.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(io)?;
            upload.write(&buf[..n]);
        }
        upload.finish().await.map_err(io)?;
        Ok(())
    }
}

impl BlobStore for Blobs {
    fn put_file<'a>(&'a self, key: &'a str, from: &'a Path) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async move {
            let key = Self::key(key)?;
            match self.store.head(&key).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => self.upload(&key, from).await?,
                Err(e) => return Err(io(e)),
            }
            tokio::fs::remove_file(from).await
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<Vec<u8>>> {
        Box::pin(async move {
            let found = self.store.get(&Self::key(key)?).await.map_err(io)?;
            Ok(found.bytes().await.map_err(io)?.to_vec())
        })
    }

    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<BlobReader>> {
        Box::pin(async move {
            use futures::StreamExt;
            let found = self.store.get(&Self::key(key)?).await.map_err(io)?;
            let size = found.meta.size;
            Ok(BlobReader { size, chunks: found.into_stream().map(|c| c.map_err(io)).boxed() })
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async move {
            match self.store.delete(&Self::key(key)?).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(io(e)),
            }
        })
    }

    fn scratch_dir(&self) -> PathBuf {
        self.scratch.clone()
    }
}
