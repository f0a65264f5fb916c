//! Steps about the node itself: stopping, killing and restarting it, draining, outages, its capabilities.

use super::*;

/// Deletes the node's items from the nodes table, as a reset of the tables would.
#[when("the gateway forgets the edge node")]
async fn forget_node(_w: &mut EdgeWorld) {
    use aws_sdk_dynamodb::types::AttributeValue;
    use cynode_domain::ports::NodeStore;
    let stack = &env().deployment.stack;
    let clients = cynode_aws::Clients::from_env().await;
    let resources =
        cynode_aws::Resources::from_settings(|name| stack.get(name)).expect("stack outputs");
    let node = cynode_aws::Adapters::new(&clients, &resources)
        .nodes
        .node_by_name(&env().node_name)
        .await
        .unwrap()
        .expect("the node is stored");
    let table = resources.table("nodes");
    for (pk, sk) in [
        (format!("NODE#{}", node.id), "NODE".to_owned()),
        (format!("NODENAME#{}", node.name), "NODENAME".to_owned()),
        ("ACK".to_owned(), node.id.to_string()),
    ] {
        clients
            .dynamodb
            .delete_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .send()
            .await
            .expect("deleting the node's items");
    }
}

#[then(
    "the stored capabilities of the node name its CPUs, memory, Podman version, sandbox image and hosted models"
)]
async fn stored_capabilities(_w: &mut EdgeWorld) {
    use cynode_domain::ports::NodeStore;
    let stack = &env().deployment.stack;
    let clients = cynode_aws::Clients::from_env().await;
    let resources =
        cynode_aws::Resources::from_settings(|name| stack.get(name)).expect("stack outputs");
    let nodes = cynode_aws::Adapters::new(&clients, &resources).nodes;
    let node = nodes
        .node_by_name(&env().node_name)
        .await
        .unwrap()
        .expect("the node is stored");
    let caps = node.capabilities;
    assert!(caps.cpus >= 1, "{caps:?}");
    assert!(caps.memory_mb > 0, "{caps:?}");
    assert!(caps.hosted_models, "it has the helpers: {caps:?}");
    assert!(
        caps.podman_version
            .as_deref()
            .is_some_and(|v| v.starts_with(char::is_numeric)),
        "{caps:?}"
    );
    assert!(
        caps.sandbox_images
            .iter()
            .any(|i| i.contains("cynode-sandbox")),
        "{caps:?}"
    );
    assert_eq!(caps.job_slots, 2);
    assert!(node.acked_config_version.is_some());
}

#[then("the gateway is ready")]
async fn gateway_ready(_w: &mut EdgeWorld) {
    assert_eq!(api().get("/readyz", None).await.status, 200);
}

#[when("the edge node is killed with SIGKILL")]
async fn kill_edge(_w: &mut EdgeWorld) {
    let mut edge = env().edge.lock().unwrap().take().expect("a running node");
    edge.signal("KILL").unwrap();
    edge.wait(Duration::from_secs(10)).unwrap();
}

#[when("the edge node is started again")]
async fn start_edge_again(_w: &mut EdgeWorld) {
    tokio::task::spawn_blocking(ensure_edge).await.unwrap();
}

#[when("the edge node receives SIGTERM")]
async fn term_edge(_w: &mut EdgeWorld) {
    let edge = env().edge.lock().unwrap();
    edge.as_ref()
        .expect("a running node")
        .signal("TERM")
        .unwrap();
}

#[then(expr = "the edge node exits with status {int}")]
async fn edge_exits(_w: &mut EdgeWorld, code: i32) {
    let mut edge = env().edge.lock().unwrap().take().expect("a running node");
    let status = edge
        .wait(Duration::from_secs(40))
        .unwrap_or_else(|err| panic!("{err:#}\n{}", edge.output()));
    assert_eq!(status.code(), Some(code), "{}", edge.output());
}

#[when("the gateway goes down")]
async fn gateway_down(_w: &mut EdgeWorld) {
    env().deployment.stop_gateway();
}

#[when("the gateway comes back")]
async fn gateway_back(_w: &mut EdgeWorld) {
    tokio::task::spawn_blocking(|| env().deployment.start_gateway())
        .await
        .unwrap()
        .unwrap();
}

#[when("the node has a result waiting on disk")]
async fn result_on_disk(_w: &mut EdgeWorld) {
    let dir: PathBuf = env()
        .deployment
        .logs
        .join(format!("{}-state/pending-results", env().node_name));
    let started = Instant::now();
    loop {
        let waiting = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .any(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .unwrap_or(false);
        if waiting {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no pending result appeared in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[when(regex = r"^an edge node is started with (.+)$")]
async fn misconfigured(w: &mut EdgeWorld, setting: String) {
    let value = setting
        .split('"')
        .nth(1)
        .expect("a quoted value")
        .to_owned();
    let config = if setting.starts_with("podman") {
        format!("podman = \"{value}\"\n")
    } else {
        format!("[sandbox]\nimage = \"{value}\"\n")
    };
    let name = unique_handle("misconfigured");
    let exit = tokio::task::spawn_blocking(move || {
        let deployment = &env().deployment;
        let path = deployment.logs.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let path = path.display().to_string();
        let mut agent = Service::start(
            &name,
            &cynode_testkit::binary("cynode-edge"),
            &["--config", &path],
            &deployment.edge_env(&name),
            &deployment.logs,
        )
        .unwrap();
        let status = agent.wait(Duration::from_secs(30)).unwrap();
        (status.code(), agent.output())
    })
    .await
    .unwrap();
    w.exit = Some(exit);
}

#[then(expr = "it exits with status {int}")]
async fn it_exits(w: &mut EdgeWorld, code: i32) {
    let (status, output) = w.exit.as_ref().expect("an agent ran");
    assert_eq!(*status, Some(code), "{output}");
}

#[then(expr = "it says {string}")]
async fn it_says(w: &mut EdgeWorld, text: String) {
    let (_, output) = w.exit.as_ref().expect("an agent ran");
    assert!(output.contains(&text), "{output}");
}
