//! The in-memory credential store and a stand-in cipher. The cipher is no encryption: it
//! only keeps the value from being stored as its own text and checks the context, as KMS
//! does, so that service tests see a value bound to its owner and credential.

use async_trait::async_trait;

use crate::credential::{SealContext, Sealed, StoredCredential};
use crate::error::StoreError;
use crate::ids::UserId;
use crate::ports::*;

use super::{conflict, MemoryStore};

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn insert_credential(
        &self,
        credential: &StoredCredential,
        sealed: &Sealed,
    ) -> StoreResult<()> {
        let mut state = self.state();
        let key = (credential.owner.clone(), credential.name.clone());
        if state.stored_credentials.contains_key(&key) {
            return Err(conflict("credential name taken"));
        }
        state.stored_credentials.insert(key, credential.clone());
        state.sealed.insert(credential.id.clone(), sealed.clone());
        Ok(())
    }

    async fn stored_credential(
        &self,
        owner: &UserId,
        name: &str,
    ) -> StoreResult<Option<StoredCredential>> {
        Ok(self
            .state()
            .stored_credentials
            .get(&(owner.clone(), name.to_owned()))
            .cloned())
    }

    async fn credentials(&self, owner: &UserId) -> StoreResult<Vec<StoredCredential>> {
        Ok(self
            .state()
            .stored_credentials
            .values()
            .filter(|c| &c.owner == owner)
            .cloned()
            .collect())
    }

    async fn update_credential(
        &self,
        credential: &StoredCredential,
        sealed: Option<&Sealed>,
    ) -> StoreResult<()> {
        let mut state = self.state();
        let key = (credential.owner.clone(), credential.name.clone());
        match state.stored_credentials.get(&key) {
            Some(stored) if stored.version + 1 == credential.version => {}
            _ => return Err(conflict("credential changed")),
        }
        state.stored_credentials.insert(key, credential.clone());
        if let Some(sealed) = sealed {
            state.sealed.insert(credential.id.clone(), sealed.clone());
        }
        Ok(())
    }

    async fn delete_credential(&self, credential: &StoredCredential) -> StoreResult<()> {
        let mut state = self.state();
        let key = (credential.owner.clone(), credential.name.clone());
        match state.stored_credentials.get(&key) {
            Some(stored) if stored.version == credential.version => {}
            _ => return Err(conflict("credential changed")),
        }
        state.stored_credentials.remove(&key);
        state.sealed.remove(&credential.id);
        Ok(())
    }

    async fn sealed_value(&self, credential: &StoredCredential) -> StoreResult<Option<Sealed>> {
        Ok(self.state().sealed.get(&credential.id).cloned())
    }
}

fn context_text(context: &SealContext) -> String {
    let [(_, owner), (_, credential)] = context.pairs();
    format!("{owner}/{credential}\0")
}

/// Each byte of the value flipped, after the context: not the value's text, and bound to
/// the context.
#[async_trait]
impl CredentialCipher for MemoryStore {
    async fn seal(&self, value: &str, context: &SealContext) -> StoreResult<Sealed> {
        let mut bytes = context_text(context).into_bytes();
        bytes.extend(value.bytes().map(|b| !b));
        Ok(Sealed(bytes))
    }

    async fn open(&self, sealed: &Sealed, context: &SealContext) -> StoreResult<String> {
        let prefix = context_text(context);
        let body = sealed
            .0
            .strip_prefix(prefix.as_bytes())
            .ok_or_else(|| StoreError::Corrupt("sealed under another context".into()))?;
        String::from_utf8(body.iter().map(|b| !b).collect())
            .map_err(|_| StoreError::Corrupt("not a sealed value".into()))
    }
}
