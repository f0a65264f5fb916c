//! In-memory stand-ins for the agent's parts (the gateway, the queue, the sandbox, the
//! spool), for the in-process tests of poll → claim → run → report. Each records what it
//! was asked and can be told how to answer; none starts a process or opens a socket.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use cynode_edge::gateway::{Gateway, GatewayError, Identity, SharedIdentity};
use cynode_edge::queue::{NodeQueue, NodeQueues, QueueConnector, QueueError, QueueKind, Received};
use cynode_edge::sandbox::{RawStreams, Sandbox, SandboxJob, SandboxOutcome};
use cynode_edge::spool::{PendingResult, ResultSpool};
fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
use cynode_protocol::ids::{JobId, LeaseId, NodeId, TaskId};
use cynode_protocol::status::JobOutcome;
use cynode_protocol::wire::{
    CapabilityReport, ClaimDecision, ConfigAck, ErrorCode, HeartbeatAnswer, HeartbeatRequest,
    HostedCallRequest, InputMode, JobChunkRequest, JobClaim, JobLogRequest, JobMessage,
    JobReleaseRequest, JobResultReport, JobSpec, JobStartedRequest, NodeConfig, NodeRegistration,
    NodeView, OutputStream, OutputUploadRequest, OutputUploadUrl, QueueCredentials,
    RegisterNodeRequest, ResultAck,
};

/// Waits until `done` holds, checking every 20 ms; panics after `within`.
pub async fn eventually(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the gateway says to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    Keep,
    Cancel,
    Release,
    Stale,
}

/// A gateway in memory: claims every job once, answers heartbeats as told, and can be
/// made unreachable.
#[derive(Default)]
pub struct FakeGateway {
    pub down: AtomicBool,
    /// Claims answered 404 `job_not_found` before the job is "stored".
    pub not_stored_for: AtomicU32,
    pub beat: Mutex<Option<Beat>>,
    pub claims: AtomicU32,
    pub heartbeats: AtomicU32,
    pub failed_results: AtomicU32,
    pub results: Mutex<Vec<JobResultReport>>,
    pub releases: Mutex<Vec<JobReleaseRequest>>,
    pub logs: Mutex<Vec<JobLogRequest>>,
}

impl FakeGateway {
    pub fn set_beat(&self, beat: Beat) {
        *self.beat.lock().unwrap() = Some(beat);
    }
    pub fn results(&self) -> Vec<JobResultReport> {
        self.results.lock().unwrap().clone()
    }
    pub fn releases(&self) -> Vec<JobReleaseRequest> {
        self.releases.lock().unwrap().clone()
    }
    /// The live-log chunks taken, in the order they came.
    pub fn logs(&self) -> Vec<JobLogRequest> {
        self.logs.lock().unwrap().clone()
    }
    fn reachable(&self) -> Result<(), GatewayError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(GatewayError::Unreachable("connection refused".into()));
        }
        Ok(())
    }
}

pub fn node_config() -> NodeConfig {
    NodeConfig {
        config_version: "1".into(),
        queue_url: "memory://jobs".into(),
        inference_queue_url: None,
        heartbeat_interval_secs: 1,
        lease_secs: 30,
        default_timeout_secs: 60,
        max_timeout_secs: 600,
    }
}

#[async_trait]
impl Gateway for FakeGateway {
    async fn register(&self, _: &RegisterNodeRequest) -> Result<NodeRegistration, GatewayError> {
        self.reachable()?;
        Ok(NodeRegistration {
            node_id: NodeId::generate(),
            node_key: "node-key".into(),
            node_secret: "node-secret".into(),
            config: node_config(),
            credentials: None,
        })
    }
    async fn credentials(&self, _: &Identity) -> Result<QueueCredentials, GatewayError> {
        Err(GatewayError::Unreachable("not issued here".into()))
    }
    async fn config(&self, _: &Identity) -> Result<NodeConfig, GatewayError> {
        self.reachable()?;
        Ok(node_config())
    }
    async fn acknowledge(&self, _: &Identity, _: &ConfigAck) -> Result<(), GatewayError> {
        self.reachable()
    }
    async fn report_capabilities(
        &self,
        _: &Identity,
        _: &CapabilityReport,
    ) -> Result<NodeView, GatewayError> {
        Err(GatewayError::Unreachable("not needed here".into()))
    }
    async fn started(
        &self,
        _: &Identity,
        _: &JobId,
        _: &JobStartedRequest,
    ) -> Result<ClaimDecision, GatewayError> {
        self.reachable()?;
        // Like the real gateway between sending a job's message and storing the job.
        if self
            .not_stored_for
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(GatewayError::Refused {
                status: reqwest::StatusCode::NOT_FOUND,
                code: ErrorCode::JobNotFound,
                message: "no job".into(),
            });
        }
        // Like the real gateway: a node being drained takes no new jobs.
        if *self.beat.lock().unwrap() == Some(Beat::Release) {
            return Ok(ClaimDecision::NotNow {
                reason: "this node is being drained".into(),
                retry_after_secs: 60,
            });
        }
        let attempt = self.claims.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(ClaimDecision::Run(Box::new(JobClaim {
            attempt,
            lease_id: LeaseId::generate(),
            lease_expires_at: now() + time::Duration::seconds(30),
            job_token: "job-token".into(),
            spec: JobSpec {
                mode: InputMode::Commands,
                prompt: None,
                model: None,
                inference: false,
                hosted: false,
                messages: vec![],
                agent_chat: false,
                max_tokens: None,
                temperature: None,
                chat: Default::default(),
                direct: None,
                script: None,
                commands: vec!["echo hello".into()],
                attachments: vec![],
                timeout_secs: None,
                image: None,
                env: BTreeMap::new(),
                agent: None,
                agent_max_steps: None,
                skills: vec![],
            },
        })))
    }
    async fn heartbeat(
        &self,
        _: &Identity,
        _: &JobId,
        _: &str,
        _: &HeartbeatRequest,
    ) -> Result<HeartbeatAnswer, GatewayError> {
        self.reachable()?;
        self.heartbeats.fetch_add(1, Ordering::SeqCst);
        let beat = self.beat.lock().unwrap().unwrap_or(Beat::Keep);
        if beat == Beat::Stale {
            return Err(GatewayError::Refused {
                status: reqwest::StatusCode::CONFLICT,
                code: ErrorCode::StaleAttempt,
                message: "another attempt owns the job".into(),
            });
        }
        Ok(HeartbeatAnswer {
            canceled: beat == Beat::Cancel,
            release: beat == Beat::Release,
            lease_expires_at: now() + time::Duration::seconds(30),
        })
    }
    async fn result(
        &self,
        _: &Identity,
        _: &JobId,
        _: &str,
        report: &JobResultReport,
    ) -> Result<ResultAck, GatewayError> {
        if let Err(err) = self.reachable() {
            self.failed_results.fetch_add(1, Ordering::SeqCst);
            return Err(err);
        }
        self.results.lock().unwrap().push(report.clone());
        Ok(ResultAck {
            stored: true,
            duplicate: false,
        })
    }
    async fn chunk(
        &self,
        _: &Identity,
        _: &JobId,
        _: &str,
        _: &JobChunkRequest,
    ) -> Result<(), GatewayError> {
        self.reachable()
    }
    async fn hosted_call(
        &self,
        _: &Identity,
        _: &JobId,
        _: &str,
        _: &HostedCallRequest,
        _: std::time::Duration,
    ) -> Result<reqwest::Response, GatewayError> {
        self.reachable()?;
        Err(GatewayError::Unreachable("no egress here".into()))
    }
    async fn log(
        &self,
        _: &Identity,
        _: &JobId,
        _: &str,
        req: &JobLogRequest,
    ) -> Result<(), GatewayError> {
        self.reachable()?;
        self.logs.lock().unwrap().push(req.clone());
        Ok(())
    }
    async fn release(
        &self,
        _: &Identity,
        _: &JobId,
        _: &str,
        req: &JobReleaseRequest,
    ) -> Result<(), GatewayError> {
        self.reachable()?;
        self.releases.lock().unwrap().push(req.clone());
        Ok(())
    }
    async fn output_upload_url(
        &self,
        _: &Identity,
        _: &JobId,
        _: &str,
        _: &OutputUploadRequest,
    ) -> Result<OutputUploadUrl, GatewayError> {
        Err(GatewayError::Unreachable(
            "no raw output in these tests".into(),
        ))
    }
    async fn upload(&self, _: &str, _: Vec<u8>) -> Result<(), GatewayError> {
        Err(GatewayError::Unreachable(
            "no raw output in these tests".into(),
        ))
    }
    async fn download(&self, _: &str, _: &Path, _: u64) -> anyhow::Result<()> {
        anyhow::bail!("no attachments in these tests")
    }
}

struct Message {
    body: String,
    receipt: u32,
    receive_count: u32,
    visible_at: Instant,
}

/// A queue in memory with SQS's visibility rules.
#[derive(Default)]
pub struct FakeQueue {
    messages: Mutex<Vec<Message>>,
    next_receipt: AtomicU32,
    pub receives: AtomicU32,
    pub deleted: AtomicU32,
}

impl FakeQueue {
    /// Queues a job message for a fresh job; returns its job id.
    pub fn push_job(&self) -> JobId {
        let job_id = JobId::generate();
        let message = JobMessage {
            v: 1,
            task_id: TaskId::generate(),
            job_id: job_id.clone(),
            attempt: 1,
            lease_secs: 30,
            enqueued_at: now(),
            inference: false,
            model: None,
            image: None,
        };
        self.messages.lock().unwrap().push(Message {
            body: serde_json::to_string(&message).unwrap(),
            receipt: 0,
            receive_count: 0,
            visible_at: Instant::now(),
        });
        job_id
    }

    /// Messages still on the queue, and how many of them are visible now.
    pub fn counts(&self) -> (usize, usize) {
        let messages = self.messages.lock().unwrap();
        let visible = messages
            .iter()
            .filter(|m| m.visible_at <= Instant::now())
            .count();
        (messages.len(), visible)
    }
}

#[async_trait]
impl NodeQueue for FakeQueue {
    async fn receive(&self, max: u32, wait_secs: u32) -> Result<Vec<Received>, QueueError> {
        self.receives.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(wait_secs.into());
        loop {
            let mut received = Vec::new();
            {
                let mut messages = self.messages.lock().unwrap();
                for message in messages.iter_mut() {
                    if received.len() as u32 == max || message.visible_at > Instant::now() {
                        continue;
                    }
                    message.receipt = self.next_receipt.fetch_add(1, Ordering::SeqCst) + 1;
                    message.receive_count += 1;
                    message.visible_at = Instant::now() + Duration::from_secs(30);
                    received.push(Received {
                        queue: QueueKind::Jobs,
                        body: message.body.clone(),
                        receipt: message.receipt.to_string(),
                        receive_count: message.receive_count,
                    });
                }
            }
            if !received.is_empty() || Instant::now() >= deadline {
                return Ok(received);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    async fn hide_for(&self, receipt: &str, secs: u32) -> Result<(), QueueError> {
        let mut messages = self.messages.lock().unwrap();
        if let Some(message) = messages
            .iter_mut()
            .find(|m| m.receipt.to_string() == receipt)
        {
            message.visible_at = Instant::now() + Duration::from_secs(secs.into());
        }
        Ok(())
    }
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        let mut messages = self.messages.lock().unwrap();
        let before = messages.len();
        messages.retain(|m| m.receipt.to_string() != receipt);
        if messages.len() < before {
            self.deleted.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Hands the agent one in-memory queue.
pub struct FakeConnector(pub Arc<FakeQueue>);

#[async_trait]
impl QueueConnector for FakeConnector {
    async fn open(&self, _: &NodeRegistration, _: SharedIdentity) -> anyhow::Result<NodeQueues> {
        Ok(NodeQueues {
            jobs: self.0.clone(),
            inference: None,
        })
    }
}

/// How the fake sandbox runs a job.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Prints `hello` and exits 0 after this long.
    Completes(Duration),
    /// Runs until it is stopped.
    RunsUntilStopped,
}

/// A sandbox that runs nothing: it waits, then answers as told (or as stopped).
pub struct FakeSandbox {
    pub behaviour: Behaviour,
    pub runs: AtomicU32,
    pub stopped: AtomicU32,
}

impl FakeSandbox {
    pub fn new(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            runs: AtomicU32::new(0),
            stopped: AtomicU32::new(0),
        }
    }
}

fn outcome(status: JobOutcome, stdout: &str) -> SandboxOutcome {
    SandboxOutcome {
        status,
        exit_code: (status == JobOutcome::Completed).then_some(0),
        failed_command: None,
        error: None,
        stdout: stdout.into(),
        stderr: String::new(),
        truncated: Default::default(),
        raw: RawStreams::default(),
        started_at: now(),
        ended_at: now(),
    }
}

#[async_trait]
impl Sandbox for FakeSandbox {
    async fn run(&self, job: SandboxJob, stop: CancellationToken) -> SandboxOutcome {
        self.runs.fetch_add(1, Ordering::SeqCst);
        // What a real job prints goes to its live log as it runs.
        job.log
            .note(cynode_protocol::wire::OutputStream::Stdout, b"hello\n");
        let ran_for = match self.behaviour {
            Behaviour::Completes(after) => after,
            Behaviour::RunsUntilStopped => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = tokio::time::sleep(ran_for) => outcome(JobOutcome::Completed, "hello\n"),
            _ = stop.cancelled() => {
                self.stopped.fetch_add(1, Ordering::SeqCst);
                outcome(JobOutcome::Canceled, "")
            }
        }
    }
    async fn remove_orphans(&self) -> anyhow::Result<usize> {
        Ok(0)
    }
}

/// A spool in memory.
#[derive(Default)]
pub struct MemorySpool {
    entries: Mutex<BTreeMap<PathBuf, PendingResult>>,
    pub stored: AtomicU32,
}

impl MemorySpool {
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

impl ResultSpool for MemorySpool {
    fn store(&self, pending: &PendingResult, _: &RawStreams) -> std::io::Result<PathBuf> {
        let path = PathBuf::from(format!("{}.{}", pending.job_id, pending.report.attempt));
        self.entries
            .lock()
            .unwrap()
            .insert(path.clone(), pending.clone());
        self.stored.fetch_add(1, Ordering::SeqCst);
        Ok(path)
    }
    fn pending(&self) -> Vec<(PathBuf, PendingResult)> {
        let entries = self.entries.lock().unwrap();
        entries
            .iter()
            .map(|(path, pending)| (path.clone(), pending.clone()))
            .collect()
    }
    fn raw(&self, _: &Path, _: OutputStream) -> Option<Vec<u8>> {
        None
    }
    fn remove(&self, entry: &Path) {
        self.entries.lock().unwrap().remove(entry);
    }
    fn set_aside(&self, entry: &Path) {
        self.entries.lock().unwrap().remove(entry);
    }
}

/// How many of each call, for failure messages.
pub fn summary(gateway: &FakeGateway, queue: &FakeQueue) -> HashMap<&'static str, u32> {
    HashMap::from([
        ("claims", gateway.claims.load(Ordering::SeqCst)),
        ("heartbeats", gateway.heartbeats.load(Ordering::SeqCst)),
        ("receives", queue.receives.load(Ordering::SeqCst)),
        ("deleted", queue.deleted.load(Ordering::SeqCst)),
    ])
}
