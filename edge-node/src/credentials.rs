//! The node's AWS credentials for its queues, issued by the gateway: short-lived STS
//! session credentials allowed only to receive, extend and delete messages on the queues
//! this node serves. The node holds no AWS keys of its own. Registration hands out the
//! first; the SDK's identity cache asks [`GatewayCredentials`] again [`RENEW_BEFORE`]
//! ahead of their expiry, and it fetches fresh ones from `POST /v1/nodes/credentials`.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{self, future, ProvideCredentials};
use aws_credential_types::Credentials;
use cynode_protocol::wire::QueueCredentials;

use std::sync::Arc;

use crate::gateway::{Gateway, SharedIdentity};

/// How long before expiry credentials are renewed: room for a gateway outage of a few
/// minutes without a poll failing for want of credentials.
pub const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// Supplies the SDK with the gateway's credentials for this node.
pub struct GatewayCredentials {
    gateway: Arc<dyn Gateway>,
    me: SharedIdentity,
    /// The last credentials issued (first: registration's), handed out while fresh.
    last: Mutex<Option<QueueCredentials>>,
}

impl std::fmt::Debug for GatewayCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GatewayCredentials(..)")
    }
}

impl GatewayCredentials {
    pub fn new(gateway: Arc<dyn Gateway>, me: SharedIdentity, first: QueueCredentials) -> Self {
        Self {
            gateway,
            me,
            last: Mutex::new(Some(first)),
        }
    }

    async fn provide(&self) -> provider::Result {
        let cached = self.last.lock().expect("credentials lock").clone();
        if let Some(cached) = cached.filter(|c| fresh(c, SystemTime::now())) {
            return Ok(to_sdk(cached));
        }
        match self.gateway.credentials(&self.me.get()).await {
            Ok(issued) => {
                tracing::info!(expires_at = %issued.expires_at, "queue credentials renewed");
                *self.last.lock().expect("credentials lock") = Some(issued.clone());
                Ok(to_sdk(issued))
            }
            Err(err) => {
                tracing::warn!(error = %err, "renewing queue credentials failed; retrying on the next poll");
                Err(provider::error::CredentialsError::provider_error(err))
            }
        }
    }
}

/// Whether `credentials` still have more than [`RENEW_BEFORE`] to live at `now`.
fn fresh(credentials: &QueueCredentials, now: SystemTime) -> bool {
    SystemTime::from(credentials.expires_at) > now + RENEW_BEFORE
}

fn to_sdk(issued: QueueCredentials) -> Credentials {
    Credentials::new(
        issued.access_key_id,
        issued.secret_access_key,
        Some(issued.session_token),
        Some(issued.expires_at.into()),
        "cynode-gateway",
    )
}

impl ProvideCredentials for GatewayCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.provide())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiring_in(secs: i64) -> QueueCredentials {
        QueueCredentials {
            access_key_id: "ASIA".into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
            expires_at: time::OffsetDateTime::now_utc() + time::Duration::seconds(secs),
        }
    }

    #[test]
    fn credentials_are_renewed_before_they_expire() {
        let now = SystemTime::now();
        assert!(fresh(&expiring_in(3600), now));
        assert!(!fresh(&expiring_in(RENEW_BEFORE.as_secs() as i64 - 5), now));
        assert!(!fresh(&expiring_in(-1), now));
    }

    #[test]
    fn the_sdk_gets_the_session_token_and_expiry() {
        let issued = expiring_in(900);
        let sdk = to_sdk(issued.clone());
        assert_eq!(sdk.session_token(), Some("token"));
        assert_eq!(sdk.expiry(), Some(SystemTime::from(issued.expires_at)));
        assert!(!format!("{issued:?}").contains("secret"));
    }
}
