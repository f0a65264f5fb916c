//! What this node can do, as reported to the gateway at registration.

use std::time::Duration;

use cynode_domain::wire::{CapabilityReport, GpuInfo, InferenceStatus};
use tokio::process::Command;

use crate::config::EdgeConfig;
use crate::sandbox::podman::PodmanInfo;

fn memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(0, |kb| kb / 1024)
}

/// GPUs as `nvidia-smi` lists them; none when it is absent or fails.
async fn gpus() -> Vec<GpuInfo> {
    let out = Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.total",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .await;
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        return vec![];
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (name, memory) = line.rsplit_once(',')?;
            Some(GpuInfo {
                name: name.trim().to_owned(),
                memory_mb: memory.trim().parse().ok()?,
            })
        })
        .collect()
}

/// Whether the inference endpoint answers (Ollama's `/api/tags`, else OpenAI's `/v1/models`).
async fn inference(url: &str) -> InferenceStatus {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build();
    let mut reachable = false;
    if let Ok(client) = client {
        for path in ["/api/tags", "/v1/models"] {
            let ok = client
                .get(format!("{}{path}", url.trim_end_matches('/')))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                reachable = true;
                break;
            }
        }
    }
    InferenceStatus {
        endpoint: url.to_owned(),
        reachable,
    }
}

pub async fn collect(config: &EdgeConfig, podman: &PodmanInfo) -> CapabilityReport {
    CapabilityReport {
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_mb: memory_mb(),
        gpus: gpus().await,
        podman_version: Some(podman.version.clone()),
        sandbox_images: podman
            .images
            .iter()
            .filter(|i| !i.starts_with("<none>"))
            .take(50)
            .cloned()
            .collect(),
        job_slots: config.job_slots,
        inference: match &config.inference_url {
            Some(url) => Some(inference(url).await),
            None => None,
        },
    }
}
