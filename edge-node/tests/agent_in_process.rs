//! The agent in-process: poll → claim → run → report against in-memory parts (see
//! `fakes`), with no Podman, LocalStack or model server. Each test runs the real
//! `agent::run` with a fake gateway, queue, sandbox and spool, drives one job through a
//! path (done, canceled, drained, delayed by an outage, superseded, stopped by a
//! shutdown) and checks what each part was told.

mod fakes;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use cynode_edge::agent::{self, Parts};
use cynode_edge::config::{Args, EdgeConfig};
use cynode_protocol::status::JobOutcome;
use cynode_protocol::wire::CapabilityReport;
use fakes::{
    eventually, summary, Beat, Behaviour, FakeConnector, FakeGateway, FakeQueue, FakeSandbox,
    MemorySpool,
};

const WITHIN: Duration = Duration::from_secs(15);

/// One agent on fakes, running until `stop` is called.
struct Node {
    gateway: Arc<FakeGateway>,
    queue: Arc<FakeQueue>,
    sandbox: Arc<FakeSandbox>,
    spool: Arc<MemorySpool>,
    shutdown: Option<oneshot::Sender<()>>,
    agent: tokio::task::JoinHandle<anyhow::Result<()>>,
    _state: Scratch,
}

/// A private directory for one node, removed when the test ends.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "cynode-in-process-{}",
            cynode_protocol::ids::new_ulid()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(state: &std::path::Path, grace_secs: u64) -> EdgeConfig {
    let file = state.join("edge.toml");
    std::fs::write(
        &file,
        format!(
            "pre_shared_key = \"psk\"\ninference_url = \"\"\nshutdown_grace_secs = {grace_secs}\n"
        ),
    )
    .unwrap();
    let mut config = EdgeConfig::load(Args {
        config: Some(file),
        gateway_url: Some("http://gateway.invalid".into()),
        node_name: Some("in-process".into()),
        state_dir: Some(state.join("state")),
        slots: Some(1),
        image: None,
    })
    .unwrap();
    // Whatever the environment says, this node serves no models.
    config.inference_url = None;
    config
}

impl Node {
    fn start(behaviour: Behaviour, grace_secs: u64) -> Node {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let state = Scratch::new();
        let gateway = Arc::new(FakeGateway::default());
        let queue = Arc::new(FakeQueue::default());
        let sandbox = Arc::new(FakeSandbox::new(behaviour));
        let spool = Arc::new(MemorySpool::default());
        let parts = Parts {
            gateway: gateway.clone(),
            queues: Arc::new(FakeConnector(queue.clone())),
            sandbox: sandbox.clone(),
            spool: spool.clone(),
            capabilities: CapabilityReport::default(),
        };
        let (tx, rx) = oneshot::channel();
        let agent = tokio::spawn(agent::run(
            config(&state.0, grace_secs),
            parts,
            async move {
                let _ = rx.await;
            },
        ));
        Node {
            gateway,
            queue,
            sandbox,
            spool,
            shutdown: Some(tx),
            agent,
            _state: state,
        }
    }

    /// Fires the shutdown and waits for the agent to return.
    async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        tokio::time::timeout(WITHIN, self.agent)
            .await
            .expect("the agent stops")
            .unwrap()
            .expect("the agent stops cleanly");
    }
}

#[tokio::test]
async fn a_job_is_claimed_run_and_reported_then_its_message_deleted() {
    let node = Node::start(Behaviour::Completes(Duration::from_millis(50)), 5);
    node.queue.push_job();
    eventually("the result", WITHIN, || node.gateway.results().len() == 1).await;
    let result = &node.gateway.results()[0];
    assert_eq!(result.status, JobOutcome::Completed);
    assert_eq!(result.stdout, "hello\n");
    assert_eq!(result.attempt, 1);
    eventually("the message deleted", WITHIN, || node.queue.counts().0 == 0).await;
    assert_eq!(node.spool.len(), 0, "delivered results leave the spool");
    assert!(node.gateway.releases().is_empty());
    node.stop().await;
}

/// The gateway sends a job's message before it stores the job: a node that receives it in
/// between must not drop it.
#[tokio::test]
async fn a_message_that_comes_before_its_job_is_stored_still_runs() {
    let node = Node::start(Behaviour::Completes(Duration::from_millis(50)), 5);
    node.gateway.not_stored_for.store(2, Ordering::SeqCst);
    node.queue.push_job();
    eventually("the result", WITHIN, || node.gateway.results().len() == 1).await;
    assert_eq!(node.gateway.results()[0].status, JobOutcome::Completed);
    assert_eq!(
        node.gateway.claims.load(Ordering::SeqCst),
        1,
        "claimed once stored"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_running_jobs_log_is_shipped_while_it_runs_once_and_under_its_claim() {
    let node = Node::start(Behaviour::RunsUntilStopped, 5);
    node.queue.push_job();
    eventually("the live log", WITHIN, || node.gateway.logs().len() == 1).await;
    assert!(node.gateway.results().is_empty(), "shipped while it runs");
    let chunk = &node.gateway.logs()[0];
    assert_eq!((chunk.seq, chunk.attempt, chunk.truncated), (0, 1, false));
    assert_eq!(chunk.entries.len(), 1);
    assert_eq!(chunk.entries[0].text, "hello\n");
    node.gateway.set_beat(Beat::Cancel);
    eventually("the result", WITHIN, || node.gateway.results().len() == 1).await;
    assert_eq!(node.gateway.logs().len(), 1, "nothing shipped twice");
    node.stop().await;
}

#[tokio::test]
async fn a_cancel_mid_run_stops_the_sandbox_and_reports_the_job_canceled() {
    let node = Node::start(Behaviour::RunsUntilStopped, 5);
    node.queue.push_job();
    eventually("the job running", WITHIN, || {
        node.sandbox.runs.load(Ordering::SeqCst) == 1
    })
    .await;
    node.gateway.set_beat(Beat::Cancel);
    eventually("the canceled result", WITHIN, || {
        node.gateway.results().len() == 1
    })
    .await;
    assert_eq!(node.gateway.results()[0].status, JobOutcome::Canceled);
    assert_eq!(node.sandbox.stopped.load(Ordering::SeqCst), 1);
    assert!(
        node.gateway.releases().is_empty(),
        "a cancel is not a hand-back"
    );
    eventually("the message deleted", WITHIN, || node.queue.counts().0 == 0).await;
    node.stop().await;
}

#[tokio::test]
async fn a_drain_hands_the_job_back_visible_for_another_node() {
    let node = Node::start(Behaviour::RunsUntilStopped, 5);
    node.queue.push_job();
    eventually("the job running", WITHIN, || {
        node.sandbox.runs.load(Ordering::SeqCst) == 1
    })
    .await;
    node.gateway.set_beat(Beat::Release);
    eventually("the hand-back", WITHIN, || {
        node.gateway.releases().len() == 1
    })
    .await;
    assert_eq!(
        node.gateway.releases()[0].reason,
        "its node is being drained"
    );
    assert!(
        node.gateway.results().is_empty(),
        "{:?}",
        node.gateway.results()
    );
    // The drained node offers the job back and takes nothing more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(node.gateway.releases().len(), 1);
    assert_eq!(node.gateway.claims.load(Ordering::SeqCst), 1);
    let (left, _) = node.queue.counts();
    assert_eq!(left, 1, "the message stays for another node");
    assert_eq!(node.queue.deleted.load(Ordering::SeqCst), 0);
    node.stop().await;
}

#[tokio::test]
async fn a_gateway_outage_holds_the_result_in_the_spool_and_pauses_receiving() {
    let node = Node::start(Behaviour::Completes(Duration::from_millis(300)), 5);
    node.queue.push_job();
    eventually("the job running", WITHIN, || {
        node.sandbox.runs.load(Ordering::SeqCst) == 1
    })
    .await;
    node.gateway.down.store(true, Ordering::SeqCst);
    eventually("the result waiting in the spool", WITHIN, || {
        node.spool.len() == 1 && node.gateway.failed_results.load(Ordering::SeqCst) >= 1
    })
    .await;
    // While the gateway is down, nothing is received: a message received now could not
    // be claimed and would use up one of its deliveries.
    let receives = node.queue.receives.load(Ordering::SeqCst);
    node.queue.push_job();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        node.queue.receives.load(Ordering::SeqCst),
        receives,
        "no receive while down: {:?}",
        summary(&node.gateway, &node.queue)
    );
    assert!(node.gateway.results().is_empty());

    node.gateway.down.store(false, Ordering::SeqCst);
    eventually("both results delivered", WITHIN, || {
        node.gateway.results().len() == 2
    })
    .await;
    assert!(node
        .gateway
        .results()
        .iter()
        .all(|r| r.status == JobOutcome::Completed));
    eventually("the spool emptied and the messages deleted", WITHIN, || {
        node.spool.len() == 0 && node.queue.counts().0 == 0
    })
    .await;
    node.stop().await;
}

#[tokio::test]
async fn a_superseded_attempt_stops_and_reports_nothing() {
    let node = Node::start(Behaviour::RunsUntilStopped, 5);
    node.queue.push_job();
    eventually("the job running", WITHIN, || {
        node.sandbox.runs.load(Ordering::SeqCst) == 1
    })
    .await;
    node.gateway.set_beat(Beat::Stale);
    eventually("the sandbox stopped", WITHIN, || {
        node.sandbox.stopped.load(Ordering::SeqCst) == 1
    })
    .await;
    // Give a wrong report the time to happen.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(node.gateway.results().is_empty());
    assert!(node.gateway.releases().is_empty());
    assert_eq!(node.spool.len(), 0);
    assert_eq!(node.queue.deleted.load(Ordering::SeqCst), 0);
    node.stop().await;
}

#[tokio::test]
async fn a_shutdown_hands_a_running_job_back_after_the_grace_period() {
    let node = Node::start(Behaviour::RunsUntilStopped, 1);
    node.queue.push_job();
    eventually("the job running", WITHIN, || {
        node.sandbox.runs.load(Ordering::SeqCst) == 1
    })
    .await;
    let (gateway, queue) = (node.gateway.clone(), node.queue.clone());
    node.stop().await;
    let releases = gateway.releases();
    assert_eq!(releases.len(), 1, "{:?}", summary(&gateway, &queue));
    assert_eq!(
        releases[0].reason,
        "its node shut down before the job finished"
    );
    assert!(gateway.results().is_empty());
    assert_eq!(queue.counts(), (1, 1), "visible again for another node");
}
