//! Registering the node: with the gateway's pre-shared key the first time, then with the
//! secret its registration issued (kept 0600 in the 0700 state directory), which proves
//! this machine is the node of that name. A gateway that has forgotten the node (its
//! tables were reset) gets the same request again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use cynode_protocol::wire::{ConfigAck, NodeConfig, NodeRegistration, RegisterNodeRequest};

use crate::backoff::Backoff;
use crate::gateway::{Gateway, GatewayError, Identity, SharedIdentity};

/// Registers, waiting out an unreachable gateway; a refusal is final.
async fn register(
    gateway: &dyn Gateway,
    request: &RegisterNodeRequest,
    stop: &CancellationToken,
) -> anyhow::Result<NodeRegistration> {
    let mut backoff = Backoff::gateway();
    loop {
        match gateway.register(request).await {
            Ok(registration) => return Ok(registration),
            Err(err) if !err.is_transient() => {
                anyhow::bail!("the gateway refused to register this node: {err}")
            }
            Err(err) => tracing::warn!(error = %err, "cannot register yet"),
        }
        if !backoff.wait(stop).await {
            anyhow::bail!("stopped before registering");
        }
    }
}

/// Tells the gateway the node applied `config`.
pub(super) async fn acknowledge(
    gateway: &dyn Gateway,
    me: &Identity,
    config: &NodeConfig,
) -> Result<(), GatewayError> {
    let ack = ConfigAck {
        config_version: config.config_version.clone(),
        applied: true,
        error: None,
    };
    gateway.acknowledge(me, &ack).await?;
    tracing::info!(config_version = %config.config_version, "configuration applied");
    Ok(())
}

/// Registers this node, at start and again when the gateway no longer knows it.
pub(super) struct Registrar {
    pub gateway: Arc<dyn Gateway>,
    pub request: RegisterNodeRequest,
    pub state_dir: PathBuf,
}

impl Registrar {
    /// Registers (retrying while the gateway is unreachable), saves the issued secret.
    pub async fn register(&self, stop: &CancellationToken) -> anyhow::Result<NodeRegistration> {
        let request = RegisterNodeRequest {
            node_secret: read_node_secret(&self.state_dir)?,
            ..self.request.clone()
        };
        let registration = register(self.gateway.as_ref(), &request, stop).await?;
        save_node_secret(&self.state_dir, &registration.node_secret)
            .context("saving the node secret the gateway issued")?;
        Ok(registration)
    }

    pub async fn register_again(
        &self,
        me: &SharedIdentity,
        stop: &CancellationToken,
    ) -> anyhow::Result<()> {
        let registration = self.register(stop).await?;
        let identity = Identity {
            node_id: registration.node_id.clone(),
            node_key: registration.node_key.clone(),
        };
        acknowledge(self.gateway.as_ref(), &identity, &registration.config).await?;
        tracing::warn!(node_id = %identity.node_id, "the gateway had forgotten this node; registered again");
        me.set(identity);
        Ok(())
    }
}

/// Where the node keeps the secret its last registration issued.
fn node_secret_path(state_dir: &Path) -> PathBuf {
    state_dir.join("node-secret")
}

fn read_node_secret(state_dir: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(node_secret_path(state_dir)) {
        Ok(text) => Ok(Some(text.trim().to_owned()).filter(|s| !s.is_empty())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).context("reading the node secret"),
    }
}

/// Temp file (0600), fsync, rename: a crash leaves the old secret or the new one.
fn save_node_secret(state_dir: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = node_secret_path(state_dir);
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(secret.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(state_dir)?.sync_all()
}
