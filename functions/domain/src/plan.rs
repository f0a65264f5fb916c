//! Planned work: a feature request split by a planner agent into subtasks with
//! dependencies, each built by a worker agent on its own branch and proposed as a pull
//! request.
//!
//! Everything here is pure. A plan lives on its task (so every transition is one
//! conditional write of the task, together with the job that caused it):
//!
//! - [`parse_draft`] checks a planner's output: the shape (see [`plan_schema`]), the
//!   bounds, and the dependency graph (no dangling dependency, no cycle).
//! - [`Plan`] holds the subtasks and their state machine (seed 004 §Phase 5):
//!   `ready | blocked_dependency → in_progress → completed → merged`, and
//!   `in_progress → blocked_failure → (retry) in_progress`. A subtask whose dependencies
//!   are all merged becomes `ready`; when every subtask is merged the task is done.
//! - [`PlanPolicy`] bounds planner and worker attempts and spaces worker retries
//!   (5 s base, ×2, 120 s cap, with jitter).

use crate::ErrorCode;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{JobId, TaskId};
use crate::limits::truncate_utf8;
use crate::wire::PlanSummary;

pub use cynode_protocol::plan::{
    plan_schema, PullRequest, Subtask, SubtaskState, WorkReport, MAX_SUBTASKS,
    MAX_SUBTASK_ACCEPTANCE_BYTES, MAX_SUBTASK_SPEC_BYTES, MAX_SUBTASK_TITLE_CHARS,
};

/// Longest reason kept for a failure (planner or worker).
const MAX_REASON_BYTES: usize = 1024;

/// What a job of a planned task does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum JobRole {
    /// A plain task's job.
    #[default]
    Task,
    /// The planner: explore the repository and propose subtasks.
    Plan,
    /// A worker building subtask `subtask` on its branch.
    Work { subtask: u32 },
}

/// One subtask as the planner proposes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftSubtask {
    pub title: String,
    pub spec: String,
    #[serde(default)]
    pub acceptance: String,
    /// 1-based numbers of the subtasks this one needs merged first.
    #[serde(default)]
    pub depends_on: Vec<u32>,
}

#[derive(Debug, Clone, Deserialize)]
struct Draft {
    subtasks: Vec<DraftSubtask>,
}

/// Checks a planner's output. The error is the reason shown to the user (and to the
/// planner's next attempt).
pub fn parse_draft(text: &str) -> std::result::Result<Vec<DraftSubtask>, String> {
    let trimmed = text.trim();
    // Tolerate text around the object (a model that ignores the schema); nothing inside.
    let json = match (trimmed.find('{'), trimmed.rfind('}')) {
        (Some(start), Some(end)) if start < end => &trimmed[start..=end],
        _ => return Err("the plan is not a JSON object".into()),
    };
    let draft: Draft = serde_json::from_str(json)
        .map_err(|err| format!("the plan does not match the schema: {err}"))?;
    let subtasks = draft.subtasks;
    if subtasks.is_empty() || subtasks.len() > MAX_SUBTASKS {
        return Err(format!(
            "the plan has {} subtasks; it needs 1 to {MAX_SUBTASKS}",
            subtasks.len()
        ));
    }
    for (i, subtask) in subtasks.iter().enumerate() {
        let n = i + 1;
        let title = subtask.title.trim();
        if title.is_empty() || title.chars().count() > MAX_SUBTASK_TITLE_CHARS {
            return Err(format!(
                "subtask {n} needs a title of 1 to {MAX_SUBTASK_TITLE_CHARS} characters"
            ));
        }
        if subtask.spec.trim().is_empty() || subtask.spec.len() > MAX_SUBTASK_SPEC_BYTES {
            return Err(format!(
                "subtask {n} needs a spec of 1 to {MAX_SUBTASK_SPEC_BYTES} bytes"
            ));
        }
        if subtask.acceptance.len() > MAX_SUBTASK_ACCEPTANCE_BYTES {
            return Err(format!(
                "subtask {n}'s acceptance criteria exceed {MAX_SUBTASK_ACCEPTANCE_BYTES} bytes"
            ));
        }
        for &dep in &subtask.depends_on {
            if dep as usize == n {
                return Err(format!("subtask {n} depends on itself"));
            }
            if dep == 0 || dep as usize > subtasks.len() {
                return Err(format!(
                    "subtask {n} depends on subtask {dep}, which is not in the plan (it has {})",
                    subtasks.len()
                ));
            }
        }
    }
    if let Some(cycle) = find_cycle(&subtasks) {
        let path: Vec<String> = cycle.iter().map(u32::to_string).collect();
        return Err(format!(
            "the dependencies form a cycle: {}",
            path.join(" → ")
        ));
    }
    Ok(subtasks
        .into_iter()
        .map(|s| DraftSubtask {
            title: s.title.trim().to_owned(),
            depends_on: s
                .depends_on
                .into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            ..s
        })
        .collect())
}

/// A cycle in the dependency graph as a closed path (`[1, 2, 1]`), if there is one.
fn find_cycle(subtasks: &[DraftSubtask]) -> Option<Vec<u32>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        n: usize,
        subtasks: &[DraftSubtask],
        marks: &mut [Mark],
        path: &mut Vec<u32>,
    ) -> Option<Vec<u32>> {
        marks[n] = Mark::OnPath;
        path.push(n as u32 + 1);
        for &dep in &subtasks[n].depends_on {
            let d = dep as usize - 1;
            match marks[d] {
                Mark::OnPath => {
                    let start = path.iter().position(|&p| p == dep).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(dep);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(d, subtasks, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[n] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; subtasks.len()];
    for n in 0..subtasks.len() {
        if marks[n] == Mark::New {
            if let Some(cycle) = visit(n, subtasks, &mut marks, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

/// A planned task's state: the planner's attempts, then the subtasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Planner attempts in the current round (reset by `retry-planning`).
    pub planner_attempts: u32,
    /// Why the last planner attempt was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planner_error: Option<String>,
    /// The planner job of the current round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planner_job: Option<JobId>,
    /// Start subtasks as soon as they are ready (the project's setting when planned).
    pub auto_start: bool,
    #[serde(default)]
    pub subtasks: Vec<Subtask>,
}

/// Limits of planner and worker attempts, and the worker retry backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPolicy {
    pub max_planner_attempts: u32,
    pub max_worker_attempts: u32,
    pub backoff_base_secs: u32,
    pub backoff_cap_secs: u32,
}

impl Default for PlanPolicy {
    fn default() -> Self {
        Self {
            max_planner_attempts: 3,
            max_worker_attempts: 3,
            backoff_base_secs: 5,
            backoff_cap_secs: 120,
        }
    }
}

impl PlanPolicy {
    /// The wait before worker attempt `failed + 1` after `failed` failures: the base
    /// doubled per failure, capped, and then jittered into its upper half (`jitter` in
    /// [0, 1)), so retries of many subtasks do not fall in step.
    pub fn worker_backoff_secs(&self, failed: u32, jitter: f64) -> u32 {
        let full = self
            .backoff_base_secs
            .saturating_mul(1u32 << failed.saturating_sub(1).min(16))
            .min(self.backoff_cap_secs);
        let half = full / 2;
        half + (f64::from(full - half) * jitter.clamp(0.0, 1.0)).round() as u32
    }
}

/// The branch subtask `number` of `task` is built on: `cyn-<n>-<slug>`, the slug made of
/// the title and the end of the task id, so two tasks on one repository never share one.
pub fn branch_name(task: &TaskId, number: u32, title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 32 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let id = task.as_str().to_ascii_lowercase();
    let tail = &id[id.len().saturating_sub(6)..];
    if slug.is_empty() {
        format!("cyn-{number}-{tail}")
    } else {
        format!("cyn-{number}-{slug}-{tail}")
    }
}

pub(crate) fn reason(text: &str) -> String {
    truncate_utf8(text.trim(), MAX_REASON_BYTES).0.to_owned()
}

/// What happened to a subtask that the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerNext {
    /// Nothing more (completed, or blocked by failure).
    Settled,
    /// Run another attempt after this many seconds.
    RetryAfter(u32),
}

impl Plan {
    pub fn new(auto_start: bool) -> Plan {
        Plan {
            planner_attempts: 0,
            planner_error: None,
            planner_job: None,
            auto_start,
            subtasks: Vec::new(),
        }
    }

    /// The subtasks of an accepted draft: ready when they depend on nothing.
    pub fn accept(&mut self, task: &TaskId, draft: Vec<DraftSubtask>, now: Timestamp) {
        self.planner_error = None;
        self.subtasks = draft
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let number = i as u32 + 1;
                Subtask {
                    number,
                    branch: branch_name(task, number, &d.title),
                    state: if d.depends_on.is_empty() {
                        SubtaskState::Ready
                    } else {
                        SubtaskState::BlockedDependency
                    },
                    title: d.title,
                    spec: d.spec,
                    acceptance: d.acceptance,
                    depends_on: d.depends_on,
                    reason: None,
                    attempts: 0,
                    job_id: None,
                    commit: None,
                    pull_request: None,
                    updated_at: now,
                }
            })
            .collect();
    }

    pub fn subtask(&self, number: u32) -> Result<&Subtask> {
        self.subtasks
            .iter()
            .find(|s| s.number == number)
            .ok_or_else(|| subtask_not_found(number))
    }

    fn subtask_mut(&mut self, number: u32) -> Result<&mut Subtask> {
        self.subtasks
            .iter_mut()
            .find(|s| s.number == number)
            .ok_or_else(|| subtask_not_found(number))
    }

    /// The subtask whose current worker job is `job`.
    pub fn subtask_of_job(&self, job: &JobId) -> Option<&Subtask> {
        self.subtasks
            .iter()
            .find(|s| s.job_id.as_ref() == Some(job))
    }

    /// `ready → in_progress` under the worker job `job`.
    pub fn start(&mut self, number: u32, job: JobId, now: Timestamp) -> Result<()> {
        let merged: BTreeSet<u32> = self.merged();
        let subtask = self.subtask_mut(number)?;
        match subtask.state {
            SubtaskState::Ready => {}
            SubtaskState::BlockedDependency => {
                let waiting: Vec<String> = subtask
                    .depends_on
                    .iter()
                    .filter(|d| !merged.contains(d))
                    .map(u32::to_string)
                    .collect();
                return Err(Error::conflict(
                    ErrorCode::SubtaskBlocked,
                    format!(
                        "subtask {number} waits for subtask {} to be merged",
                        waiting.join(", ")
                    ),
                ));
            }
            SubtaskState::BlockedFailure => {
                return Err(Error::conflict(
                    ErrorCode::SubtaskFailed,
                    format!("subtask {number} is blocked by failure; use retry"),
                ))
            }
            state => {
                return Err(Error::conflict(
                    ErrorCode::SubtaskNotReady,
                    format!("subtask {number} is {}", state.as_str()),
                ))
            }
        }
        subtask.state = SubtaskState::InProgress;
        subtask.attempts = 1;
        subtask.reason = None;
        subtask.job_id = Some(job);
        subtask.updated_at = now;
        Ok(())
    }

    /// `blocked_failure → in_progress`, attempts counted afresh, under the worker `job`.
    pub fn retry(&mut self, number: u32, job: JobId, now: Timestamp) -> Result<()> {
        let subtask = self.subtask_mut(number)?;
        if subtask.state != SubtaskState::BlockedFailure {
            return Err(Error::conflict(
                ErrorCode::SubtaskNotFailed,
                format!(
                    "subtask {number} is {}; only a subtask blocked by failure is retried",
                    subtask.state.as_str()
                ),
            ));
        }
        subtask.state = SubtaskState::InProgress;
        subtask.attempts = 1;
        subtask.job_id = Some(job);
        subtask.updated_at = now;
        Ok(())
    }

    /// A worker attempt ended. Success completes the subtask; a failure schedules the
    /// next attempt (the caller creates `next_job` for it) or, past the limit, blocks it.
    /// A job that is not the subtask's current one changes nothing.
    pub fn worker_finished(
        &mut self,
        job: &JobId,
        outcome: std::result::Result<&WorkReport, &str>,
        next_job: JobId,
        policy: &PlanPolicy,
        jitter: f64,
        now: Timestamp,
    ) -> WorkerNext {
        let Some(subtask) = self
            .subtasks
            .iter_mut()
            .find(|s| s.job_id.as_ref() == Some(job) && s.state == SubtaskState::InProgress)
        else {
            return WorkerNext::Settled;
        };
        subtask.updated_at = now;
        match outcome {
            Ok(work) => {
                subtask.state = SubtaskState::Completed;
                subtask.reason = None;
                subtask.branch = work.branch.clone();
                subtask.commit = Some(work.commit.clone());
                subtask.pull_request = work.pull_request.clone();
                WorkerNext::Settled
            }
            Err(why) if subtask.attempts >= policy.max_worker_attempts => {
                subtask.state = SubtaskState::BlockedFailure;
                let failed = match subtask.attempts {
                    1 => "the only attempt failed".to_owned(),
                    n => format!("{n} attempts failed; the last"),
                };
                subtask.reason = Some(reason(&format!("{failed}: {why}")));
                WorkerNext::Settled
            }
            Err(why) => {
                let delay = policy.worker_backoff_secs(subtask.attempts, jitter);
                subtask.reason = Some(reason(&format!(
                    "attempt {} failed: {why}",
                    subtask.attempts
                )));
                subtask.attempts += 1;
                subtask.job_id = Some(next_job);
                WorkerNext::RetryAfter(delay)
            }
        }
    }

    /// `completed → merged`; dependents whose dependencies are now all merged become
    /// ready. Returns the numbers that became ready.
    pub fn mark_merged(&mut self, number: u32, now: Timestamp) -> Result<Vec<u32>> {
        let subtask = self.subtask_mut(number)?;
        match subtask.state {
            SubtaskState::Completed => {}
            SubtaskState::Merged => return Ok(Vec::new()),
            state => {
                return Err(Error::conflict(
                    ErrorCode::SubtaskNotCompleted,
                    format!(
                        "subtask {number} is {}; only a completed subtask (branch pushed) can be marked merged",
                        state.as_str()
                    ),
                ))
            }
        }
        subtask.state = SubtaskState::Merged;
        subtask.updated_at = now;
        let merged = self.merged();
        let mut unblocked = Vec::new();
        for s in &mut self.subtasks {
            if s.state == SubtaskState::BlockedDependency
                && s.depends_on.iter().all(|d| merged.contains(d))
            {
                s.state = SubtaskState::Ready;
                s.updated_at = now;
                unblocked.push(s.number);
            }
        }
        Ok(unblocked)
    }

    /// The subtasks that may start now.
    pub fn ready(&self) -> Vec<u32> {
        self.subtasks
            .iter()
            .filter(|s| s.state == SubtaskState::Ready)
            .map(|s| s.number)
            .collect()
    }

    fn merged(&self) -> BTreeSet<u32> {
        self.subtasks
            .iter()
            .filter(|s| s.state == SubtaskState::Merged)
            .map(|s| s.number)
            .collect()
    }

    pub fn summary(&self) -> PlanSummary {
        PlanSummary {
            planner_attempts: self.planner_attempts,
            planner_error: self.planner_error.clone(),
            subtasks: self.subtasks.len() as u32,
            merged: self.merged().len() as u32,
        }
    }

    /// Every subtask is merged.
    pub fn is_done(&self) -> bool {
        !self.subtasks.is_empty()
            && self
                .subtasks
                .iter()
                .all(|s| s.state == SubtaskState::Merged)
    }
}

fn subtask_not_found(number: u32) -> Error {
    Error::not_found(
        ErrorCode::SubtaskNotFound,
        format!("no subtask {number} in this task"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use time::macros::datetime;

    const NOW: Timestamp = datetime!(2026-11-22 10:00 UTC);

    fn draft(deps: &[&[u32]]) -> String {
        let subtasks: Vec<Value> = deps
            .iter()
            .enumerate()
            .map(|(i, d)| {
                json!({"title": format!("Step {}", i + 1), "spec": "do it", "acceptance": "done", "depends_on": d})
            })
            .collect();
        json!({ "subtasks": subtasks }).to_string()
    }

    #[test]
    fn a_valid_plan_is_accepted_with_text_around_it_and_duplicate_dependencies_merged() {
        let text = format!("Here is the plan:\n{}\n", draft(&[&[], &[1, 1], &[1, 2]]));
        let subtasks = parse_draft(&text).unwrap();
        assert_eq!(subtasks.len(), 3);
        assert_eq!(subtasks[1].depends_on, vec![1]);
        assert_eq!(subtasks[2].depends_on, vec![1, 2]);
    }

    #[test]
    fn cycles_dangling_and_self_dependencies_are_refused_with_the_reason() {
        assert_eq!(
            parse_draft(&draft(&[&[2], &[1]])).unwrap_err(),
            "the dependencies form a cycle: 1 → 2 → 1"
        );
        assert_eq!(
            parse_draft(&draft(&[&[], &[3], &[4], &[2]])).unwrap_err(),
            "the dependencies form a cycle: 2 → 3 → 4 → 2"
        );
        assert_eq!(
            parse_draft(&draft(&[&[], &[5]])).unwrap_err(),
            "subtask 2 depends on subtask 5, which is not in the plan (it has 2)"
        );
        assert_eq!(
            parse_draft(&draft(&[&[1]])).unwrap_err(),
            "subtask 1 depends on itself"
        );
        assert!(parse_draft("no json here")
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(parse_draft(r#"{"subtasks": "x"}"#)
            .unwrap_err()
            .contains("does not match the schema"));
        assert!(parse_draft(r#"{"subtasks": []}"#)
            .unwrap_err()
            .contains("needs 1 to"));
        let blank =
            json!({"subtasks": [{"title": " ", "spec": "s", "acceptance": "", "depends_on": []}]});
        assert!(parse_draft(&blank.to_string())
            .unwrap_err()
            .contains("title"));
    }

    #[test]
    fn the_schema_requires_what_the_parser_reads_and_lets_subtasks_name_only_earlier_ones() {
        let schema = plan_schema();
        let lengths = schema["properties"]["subtasks"]["anyOf"]
            .as_array()
            .unwrap();
        assert_eq!(lengths.len(), MAX_SUBTASKS);
        let longest = lengths.last().unwrap()["prefixItems"].as_array().unwrap();
        assert_eq!(longest.len(), MAX_SUBTASKS);
        for (i, item) in longest.iter().enumerate() {
            assert_eq!(
                item["required"],
                json!(["title", "spec", "acceptance", "depends_on"])
            );
            let deps = &item["properties"]["depends_on"];
            if i == 0 {
                assert_eq!(deps["maxItems"], json!(0));
            } else {
                let allowed: Vec<usize> = (1..=i).collect();
                assert_eq!(deps["items"]["enum"], json!(allowed));
            }
        }
    }

    fn plan(deps: &[&[u32]]) -> Plan {
        let mut plan = Plan::new(false);
        plan.accept(&TaskId::generate(), parse_draft(&draft(deps)).unwrap(), NOW);
        plan
    }

    fn work() -> WorkReport {
        WorkReport {
            branch: "cyn-1-x".into(),
            commit: "abc".into(),
            pull_request: Some(PullRequest {
                number: 7,
                url: "https://example.test/pr/7".into(),
            }),
        }
    }

    #[test]
    fn a_dependency_chain_unblocks_in_order_and_the_plan_ends_when_all_are_merged() {
        let mut plan = plan(&[&[], &[1], &[2]]);
        assert_eq!(plan.ready(), vec![1]);
        let err = plan.start(2, JobId::generate(), NOW).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                ErrorCode::SubtaskBlocked,
                "subtask 2 waits for subtask 1 to be merged"
            )
        );
        let job = JobId::generate();
        plan.start(1, job.clone(), NOW).unwrap();
        assert_eq!(
            plan.start(1, JobId::generate(), NOW).unwrap_err().code,
            "subtask_not_ready"
        );
        assert_eq!(
            plan.mark_merged(1, NOW).unwrap_err().code,
            "subtask_not_completed"
        );
        let next = plan.worker_finished(
            &job,
            Ok(&work()),
            JobId::generate(),
            &PlanPolicy::default(),
            0.5,
            NOW,
        );
        assert_eq!(next, WorkerNext::Settled);
        assert_eq!(
            plan.subtask(1)
                .unwrap()
                .pull_request
                .as_ref()
                .unwrap()
                .number,
            7
        );
        assert_eq!(plan.mark_merged(1, NOW).unwrap(), vec![2]);
        assert_eq!(
            plan.subtask(3).unwrap().state,
            SubtaskState::BlockedDependency
        );
        let job2 = JobId::generate();
        plan.start(2, job2.clone(), NOW).unwrap();
        plan.worker_finished(
            &job2,
            Ok(&work()),
            JobId::generate(),
            &PlanPolicy::default(),
            0.5,
            NOW,
        );
        assert_eq!(plan.mark_merged(2, NOW).unwrap(), vec![3]);
        assert!(!plan.is_done());
        let job3 = JobId::generate();
        plan.start(3, job3.clone(), NOW).unwrap();
        plan.worker_finished(
            &job3,
            Ok(&work()),
            JobId::generate(),
            &PlanPolicy::default(),
            0.5,
            NOW,
        );
        plan.mark_merged(3, NOW).unwrap();
        assert!(plan.is_done());
        assert_eq!(
            plan.mark_merged(3, NOW).unwrap(),
            Vec::<u32>::new(),
            "merging twice is a no-op"
        );
    }

    #[test]
    fn a_failing_worker_backs_off_then_blocks_and_retry_starts_over() {
        let policy = PlanPolicy::default();
        let mut plan = plan(&[&[]]);
        let mut job = JobId::generate();
        plan.start(1, job.clone(), NOW).unwrap();
        let mut delays = Vec::new();
        loop {
            let next_job = JobId::generate();
            match plan.worker_finished(
                &job,
                Err("tests failed"),
                next_job.clone(),
                &policy,
                1.0,
                NOW,
            ) {
                WorkerNext::RetryAfter(delay) => delays.push(delay),
                WorkerNext::Settled => break,
            }
            job = next_job;
        }
        assert_eq!(delays, vec![5, 10]);
        let blocked = plan.subtask(1).unwrap();
        assert_eq!(blocked.state, SubtaskState::BlockedFailure);
        assert_eq!(
            blocked.reason.as_deref(),
            Some("3 attempts failed; the last: tests failed")
        );
        // A stale job's result changes nothing.
        assert_eq!(
            plan.worker_finished(
                &JobId::generate(),
                Ok(&work()),
                JobId::generate(),
                &policy,
                0.0,
                NOW
            ),
            WorkerNext::Settled
        );
        assert_eq!(
            plan.start(1, JobId::generate(), NOW).unwrap_err().code,
            "subtask_failed"
        );
        plan.retry(1, JobId::generate(), NOW).unwrap();
        assert_eq!(plan.subtask(1).unwrap().attempts, 1);
        assert_eq!(
            plan.retry(1, JobId::generate(), NOW).unwrap_err().code,
            "subtask_not_failed"
        );
    }

    #[test]
    fn backoff_doubles_from_five_seconds_to_a_cap_with_jitter_in_the_upper_half() {
        let policy = PlanPolicy::default();
        let full: Vec<u32> = (1..=8)
            .map(|n| policy.worker_backoff_secs(n, 1.0))
            .collect();
        assert_eq!(full, vec![5, 10, 20, 40, 80, 120, 120, 120]);
        for n in 1..=8 {
            let low = policy.worker_backoff_secs(n, 0.0);
            assert_eq!(low, full[n as usize - 1] / 2);
        }
    }

    #[test]
    fn branches_are_named_after_the_subtask_and_unique_per_task() {
        let task = TaskId::generate();
        let branch = branch_name(&task, 2, "Add a README (with usage)!");
        let tail = task.as_str().to_ascii_lowercase();
        assert_eq!(
            branch,
            format!("cyn-2-add-a-readme-with-usage-{}", &tail[tail.len() - 6..])
        );
        assert!(crate::project::check_branch(&branch).is_ok());
        assert!(branch_name(&task, 3, "!!!").starts_with("cyn-3-"));
    }
}
