//! The tasks table: tasks, their jobs, their names, and attachments.
//!
//! | item         | pk                          | sk            |
//! |--------------|-----------------------------|---------------|
//! | task         | `TASK#<task id>`            | `TASK`        |
//! | job          | `TASK#<task id>`            | `JOB#<job id>`|
//! | name guard   | `TASKNAME#<owner>#<name>`   | `TASKNAME`    |
//! | attachment   | `ATTACHMENT#<id>`           | `ATTACHMENT`  |
//! | create key   | `IDEMPOTENCY#<owner>#<key>` | `IDEMPOTENCY` |
//! | chunk        | `TASK#<task id>`            | `CHUNK#<job id>#<attempt>#<seq>` |
//! | log chunk    | `TASK#<task id>`            | `LOG#<job id>#<attempt>#<seq>` (`logs.rs`) |
//! | preference   | `TASK#<task id>`            | `PREF#<key>`  |
//!
//! Users' usage rows live here too (`usage.rs`), written in the same transactions.
//!
//! A task and its jobs share a partition, so "the task and all its jobs" is one strongly
//! consistent query. Task items also carry the keys of two sparse indexes that list a
//! user's tasks newest first, `by_owner` (`owner_pk` = owner) and `by_owner_status`
//! (`owner_status_pk` = owner#status), both sorted by `created_sk` = the task id, a ULID.
//! A planned task's plan (its subtasks and their states) is a JSON attribute of the task
//! item, so a job's result and the subtask it moves are one conditional write; a plan is
//! bounded (`plan::MAX_SUBTASKS`, spec sizes) well under the 400 KB item limit.
//! Job items carry `active_pk` = `ACTIVE` and `active_sk` = the job id only while the job
//! is unfinished: the sparse index `active_jobs` is what the recovery sweep pages through.
//! Task items carry `finished_pk` = `FINISHED` and `finished_sk` = when they last changed
//! only once finished: the sparse index `finished_tasks` is what retention pages through.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cynode_domain::clock::Timestamp;
use cynode_domain::ids::{AttachmentId, JobId, ProjectId, TaskId, UserId};
use cynode_domain::job::{Job, JobNote, JobOutput, Lease};
use cynode_domain::plan::JobRole;
use cynode_domain::ports::{
    AnswerProgress, Chunk, StoreResult, TaskFilter, TaskPage, TaskStore, Write,
};
use cynode_domain::status::{JobStatus, TaskStatus};
use cynode_domain::task::{Attachment, StoredInput, Task};
use cynode_domain::wire::InputMode;
use cynode_domain::StoreError;

use super::{
    delete_items, get_item, key, put_new, put_versioned, query_items, transact, Item, ItemBuilder,
    ItemReader,
};

#[derive(Debug, Clone)]
pub struct DynamoTasks {
    client: Client,
    table: String,
}

/// The partition of the `active_jobs` index.
const ACTIVE: &str = "ACTIVE";
/// The partition of the `finished_tasks` index.
const FINISHED: &str = "FINISHED";

/// Finished tasks sort by when they last changed (seconds, zero-padded), then id.
fn finished_sk(updated_at: Timestamp, id: &TaskId) -> String {
    format!("{:012}#{id}", updated_at.unix_timestamp().max(0))
}

fn task_pk(id: &TaskId) -> String {
    format!("TASK#{id}")
}
fn job_sk(id: &JobId) -> String {
    format!("JOB#{id}")
}
/// Chunks sort by attempt then sequence number (zero-padded) within the task's partition.
fn chunk_sk(job: &JobId, attempt: u32, seq: u32) -> String {
    format!("CHUNK#{job}#{attempt:010}#{seq:010}")
}
fn name_pk(owner: &UserId, name: &str) -> String {
    format!("TASKNAME#{owner}#{name}")
}
fn idempotency_pk(owner: &UserId, key: &str) -> String {
    format!("IDEMPOTENCY#{owner}#{key}")
}
fn attachment_pk(id: &AttachmentId) -> String {
    format!("ATTACHMENT#{id}")
}
fn owner_status_pk(owner: &UserId, status: TaskStatus) -> String {
    format!("{owner}#{status}")
}

fn parse_enum<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("unknown {what} '{text}'")))
}

fn task_item(task: &Task) -> StoreResult<Item> {
    let builder = ItemBuilder::key(task_pk(&task.id), "TASK")
        .s("task_id", task.id.as_str())
        .s("owner", task.owner.as_str())
        .s("owner_pk", task.owner.as_str())
        .s("owner_status_pk", owner_status_pk(&task.owner, task.status))
        .s("created_sk", task.id.as_str())
        .opt_s("name", task.name.clone())
        .s("mode", task.mode.as_str())
        .s("prompt_preview", &task.prompt_preview)
        .json("input", &task.input)?
        .json("attachments", &task.attachments)?
        .opt_n("timeout_secs", task.timeout_secs)
        .opt_s("model", task.model.clone())
        .opt_s("idempotency_key", task.idempotency_key.clone())
        .opt_s(
            "project_id",
            task.project_id.as_ref().map(|id| id.to_string()),
        )
        .opt_s("image", task.image.clone())
        .s("status", task.status.as_str())
        .time("created_at", task.created_at)
        .time("updated_at", task.updated_at)
        .n("version", task.version)
        // Finished tasks only (sparse): what retention pages through, oldest first.
        .opt_s("finished_pk", task.status.is_terminal().then_some(FINISHED))
        .opt_s(
            "finished_sk",
            task.status
                .is_terminal()
                .then(|| finished_sk(task.updated_at, &task.id)),
        );
    let builder = match &task.routing {
        Some(routing) => builder.json("routing", routing)?,
        None => builder,
    };
    Ok(match &task.plan {
        Some(plan) => builder.json("plan", plan)?,
        None => builder,
    }
    .build())
}

fn read_task(item: &Item) -> StoreResult<Task> {
    let r = ItemReader(item);
    Ok(Task {
        id: TaskId::from_stored(r.s("task_id")?),
        owner: UserId::from_stored(r.s("owner")?),
        name: r.opt_s("name"),
        mode: parse_enum::<InputMode>("mode", &r.s("mode")?)?,
        prompt_preview: r.s("prompt_preview")?,
        input: r.json::<StoredInput>("input")?,
        attachments: r.json("attachments")?,
        timeout_secs: r.opt_n("timeout_secs")?,
        model: r.opt_s("model"),
        idempotency_key: r.opt_s("idempotency_key"),
        project_id: r.opt_s("project_id").map(ProjectId::from_stored),
        image: r.opt_s("image"),
        plan: r.opt_json("plan")?,
        routing: r.opt_json("routing")?,
        status: parse_enum::<TaskStatus>("task status", &r.s("status")?)?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        version: r.n("version")?,
    })
}

fn job_item(job: &Job) -> StoreResult<Item> {
    let mut builder = ItemBuilder::key(task_pk(&job.task_id), job_sk(&job.id))
        .s("job_id", job.id.as_str())
        .s("task_id", job.task_id.as_str())
        .s("owner", job.owner.as_str())
        .s("status", job.status.as_str())
        .n("attempt", job.attempt)
        .bool("cancel_requested", job.cancel_requested)
        .time("created_at", job.created_at)
        .time("updated_at", job.updated_at)
        .opt_time("started_at", job.started_at)
        .n("redrives", job.redrives)
        .opt_s("progress", job.progress.clone())
        .n("version", job.version);
    if !job.status.is_terminal() {
        builder = builder
            .s("active_pk", ACTIVE)
            .s("active_sk", job.id.as_str());
    }
    if let Some(note) = &job.note {
        builder = builder.json("note", note)?;
    }
    if job.role != JobRole::Task {
        builder = builder.json("role", &job.role)?;
    }
    if let Some(lease) = &job.lease {
        builder = builder.json("lease", lease)?;
    }
    if let Some(output) = &job.output {
        builder = builder.json("output", output)?;
    }
    Ok(builder.build())
}

fn read_job(item: &Item) -> StoreResult<Job> {
    let r = ItemReader(item);
    Ok(Job {
        id: JobId::from_stored(r.s("job_id")?),
        task_id: TaskId::from_stored(r.s("task_id")?),
        owner: UserId::from_stored(r.s("owner")?),
        status: parse_enum::<JobStatus>("job status", &r.s("status")?)?,
        attempt: r.n("attempt")?,
        lease: r.opt_json::<Lease>("lease")?,
        cancel_requested: r.bool("cancel_requested"),
        output: r.opt_json::<JobOutput>("output")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        started_at: r.opt_time("started_at")?,
        redrives: r.opt_n("redrives")?.unwrap_or(0),
        note: r.opt_json::<JobNote>("note")?,
        role: r.opt_json::<JobRole>("role")?.unwrap_or_default(),
        progress: r.opt_s("progress"),
        version: r.n("version")?,
    })
}

impl DynamoTasks {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        get_item(&self.client, &self.table, pk, sk).await
    }

    /// Every item of a task's partition that `condition` selects (`:pk` is the task's),
    /// strongly consistent, across as many pages as DynamoDB returns.
    async fn partition(
        &self,
        task: &TaskId,
        condition: &str,
        values: &[(&str, String)],
    ) -> StoreResult<Vec<Item>> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(condition)
            .expression_attribute_values(":pk", AttributeValue::S(task_pk(task)))
            .consistent_read(true);
        for (name, value) in values {
            query = query.expression_attribute_values(*name, AttributeValue::S(value.clone()));
        }
        query_items(query, None).await
    }

    /// The key a GSI query resumes after: every key attribute of the task item.
    fn resume_key(&self, owner: &UserId, status: Option<TaskStatus>, after: &TaskId) -> Item {
        let builder = ItemBuilder::key(task_pk(after), "TASK")
            .s("created_sk", after.as_str())
            .s("owner_pk", owner.as_str());
        match status {
            Some(status) => builder.s("owner_status_pk", owner_status_pk(owner, status)),
            None => builder,
        }
        .build()
    }
}

#[async_trait]
impl TaskStore for DynamoTasks {
    async fn insert_task(&self, task: &Task, jobs: &[Job]) -> StoreResult<()> {
        let mut writes = vec![put_new(&self.table, task_item(task)?)?];
        if let Some(name) = &task.name {
            let guard = ItemBuilder::key(name_pk(&task.owner, name), "TASKNAME")
                .s("task_id", task.id.as_str())
                .build();
            writes.push(put_new(&self.table, guard)?);
        }
        if let Some(key) = &task.idempotency_key {
            let guard = ItemBuilder::key(idempotency_pk(&task.owner, key), "IDEMPOTENCY")
                .s("task_id", task.id.as_str())
                .build();
            writes.push(put_new(&self.table, guard)?);
        }
        for job in jobs {
            writes.push(put_new(&self.table, job_item(job)?)?);
        }
        transact(&self.client, writes).await
    }

    async fn task_by_idempotency_key(
        &self,
        owner: &UserId,
        key: &str,
    ) -> StoreResult<Option<Task>> {
        let Some(guard) = self.get(idempotency_pk(owner, key), "IDEMPOTENCY").await? else {
            return Ok(None);
        };
        let id = TaskId::from_stored(ItemReader(&guard).s("task_id")?);
        self.task(&id).await
    }

    async fn task(&self, id: &TaskId) -> StoreResult<Option<Task>> {
        self.get(task_pk(id), "TASK")
            .await?
            .as_ref()
            .map(read_task)
            .transpose()
    }

    async fn task_by_name(&self, owner: &UserId, name: &str) -> StoreResult<Option<Task>> {
        let Some(guard) = self.get(name_pk(owner, name), "TASKNAME").await? else {
            return Ok(None);
        };
        let id = TaskId::from_stored(ItemReader(&guard).s("task_id")?);
        self.task(&id).await
    }

    async fn active_jobs(
        &self,
        limit: u32,
        after: Option<&str>,
    ) -> StoreResult<(Vec<Job>, Option<String>)> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("active_jobs")
            .expression_attribute_values(":active", AttributeValue::S(ACTIVE.into()));
        let query = match after {
            Some(after) => query
                .key_condition_expression("active_pk = :active AND active_sk > :after")
                .expression_attribute_values(":after", AttributeValue::S(after.into())),
            None => query.key_condition_expression("active_pk = :active"),
        };
        let mut jobs = query_items(query, Some(limit as usize + 1))
            .await?
            .iter()
            .map(read_job)
            .collect::<StoreResult<Vec<_>>>()?;
        let more = jobs.len() > limit as usize;
        jobs.truncate(limit as usize);
        let cursor = more
            .then(|| jobs.last().map(|job| job.id.to_string()))
            .flatten();
        Ok((jobs, cursor))
    }

    async fn list_tasks(
        &self,
        owner: &UserId,
        filter: TaskFilter<'_>,
        limit: u32,
        after: Option<&TaskId>,
    ) -> StoreResult<TaskPage> {
        let status = filter.status;
        let (index, partition_attr, partition) = match status {
            Some(status) => (
                "by_owner_status",
                "owner_status_pk",
                owner_status_pk(owner, status),
            ),
            None => ("by_owner", "owner_pk", owner.as_str().to_owned()),
        };
        // Ask for one more than a page: if it comes, there is a next page. DynamoDB may
        // also stop early at its 1 MB response limit, so keep going until the page is
        // full or the index is exhausted.
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#partition = :partition")
            .expression_attribute_names("#partition", partition_attr)
            .expression_attribute_values(":partition", AttributeValue::S(partition))
            .scan_index_forward(false)
            .set_exclusive_start_key(after.map(|after| self.resume_key(owner, status, after)));
        // A project's tasks: the owner's, filtered (DynamoDB filters after reading, and
        // `query_items` reads on until the page is full).
        let query = match filter.project {
            Some(project) => query
                .filter_expression("project_id = :project")
                .expression_attribute_values(":project", AttributeValue::S(project.to_string())),
            None => query,
        };
        // A resume key for an item of another owner or index is `Rejected` by DynamoDB;
        // cursors are checked before they get here.
        let items = query_items(query, Some(limit as usize + 1)).await?;
        let mut tasks = items
            .iter()
            .map(read_task)
            .collect::<StoreResult<Vec<_>>>()?;
        let more = tasks.len() > limit as usize;
        tasks.truncate(limit as usize);
        Ok(TaskPage {
            last: if more {
                tasks.last().map(|t| t.id.clone())
            } else {
                None
            },
            tasks,
        })
    }

    async fn count_tasks(
        &self,
        owner: &UserId,
        statuses: &[TaskStatus],
        up_to: u32,
    ) -> StoreResult<u32> {
        // One index partition per status, counted at once (this is on the path of every
        // task created).
        let counts = futures_util::future::try_join_all(statuses.iter().map(|status| {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("by_owner_status")
                .key_condition_expression("owner_status_pk = :partition")
                .expression_attribute_values(
                    ":partition",
                    AttributeValue::S(owner_status_pk(owner, *status)),
                );
            super::count_items(query, Some(up_to))
        }))
        .await?;
        Ok(counts.iter().sum::<u32>().min(up_to))
    }

    async fn jobs(&self, task: &TaskId) -> StoreResult<Vec<Job>> {
        let items = self
            .partition(
                task,
                "pk = :pk AND begins_with(sk, :jobs)",
                &[(":jobs", "JOB#".into())],
            )
            .await?;
        items.iter().map(read_job).collect()
    }

    async fn job(&self, task: &TaskId, job: &JobId) -> StoreResult<Option<Job>> {
        self.get(task_pk(task), &job_sk(job))
            .await?
            .as_ref()
            .map(read_job)
            .transpose()
    }

    async fn commit(&self, writes: &[Write<'_>]) -> StoreResult<()> {
        let mut items = Vec::with_capacity(writes.len());
        for write in writes {
            items.push(match write {
                Write::Task(task) => put_versioned(&self.table, task_item(task)?, task.version)?,
                Write::Job(job) => put_versioned(&self.table, job_item(job)?, job.version)?,
                Write::Usage(entry) => super::usage::add_usage(&self.table, entry)?,
            });
        }
        transact(&self.client, items).await
    }

    async fn insert_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        let item = ItemBuilder::key(attachment_pk(&attachment.id), "ATTACHMENT")
            .json("attachment", attachment)?
            .build();
        transact(&self.client, vec![put_new(&self.table, item)?]).await
    }

    async fn attachment(&self, id: &AttachmentId) -> StoreResult<Option<Attachment>> {
        self.get(attachment_pk(id), "ATTACHMENT")
            .await?
            .map(|item| ItemReader(&item).json("attachment"))
            .transpose()
    }

    async fn finished_before(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<Task>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("finished_tasks")
            .key_condition_expression("finished_pk = :finished AND finished_sk < :before")
            .expression_attribute_values(":finished", AttributeValue::S(FINISHED.into()))
            .expression_attribute_values(
                ":before",
                AttributeValue::S(format!("{:012}", before.unix_timestamp().max(0))),
            );
        query_items(query, Some(limit as usize))
            .await?
            .iter()
            .map(read_task)
            .collect()
    }

    async fn delete_task(&self, task: &Task) -> StoreResult<()> {
        // Every item of the task's partition (jobs, chunks, preferences) but the task,
        // keys only.
        let partition = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(task_pk(&task.id)))
            .projection_expression("pk, sk")
            .consistent_read(true);
        let mut keys: Vec<Item> = query_items(partition, None)
            .await?
            .into_iter()
            .filter(|key| {
                key.get("sk")
                    .and_then(|sk| sk.as_s().ok())
                    .map(String::as_str)
                    != Some("TASK")
            })
            .collect();
        if let Some(name) = &task.name {
            keys.push(key(name_pk(&task.owner, name), "TASKNAME"));
        }
        if let Some(idempotency) = &task.idempotency_key {
            keys.push(key(idempotency_pk(&task.owner, idempotency), "IDEMPOTENCY"));
        }
        delete_items(&self.client, &self.table, keys).await?;
        // Last: while it exists, deleting the task again finishes the job.
        delete_items(
            &self.client,
            &self.table,
            vec![key(task_pk(&task.id), "TASK")],
        )
        .await
    }

    async fn put_chunk(&self, chunk: &Chunk) -> StoreResult<()> {
        let item = ItemBuilder::key(
            task_pk(&chunk.task),
            chunk_sk(&chunk.job, chunk.attempt, chunk.seq),
        )
        .n("seq", chunk.seq)
        .s("text", &chunk.text);
        let item = match &chunk.end {
            Some(end) => item.json("end", end)?,
            None => item,
        }
        .build();
        match transact(&self.client, vec![put_new(&self.table, item)?]).await {
            // The same chunk again (a retried callback): already stored.
            Err(StoreError::Conflict(_)) => Ok(()),
            other => other,
        }
    }

    async fn answer_progress(
        &self,
        task: &TaskId,
        job: &JobId,
        attempt: u32,
        after: Option<u32>,
    ) -> StoreResult<AnswerProgress> {
        // `CHUNK#<job>#…` sorts before `JOB#<job>`: one range holds the chunks from
        // (attempt, after) on and, at its end, the job. What else a task's partition
        // holds in between (another job's chunks or item, in a planned task) is skipped.
        let from = after.map_or(0, |seq| seq.saturating_add(1));
        let items = self
            .partition(
                task,
                "pk = :pk AND sk BETWEEN :from AND :to",
                &[
                    (":from", chunk_sk(job, attempt, from)),
                    (":to", job_sk(job)),
                ],
            )
            .await?;
        let (chunk_prefix, job_key) = (format!("CHUNK#{job}#"), job_sk(job));
        let mut progress = AnswerProgress::default();
        for item in &items {
            let r = ItemReader(item);
            let sk = r.s("sk")?;
            if sk == job_key {
                progress.job = Some(read_job(item)?);
            } else if let Some(rest) = sk.strip_prefix(&chunk_prefix) {
                let chunk_attempt = rest
                    .split('#')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| StoreError::Corrupt(format!("chunk key '{sk}'")))?;
                progress.chunks.push(Chunk {
                    task: task.clone(),
                    job: job.clone(),
                    attempt: chunk_attempt,
                    seq: r.n("seq")?,
                    text: r.s("text")?,
                    end: r.opt_json("end")?,
                });
            }
        }
        Ok(progress)
    }
}
