//! Originals live in a blob store behind a small trait. The default is a
//! local directory; an S3-compatible store can implement the same trait.

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use futures::stream::BoxStream;

/// A blob read as a stream of chunks, with its size: served without being
/// held in memory whole.
pub struct BlobReader {
    pub size: u64,
    pub chunks: BoxStream<'static, std::io::Result<bytes::Bytes>>,
}

/// Where uploaded originals are kept, by key.
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
    /// A scratch directory on the same filesystem, for uploads in progress.
    fn scratch_dir(&self) -> PathBuf;
}

/// A directory on local disk: `<dir>/<key>`.
#[derive(Debug, Clone)]
pub struct LocalDir {
    dir: PathBuf,
}

impl LocalDir {
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join("tmp"))?;
        Ok(Self { dir })
    }

    fn path(&self, key: &str) -> std::io::Result<PathBuf> {
        let ok = !key.is_empty() && key.split('/').all(|p| !p.is_empty() && p != "." && p != "..");
        if !ok {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad blob key"));
        }
        Ok(self.dir.join(key))
    }
}

impl BlobStore for LocalDir {
    fn put_file<'a>(&'a self, key: &'a str, from: &'a Path) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async move {
            let to = self.path(key)?;
            if let Some(parent) = to.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            if tokio::fs::try_exists(&to).await? {
                tokio::fs::remove_file(from).await?;
                return Ok(());
            }
            tokio::fs::rename(from, &to).await
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<Vec<u8>>> {
        Box::pin(async move { tokio::fs::read(self.path(key)?).await })
    }

    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<BlobReader>> {
        Box::pin(async move {
            use futures::StreamExt;
            let file = tokio::fs::File::open(self.path(key)?).await?;
            let size = file.metadata().await?.len();
            let chunks = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).boxed();
            Ok(BlobReader { size, chunks })
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)?).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        })
    }

    fn scratch_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }
}
