//! The blob store over S3: task inputs too large for an item, job output streams, and
//! attachments (uploaded and downloaded directly through presigned URLs, so large files
//! never pass through a Lambda).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use cynode_domain::ports::{BlobStore, StoreResult};
use cynode_domain::StoreError;

#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

fn unavailable(err: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(format!("S3: {}", DisplayErrorContext(err)))
}

fn presigning(expires_in_secs: u64) -> StoreResult<PresigningConfig> {
    PresigningConfig::expires_in(Duration::from_secs(expires_in_secs))
        .map_err(|err| StoreError::Corrupt(format!("presigning: {err}")))
}

impl S3Blobs {
    pub fn new(client: Client, bucket: String) -> Self {
        Self { client, bucket }
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> StoreResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None)
            }
            Err(err) => return Err(unavailable(err)),
        };
        let bytes = out.body.collect().await.map_err(unavailable)?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn size(&self, key: &str) -> StoreResult<Option<u64>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.content_length.unwrap_or(0).max(0) as u64)),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn upload_url(&self, key: &str, size: u64, expires_in_secs: u64) -> StoreResult<String> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(size as i64)
            .presigned(presigning(expires_in_secs)?)
            .await
            .map_err(unavailable)?;
        Ok(request.uri().to_owned())
    }

    async fn download_url(&self, key: &str, expires_in_secs: u64) -> StoreResult<String> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(expires_in_secs)?)
            .await
            .map_err(unavailable)?;
        Ok(request.uri().to_owned())
    }

    async fn delete_prefix(&self, prefix: &str) -> StoreResult<u64> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        // A page of at most 1000 keys at a time, deleted a few at once (one DeleteObject
        // each: a task has tens of objects, not thousands).
        let mut deleted = 0;
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(unavailable)?;
            let keys: Vec<String> = page
                .contents()
                .iter()
                .filter_map(|object| object.key().map(str::to_owned))
                .collect();
            deleted += keys.len() as u64;
            stream::iter(keys)
                .map(|key| async move {
                    self.client
                        .delete_object()
                        .bucket(&self.bucket)
                        .key(key)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(unavailable)
                })
                .buffer_unordered(8)
                .try_collect::<Vec<()>>()
                .await?;
            match page.next_continuation_token {
                Some(next) if page.is_truncated == Some(true) => token = Some(next),
                _ => return Ok(deleted),
            }
        }
    }
}
