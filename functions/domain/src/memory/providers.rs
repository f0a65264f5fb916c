//! The in-memory provider registry and its credential attachments.

use async_trait::async_trait;

use crate::ids::UserId;
use crate::ports::*;
use crate::provider::{Provider, ProviderCredential};
use crate::StoreError;

use super::MemoryStore;

#[async_trait]
impl ProviderStore for MemoryStore {
    async fn create_provider(&self, provider: &Provider) -> StoreResult<()> {
        let mut state = self.state();
        if state.providers.contains_key(&provider.name) {
            return Err(StoreError::Conflict(format!("provider {}", provider.name)));
        }
        state
            .providers
            .insert(provider.name.clone(), provider.clone());
        Ok(())
    }

    async fn provider(&self, name: &str) -> StoreResult<Option<Provider>> {
        Ok(self.state().providers.get(name).cloned())
    }

    async fn providers(&self) -> StoreResult<Vec<Provider>> {
        Ok(self.state().providers.values().cloned().collect())
    }

    async fn delete_provider(&self, name: &str) -> StoreResult<bool> {
        let mut state = self.state();
        state
            .provider_credentials
            .retain(|(provider, _), _| provider != name);
        Ok(state.providers.remove(name).is_some())
    }

    async fn attach(&self, attachment: &ProviderCredential) -> StoreResult<()> {
        let owner = (!attachment.for_everyone).then(|| attachment.owner.clone());
        self.state()
            .provider_credentials
            .insert((attachment.provider.clone(), owner), attachment.clone());
        Ok(())
    }

    async fn attachment(
        &self,
        provider: &str,
        owner: Option<&UserId>,
    ) -> StoreResult<Option<ProviderCredential>> {
        Ok(self
            .state()
            .provider_credentials
            .get(&(provider.to_owned(), owner.cloned()))
            .cloned())
    }

    async fn detach(&self, provider: &str, owner: Option<&UserId>) -> StoreResult<bool> {
        Ok(self
            .state()
            .provider_credentials
            .remove(&(provider.to_owned(), owner.cloned()))
            .is_some())
    }
}
