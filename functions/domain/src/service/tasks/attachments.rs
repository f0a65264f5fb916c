//! Attachments: upload URLs for a task's files, and the check that a task names only
//! the caller's uploaded ones.

use super::TaskService;
use crate::error::{Error, Result};
use crate::ids::AttachmentId;
use crate::limits::MAX_ATTACHMENT_BYTES;
use crate::principal::Principal;
use crate::task::Attachment;
use crate::wire::{AttachmentUpload, CreateAttachmentRequest};
use crate::ErrorCode;
use time::Duration;

pub(super) fn check_attachment_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0']);
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            ErrorCode::InvalidAttachmentName,
            "attachment name must be a plain file name (no '/', not '.' or '..', at most 255 bytes)",
        ))
    }
}

impl TaskService {
    /// Registers an attachment and returns where to upload it.
    pub async fn create_attachment(
        &self,
        principal: &Principal,
        req: CreateAttachmentRequest,
    ) -> Result<AttachmentUpload> {
        check_attachment_name(&req.name)?;
        if req.size > MAX_ATTACHMENT_BYTES {
            return Err(Error::validation(
                ErrorCode::AttachmentTooLarge,
                format!(
                    "attachments are at most {MAX_ATTACHMENT_BYTES} bytes, got {}",
                    req.size
                ),
            ));
        }
        let now = self.clock.now();
        let id = AttachmentId::generate();
        let attachment = Attachment {
            blob_key: format!("attachments/{}/{id}", principal.user_id),
            id,
            owner: principal.user_id.clone(),
            name: req.name,
            size: req.size,
            created_at: now,
        };
        self.tasks.insert_attachment(&attachment).await?;
        let ttl = self.settings.upload_url_ttl_secs;
        let upload_url = self
            .blobs
            .upload_url(&attachment.blob_key, attachment.size, ttl)
            .await?;
        Ok(AttachmentUpload {
            attachment_id: attachment.id,
            upload_url,
            expires_at: now + Duration::seconds(ttl as i64),
        })
    }

    pub(super) async fn uploaded_attachment(
        &self,
        principal: &Principal,
        id: &AttachmentId,
    ) -> Result<Attachment> {
        let attachment = self
            .tasks
            .attachment(id)
            .await?
            .filter(|a| a.owner == principal.user_id)
            .ok_or_else(|| {
                Error::validation(
                    ErrorCode::UnknownAttachment,
                    format!("no attachment '{id}'"),
                )
            })?;
        match self.blobs.size(&attachment.blob_key).await? {
            Some(size) if size == attachment.size => Ok(attachment),
            Some(size) => Err(Error::validation(
                ErrorCode::AttachmentSizeMismatch,
                format!(
                    "attachment '{id}' was announced as {} bytes but {size} were uploaded",
                    attachment.size
                ),
            )),
            None => Err(Error::validation(
                ErrorCode::AttachmentNotUploaded,
                format!("attachment '{id}' has not been uploaded yet"),
            )),
        }
    }
}
