//! The deployment's secrets (JWT key, node key secret, pre-shared key, admin password)
//! from AWS Secrets Manager: on AWS and, locally, from LocalStack's. Each process fetches
//! the few it needs once, at start; no value ever passes through a template, a parameter
//! or the environment (the environment holds only the secrets' ARNs).

use aws_sdk_secretsmanager::Client;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {id} has no {stage} version")]
    NotFound { id: String, stage: &'static str },
    #[error("secret {id} holds no text value")]
    NotText { id: String },
    #[error("cannot read secret {id}: {details}")]
    Unavailable { id: String, details: String },
}

/// Reads secret values by ARN or name.
#[derive(Debug, Clone)]
pub struct SecretStore {
    client: Client,
}

/// The version stages Secrets Manager moves during a rotation.
const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";

impl SecretStore {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The secret's current value.
    pub async fn current(&self, id: &str) -> Result<String, SecretError> {
        self.stage(id, CURRENT)
            .await?
            .ok_or_else(|| SecretError::NotFound {
                id: id.to_owned(),
                stage: CURRENT,
            })
    }

    /// The value before the last rotation, if the secret was ever rotated.
    pub async fn previous(&self, id: &str) -> Result<Option<String>, SecretError> {
        self.stage(id, PREVIOUS).await
    }

    async fn stage(&self, id: &str, stage: &'static str) -> Result<Option<String>, SecretError> {
        let answer = self
            .client
            .get_secret_value()
            .secret_id(id)
            .version_stage(stage)
            .send()
            .await;
        match answer {
            Ok(value) => value
                .secret_string
                .map(Some)
                .ok_or_else(|| SecretError::NotText { id: id.to_owned() }),
            Err(err) => {
                let not_found = err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception());
                if not_found && stage == PREVIOUS {
                    Ok(None)
                } else {
                    Err(SecretError::Unavailable {
                        id: id.to_owned(),
                        details: aws_sdk_secretsmanager::error::DisplayErrorContext(&err)
                            .to_string(),
                    })
                }
            }
        }
    }
}
