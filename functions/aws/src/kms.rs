//! Sealing stored credentials with KMS: each value is encrypted under the deployment's
//! credentials key (`CYNODE_CREDENTIALS_KEY_ID`) with its owner and credential id as the
//! encryption context, so a ciphertext opens only for that credential, and only for a
//! role allowed `kms:Decrypt` on the key (the functions that hand credentials out). A
//! credential is at most 4 KiB, which KMS encrypts directly: no data key to manage.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use cynode_domain::credential::{SealContext, Sealed};
use cynode_domain::ports::{CredentialCipher, StoreResult};
use cynode_domain::StoreError;

#[derive(Debug, Clone)]
pub struct KmsCipher {
    client: Client,
    key_id: String,
}

impl KmsCipher {
    pub fn new(client: Client, key_id: String) -> Self {
        Self { client, key_id }
    }
}

/// A KMS failure as a store error: a refused ciphertext (another context, or not ours)
/// is corrupt data; anything else is the service being unavailable. The message never
/// holds the value.
fn kms_error<E, R>(err: aws_sdk_kms::error::SdkError<E, R>) -> StoreError
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err
        .as_service_error()
        .and_then(|e| e.code())
        .map(str::to_owned);
    match code.as_deref() {
        Some("InvalidCiphertextException" | "IncorrectKeyException") => {
            StoreError::Corrupt("a sealed credential did not open under its own context".into())
        }
        Some(code) => StoreError::Unavailable(format!("KMS refused: {code}")),
        None => StoreError::Unavailable(format!(
            "KMS unreachable: {}",
            aws_sdk_kms::error::DisplayErrorContext(&err)
        )),
    }
}

#[async_trait]
impl CredentialCipher for KmsCipher {
    async fn seal(&self, value: &str, context: &SealContext) -> StoreResult<Sealed> {
        let mut request = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(value.as_bytes()));
        for (name, part) in context.pairs() {
            request = request.encryption_context(name, part);
        }
        let answer = request.send().await.map_err(kms_error)?;
        let blob = answer
            .ciphertext_blob
            .ok_or_else(|| StoreError::Unavailable("KMS returned no ciphertext".into()))?;
        Ok(Sealed(blob.into_inner()))
    }

    async fn open(&self, sealed: &Sealed, context: &SealContext) -> StoreResult<String> {
        let mut request = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(sealed.0.clone()));
        for (name, part) in context.pairs() {
            request = request.encryption_context(name, part);
        }
        let answer = request.send().await.map_err(kms_error)?;
        let plain = answer
            .plaintext
            .ok_or_else(|| StoreError::Unavailable("KMS returned no plaintext".into()))?;
        String::from_utf8(plain.into_inner())
            .map_err(|_| StoreError::Corrupt("a sealed credential is not text".into()))
    }
}
