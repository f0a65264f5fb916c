//! `cynode-prompt-agent`: answers a prompt task from inside its sandbox (see
//! `cynode_edge::prompt_agent`). Exit codes: 0 answered, 1 the model failed, 2 bad job
//! file, 3 a worker's change failed its tests or changed nothing.
//!
//! Settings: `CYNODE_AGENT_JOB` (/job/prompt.json), `CYNODE_AGENT_RESULT`
//! (/out/result.json), `OPENAI_BASE_URL` (http://localhost:11434/v1, the pod's proxy).

use std::path::Path;
use std::process::ExitCode;

use cynode_edge::prompt_agent::{answer, AgentError, AgentJob};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let job_path = env("CYNODE_AGENT_JOB", "/job/prompt.json");
    let result_path = env("CYNODE_AGENT_RESULT", "/out/result.json");
    let base_url = env("OPENAI_BASE_URL", "http://localhost:11434/v1");
    let job: AgentJob = match std::fs::read(&job_path)
        .map_err(|err| err.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|err| err.to_string()))
    {
        Ok(job) => job,
        Err(err) => {
            eprintln!("cynode-prompt-agent: cannot read {job_path}: {err}");
            return ExitCode::from(2);
        }
    };
    match answer(&job, &base_url, Path::new("/job/attachments")).await {
        Ok(result) => {
            println!("{}", result.answer);
            let written = serde_json::to_vec_pretty(&result)
                .map_err(|err| err.to_string())
                .and_then(|bytes| std::fs::write(&result_path, bytes).map_err(|e| e.to_string()));
            if let Err(err) = written {
                eprintln!("cynode-prompt-agent: cannot write {result_path}: {err}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("cynode-prompt-agent: {err}");
            match err {
                AgentError::Work(_) => ExitCode::from(3),
                _ => ExitCode::from(1),
            }
        }
    }
}
