//! Edge nodes' queue credentials: STS AssumeRole on the deployment's node queue role
//! (`NodeQueueRole` in infra/template.yaml) with the session policy the domain wrote, so
//! a node's credentials allow at most what both the role and that policy allow.

use async_trait::async_trait;
use aws_sdk_sts::Client;
use cynode_domain::ports::CredentialIssuer;
use cynode_domain::wire::QueueCredentials;
use cynode_domain::StoreError;

/// Issues credentials by assuming `role_arn` for `duration_secs` (900 to 3600).
#[derive(Debug, Clone)]
pub struct StsCredentialIssuer {
    client: Client,
    role_arn: String,
    duration_secs: i32,
}

impl StsCredentialIssuer {
    pub fn new(client: Client, role_arn: String, duration_secs: u32) -> Self {
        Self {
            client,
            role_arn,
            duration_secs: duration_secs.clamp(900, 3600) as i32,
        }
    }
}

#[async_trait]
impl CredentialIssuer for StsCredentialIssuer {
    async fn issue(
        &self,
        session_name: &str,
        policy: &str,
    ) -> Result<QueueCredentials, StoreError> {
        let answer = self
            .client
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(session_name.chars().take(64).collect::<String>())
            .policy(policy)
            .duration_seconds(self.duration_secs)
            .send()
            .await
            .map_err(|err| {
                StoreError::Unavailable(format!(
                    "sts assume-role: {}",
                    aws_sdk_sts::error::DisplayErrorContext(&err)
                ))
            })?;
        let issued = answer
            .credentials
            .ok_or_else(|| StoreError::Corrupt("sts answered without credentials".into()))?;
        let expires_at = time::OffsetDateTime::from_unix_timestamp(issued.expiration.secs())
            .map_err(|err| StoreError::Corrupt(format!("sts expiration: {err}")))?;
        Ok(QueueCredentials {
            access_key_id: issued.access_key_id,
            secret_access_key: issued.secret_access_key,
            session_token: issued.session_token,
            expires_at,
        })
    }
}
