//! Steps of the console's work pages: a task and its live log, a streamed chat answer,
//! and a planned task's board (with a real repository, forge and node).

use std::time::Instant;

use fantoccini::Locator;

use super::*;

/// The scenario's repository, forge and project.
pub struct PlannedWork {
    remote_url: String,
    project: Option<String>,
    _forge: Option<cynode_testkit::forge::ForgeContract>,
    subtask: Option<String>,
}

impl ConsoleWorld {
    /// The task the page shows (`#/tasks/<id>`).
    async fn task_in_address(&mut self) -> String {
        let deadline = Instant::now() + cynode_browser::PAGE_WAIT;
        loop {
            let url = self.browser().client.current_url().await.expect("a URL");
            if let Some(id) = url.fragment().and_then(|f| f.strip_prefix("/tasks/")) {
                self.task = Some(id.to_owned());
                return id.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "the page did not open a task: {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn task_status(&self, alias: &str) -> String {
        let task = self.task.clone().expect("a task");
        let view = api()
            .get_ok(&format!("/v1/tasks/{task}"), &self.token(alias))
            .await;
        value_text(&view["status"])
    }

    fn planned(&mut self) -> &mut PlannedWork {
        self.planned.as_mut().expect("a repository")
    }
}

// ------------------------------------------------------------------ tasks

#[when("she starts a commands task from the console:")]
async fn starts_commands(w: &mut ConsoleWorld, step: &cucumber::gherkin::Step) {
    let table = step.table.as_ref().expect("a table of commands");
    let commands: Vec<&str> = table.rows.iter().map(|row| row[0].as_str()).collect();
    w.open("#/tasks").await;
    let browser = w.browser();
    browser
        .find("input[name=mode][value=commands]")
        .await
        .expect("the mode")
        .click()
        .await
        .expect("commands chosen");
    browser
        .fill("input", &commands.join("\n"))
        .await
        .expect("the commands");
    w.shot("new-task").await;
    w.browser()
        .click("button[type=submit]", "Start task")
        .await
        .expect("started");
    w.task_in_address().await;
}

#[then(expr = "the live log shows {string} while the task is still running")]
async fn log_shows_while_running(w: &mut ConsoleWorld, text: String) {
    w.browser()
        .wait_for("[data-testid=live-log]", WORK_WAIT, |log| {
            log.contains(&text)
        })
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
    let status = w.task_status("ann").await;
    w.shot("live-log").await;
    assert_eq!(
        status, "running",
        "the line showed only after the task ended"
    );
}

#[then(expr = "the page shows {string} within {int} seconds")]
async fn page_shows_within(w: &mut ConsoleWorld, text: String, secs: u64) {
    w.browser()
        .wait_for("main", Duration::from_secs(secs), |page| {
            page.contains(&text)
        })
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
}

#[then(expr = "the result shows {string}")]
async fn result_shows(w: &mut ConsoleWorld, text: String) {
    w.browser()
        .with_text("[role=tabpanel]", &text)
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
    assert!(w.browser().page_text().await.contains("completed"));
    w.shot("result").await;
}

// ------------------------------------------------------------------ chat

#[when(expr = "she asks the model {string} in the chat {string}")]
async fn asks_in_chat(w: &mut ConsoleWorld, model: String, message: String) {
    w.open("#/chat").await;
    let browser = w.browser();
    let select = browser.find(".conversation select").await.expect("models");
    browser
        .wait_for(".conversation select", cynode_browser::PAGE_WAIT, |t| {
            t.contains(&model)
        })
        .await
        .expect("the model is offered");
    select.select_by_value(&model).await.expect("model chosen");
    browser
        .fill("message", &message)
        .await
        .expect("the message");
    w.shot("chat").await;
    w.browser()
        .click("button[type=submit]", "Send")
        .await
        .expect("sent");
}

#[then("the answer grows on the page before it is complete")]
async fn answer_grows(w: &mut ConsoleWorld) {
    // Read the answer being written until it is done; it must have been seen partly
    // written at least once, each reading extending the one before.
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + WORK_WAIT;
    let mut shot = false;
    loop {
        let partial = w
            .browser()
            .client
            .find_all(Locator::Css("[data-testid=streaming-answer] p"))
            .await
            .expect("read the page");
        let Some(element) = partial.first() else {
            if !seen.is_empty() || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if let Ok(text) = element.text().await {
            if text != "…" && !text.is_empty() && seen.last() != Some(&text) {
                seen.push(text);
            }
        }
        if seen.len() == 2 && !shot {
            shot = true;
            w.shot("streaming").await;
        }
        assert!(
            Instant::now() < deadline,
            "the answer did not finish: {seen:?}"
        );
    }
    let done = w
        .browser()
        .wait_for(
            ".messages li.assistant:not([aria-busy]) p",
            WORK_WAIT,
            |t| !t.is_empty(),
        )
        .await
        .unwrap_or_else(|err| panic!("{err:#}"))
        .text()
        .await
        .expect("the answer");
    assert!(
        seen.len() >= 2,
        "the answer was never seen partly written: {seen:?}, then {done:?}"
    );
    for pair in seen.windows(2) {
        assert!(
            pair[1].starts_with(&pair[0]),
            "the answer did not grow: {seen:?}"
        );
    }
    assert!(done.starts_with(seen[0].as_str()), "{seen:?} then {done:?}");
}

#[then("the thread is listed with the answer kept")]
async fn thread_kept(w: &mut ConsoleWorld) {
    w.browser()
        .find(".threads li a")
        .await
        .expect("the thread in the list");
    w.shot("thread").await;
    let shown = w
        .browser()
        .find(".messages li.assistant p")
        .await
        .expect("the answer")
        .text()
        .await
        .expect("its text");
    let list = api().get_ok("/v1/chat/threads", &w.token("ann")).await;
    let thread = value_text(&list["threads"][0]["thread_id"]);
    let stored = api()
        .get_ok(&format!("/v1/chat/threads/{thread}"), &w.token("ann"))
        .await;
    let kept = value_text(&stored["messages"][1]["content"]);
    assert_eq!(kept.trim(), shown.trim(), "{stored}");
}

// ------------------------------------------------------------------ planned work

#[given("a bare repository whose check script writes NOTES.md")]
async fn repository(w: &mut ConsoleWorld) {
    let dir = cynode_testkit::scratch_dir(&unique_handle("remote"));
    let files = [
        ("README.md", "# Widgets\n\nA tiny project.\n"),
        ("check.sh", "printf 'hello\\n' > NOTES.md\n"),
    ];
    let remote_url = cynode_testkit::forge::bare_repository(&dir, "widgets", &files)
        .unwrap_or_else(|err| panic!("{err:#}"));
    w.planned = Some(PlannedWork {
        remote_url,
        project: None,
        _forge: None,
        subtask: None,
    });
}

#[given(expr = "{string} has a project for the repository")]
async fn project(w: &mut ConsoleWorld, alias: String) {
    let credential = "tok-console-5e1b";
    let forge = cynode_testkit::forge::ForgeContract::start("acme", "widgets", credential)
        .expect("the forge listens");
    let body = json!({
        "name": unique_handle("widgets"),
        "repo_url": w.planned().remote_url,
        "credential": credential,
        "test_command": "sh ./check.sh",
        "forge_url": forge.url,
        "forge_repo": "acme/widgets",
    });
    let reply = api()
        .post("/v1/projects", Some(&w.token(&alias)), &body)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    w.planned().project = Some(value_text(&reply.body["project_id"]));
    w.planned()._forge = Some(forge);
}

#[when(expr = "she plans {string} in the project from the console")]
async fn plans(w: &mut ConsoleWorld, request: String) {
    let project = w.planned().project.clone().expect("a project");
    w.open("#/tasks").await;
    let browser = w.browser();
    browser
        .find("input[name=mode][value=plan]")
        .await
        .expect("the mode")
        .click()
        .await
        .expect("planned work chosen");
    browser.fill("input", &request).await.expect("the request");
    let select = browser
        .wait_for("select[name=project]", cynode_browser::PAGE_WAIT, |t| {
            !t.trim().is_empty()
        })
        .await
        .expect("projects");
    browser
        .wait_for(
            &format!("select[name=project] option[value='{project}']"),
            cynode_browser::PAGE_WAIT,
            |_| true,
        )
        .await
        .expect("the project is offered");
    select
        .select_by_value(&project)
        .await
        .expect("project chosen");
    w.shot("new-plan").await;
    w.browser()
        .click("button[type=submit]", "Start task")
        .await
        .expect("started");
    w.task_in_address().await;
}

#[then(expr = "the board shows a subtask in the {string} column within {int} seconds")]
async fn board_shows(w: &mut ConsoleWorld, column: String, secs: u64) {
    let card = w
        .browser()
        .wait_for(
            &format!("section.column[aria-label='{column}'] article.card"),
            Duration::from_secs(secs),
            |_| true,
        )
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
    let number = card
        .attr("data-subtask")
        .await
        .expect("read")
        .expect("a subtask number");
    w.planned().subtask = Some(number);
    w.shot("board").await;
}

#[when("she starts that subtask from the board")]
async fn starts_subtask(w: &mut ConsoleWorld) {
    let number = w.planned().subtask.clone().expect("a subtask");
    w.browser()
        .click(&format!("article[data-subtask='{number}'] button"), "Start")
        .await
        .expect("the start button");
}

#[then(expr = "the subtask's card leaves the {string} column for {string} or later")]
async fn card_moves(w: &mut ConsoleWorld, _from: String, _to: String) {
    let number = w.planned().subtask.clone().expect("a subtask");
    let later = ["in_progress", "completed", "merged"]
        .map(|state| {
            format!("section.column[data-state='{state}'] article[data-subtask='{number}']")
        })
        .join(", ");
    w.browser()
        .wait_for(&later, WORK_WAIT, |_| true)
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
    w.shot("board-moved").await;
}
