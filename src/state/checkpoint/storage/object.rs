//! [`ObjectStorage`]: [`CheckpointStorage`] over the `object_store` crate
//! (feature `object-store`).

use std::io::{Read, Write};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::super::super::error::{Result, StateError};
use super::{
    check_name, check_prefix, CheckpointStorage, Counters, StorageCounters, MULTIPART_THRESHOLD,
};

/// Parts of one multipart upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// [`CheckpointStorage`] on any [`ObjectStore`]: the local filesystem, memory,
/// S3 and S3-compatible servers (or whatever store the caller builds).
///
/// Every call blocks on a runtime the value owns (tokio, current thread);
/// calling it from inside an async runtime is an error
/// ([`StateError::NotSupported`]), not a deadlock: run it on a blocking
/// thread there. Files larger than [`MULTIPART_THRESHOLD`] are uploaded in
/// parts of that size, 4 at a time, and the upload is
/// aborted on error. [`put_if_absent`](CheckpointStorage::put_if_absent)
/// uses [`PutMode::Create`] (S3: `If-None-Match: *`).
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    /// Set for [`ObjectStorage::local`]: files are fsynced after each put.
    fsync_root: Option<PathBuf>,
    describe: String,
    runtime: tokio::runtime::Runtime,
    counters: Counters,
}

impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStorage")
            .field("store", &self.describe)
            .finish()
    }
}

fn os_err(context: String, e: object_store::Error) -> StateError {
    let kind = match &e {
        object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => std::io::ErrorKind::AlreadyExists,
        object_store::Error::NotImplemented { .. } => std::io::ErrorKind::Unsupported,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => std::io::ErrorKind::PermissionDenied,
        _ => std::io::ErrorKind::Other,
    };
    StateError::io(context, std::io::Error::new(kind, e.to_string()))
}

impl ObjectStorage {
    /// Checkpoint storage on `store`, described as `describe` in errors (e.g.
    /// `s3://bucket/prefix`). Files are not fsynced by this type: the store
    /// decides durability (object stores: when a put returns).
    pub fn new(store: Arc<dyn ObjectStore>, describe: impl Into<String>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StateError::io("starting the object-store runtime", e))?;
        Ok(ObjectStorage {
            store,
            fsync_root: None,
            describe: describe.into(),
            runtime,
            counters: Counters::default(),
        })
    }

    /// In memory (tests, and a model of an object store's semantics).
    pub fn in_memory() -> Result<Self> {
        Self::new(Arc::new(object_store::memory::InMemory::new()), "memory://")
    }

    /// A local directory through `object_store`'s `LocalFileSystem`
    /// (created if needed); each stored file and its directory are fsynced
    /// before a put returns.
    pub fn local(root: impl AsRef<std::path::Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(&root)
            .map_err(|e| StateError::io(format!("creating {}", root.display()), e))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| os_err(format!("opening {}", root.display()), e))?;
        let mut this = Self::new(Arc::new(store), format!("file://{}", root.display()))?;
        this.fsync_root = Some(root);
        Ok(this)
    }

    /// An S3 bucket, configured from the environment as `object_store`'s
    /// `AmazonS3Builder::from_env` reads it (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, ...), with `endpoint` for an
    /// S3-compatible server (`http://` endpoints are allowed, and addressed
    /// path-style).
    pub fn s3(bucket: &str, endpoint: Option<&str>) -> Result<Self> {
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        let mut describe = format!("s3://{bucket}");
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
            describe = format!("{endpoint}/{bucket}");
        }
        let store = builder
            .build()
            .map_err(|e| os_err(format!("configuring S3 bucket {bucket}"), e))?;
        Self::new(Arc::new(store), describe)
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> Result<F::Output> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(StateError::NotSupported(
                "ObjectStorage blocks; call it from a blocking thread, not inside an async runtime"
                    .into(),
            ));
        }
        Ok(self.runtime.block_on(f))
    }

    fn path(&self, name: &str) -> Result<ObjectPath> {
        check_name(name)?;
        ObjectPath::parse(name)
            .map_err(|e| StateError::InvalidArgument(format!("storage name {name:?}: {e}")))
    }

    fn fsync(&self, name: &str) -> Result<()> {
        let Some(root) = &self.fsync_root else {
            return Ok(());
        };
        let path = root.join(name);
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| StateError::io(format!("fsyncing {}", path.display()), e))?;
        let parent = path.parent().unwrap_or(root);
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| StateError::io(format!("fsyncing directory {}", parent.display()), e))
    }
}

/// Reads up to `limit` bytes (fewer only at the end of `source`).
fn read_chunk(source: &mut dyn Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(limit.min(1 << 20));
    source.take(limit as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

impl CheckpointStorage for ObjectStorage {
    fn location(&self, name: &str) -> String {
        format!("{}/{name}", self.describe.trim_end_matches('/'))
    }

    fn put(&self, name: &str, source: &mut dyn Read) -> Result<u64> {
        let path = self.path(name)?;
        let loc = self.location(name);
        let first = read_chunk(source, MULTIPART_THRESHOLD)
            .map_err(|e| StateError::io(format!("reading the data for {loc}"), e))?;
        if first.len() < MULTIPART_THRESHOLD {
            // Small: one put (the source is exhausted).
            let n = first.len() as u64;
            self.block_on(self.store.put(&path, PutPayload::from(first)))?
                .map_err(|e| os_err(format!("storing {loc}"), e))?;
            self.fsync(name)?;
            self.counters.written(n);
            return Ok(n);
        }
        let counters = &self.counters;
        let total = self.block_on(async {
            let mut upload = self
                .store
                .put_multipart(&path)
                .await
                .map_err(|e| os_err(format!("starting a multipart upload of {loc}"), e))?;
            let mut total = 0u64;
            let mut in_flight = Vec::with_capacity(PARTS_IN_FLIGHT);
            let mut chunk = first;
            let result: Result<()> = async {
                loop {
                    if chunk.is_empty() {
                        break;
                    }
                    total += chunk.len() as u64;
                    counters.written(chunk.len() as u64);
                    in_flight.push(upload.put_part(PutPayload::from(chunk)));
                    if in_flight.len() >= PARTS_IN_FLIGHT {
                        for part in futures_util::future::join_all(in_flight.drain(..)).await {
                            part.map_err(|e| os_err(format!("uploading a part of {loc}"), e))?;
                        }
                    }
                    chunk = read_chunk(source, MULTIPART_THRESHOLD)
                        .map_err(|e| StateError::io(format!("reading the data for {loc}"), e))?;
                }
                for part in futures_util::future::join_all(in_flight.drain(..)).await {
                    part.map_err(|e| os_err(format!("uploading a part of {loc}"), e))?;
                }
                upload
                    .complete()
                    .await
                    .map_err(|e| os_err(format!("completing the multipart upload of {loc}"), e))?;
                Ok(())
            }
            .await;
            if let Err(e) = result {
                drop(in_flight);
                let _ = upload.abort().await;
                return Err(e);
            }
            Ok(total)
        })??;
        self.fsync(name)?;
        Ok(total)
    }

    fn put_if_absent(&self, name: &str, bytes: &[u8]) -> Result<bool> {
        let path = self.path(name)?;
        let loc = self.location(name);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let payload = PutPayload::from(bytes.to_vec());
        match self.block_on(self.store.put_opts(&path, payload, opts))? {
            Ok(_) => {
                self.fsync(name)?;
                self.counters.written(bytes.len() as u64);
                Ok(true)
            }
            Err(object_store::Error::AlreadyExists { .. }) => {
                self.counters.request();
                Ok(false)
            }
            Err(e) => Err(os_err(format!("storing {loc} if absent"), e)),
        }
    }

    fn supports_conditional_put(&self) -> bool {
        true
    }

    fn get(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.path(name)?;
        let loc = self.location(name);
        let bytes = self
            .block_on(async {
                let got = self.store.get(&path).await?;
                got.bytes().await
            })?
            .map_err(|e| os_err(format!("reading {loc}"), e))?;
        self.counters.read(bytes.len() as u64);
        Ok(bytes.to_vec())
    }

    fn get_range(&self, name: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let path = self.path(name)?;
        let loc = self.location(name);
        if range.end < range.start {
            return Err(StateError::InvalidArgument(format!(
                "byte range {range:?} of {loc} is reversed"
            )));
        }
        let want = range.end - range.start;
        let bytes = self
            .block_on(self.store.get_range(&path, range.clone()))?
            .map_err(|e| os_err(format!("reading bytes {range:?} of {loc}"), e))?;
        if bytes.len() as u64 != want {
            return Err(StateError::io(
                format!(
                    "reading bytes {range:?} of {loc}: got {} bytes",
                    bytes.len()
                ),
                std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            ));
        }
        self.counters.read(want);
        Ok(bytes.to_vec())
    }

    fn get_to(&self, name: &str, sink: &mut dyn Write) -> Result<u64> {
        let path = self.path(name)?;
        let loc = self.location(name);
        let n = self.block_on(async {
            let got = self
                .store
                .get(&path)
                .await
                .map_err(|e| os_err(format!("reading {loc}"), e))?;
            let mut stream = got.into_stream();
            let mut n = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| os_err(format!("reading {loc}"), e))?;
                sink.write_all(&chunk)
                    .map_err(|e| StateError::io(format!("copying {loc}"), e))?;
                n += chunk.len() as u64;
            }
            sink.flush()
                .map_err(|e| StateError::io(format!("copying {loc}"), e))?;
            Ok::<u64, StateError>(n)
        })??;
        self.counters.read(n);
        Ok(n)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        check_prefix(prefix)?;
        let trimmed = prefix.trim_end_matches('/');
        let path = if trimmed.is_empty() {
            None
        } else {
            Some(self.path(trimmed)?)
        };
        let loc = self.location(prefix);
        let names = self.block_on(async {
            let mut stream = self.store.list(path.as_ref());
            let mut names = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(|e| os_err(format!("listing {loc}"), e))?;
                let name = meta.location.to_string();
                if name.starts_with(prefix) && check_name(&name).is_ok() {
                    names.push(name);
                }
            }
            Ok::<Vec<String>, StateError>(names)
        })??;
        self.counters.request();
        Ok(names)
    }

    fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name)?;
        let loc = self.location(name);
        self.counters.request();
        match self.block_on(self.store.delete(&path))? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(os_err(format!("removing {loc}"), e)),
        }
    }

    fn counters(&self) -> StorageCounters {
        self.counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_an_async_runtime_is_an_error_not_a_deadlock() {
        let storage = ObjectStorage::in_memory().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = rt.block_on(async { storage.get("x") });
        assert!(
            matches!(result, Err(StateError::NotSupported(_))),
            "{result:?}"
        );
    }
}
