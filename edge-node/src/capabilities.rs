//! What this node can do, as reported to the gateway at registration and again whenever
//! it changes (a model pulled or removed, the inference endpoint going down or up).

use cynode_protocol::wire::{CapabilityReport, GpuInfo};
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
            Some(url) => Some(crate::inference::models::probe(url).await),
            None => None,
        },
        hosted_models: crate::inference::hosted::missing_helpers(&config.helpers_dir).is_empty(),
    }
}
