// A planned task's board: its subtasks in columns by state, what each waits on, its pull
// request, and the buttons that move it (start, retry, mark merged); then its runs, each
// with its live log. The board follows the task's events and reads again on each change.

import { useEffect, useState } from "preact/hooks";
import { ago, board, waitingOn } from "../format.ts";
import type { Run, Subtask, Task } from "../types.ts";
import { Action, Loading, Section, Status, Table, session, useInterval, useLoad } from "../ui.tsx";
import { LogTail } from "./logtail.tsx";

interface SubtaskList {
  status: string;
  subtasks: Subtask[];
}

export function PlanBoard({ task, onChange }: { task: Task; onChange: () => Promise<void> }) {
  const path = `/v1/tasks/${encodeURIComponent(task.task_id)}`;
  const subtasks = useLoad(() => session.request<SubtaskList>("GET", `${path}/subtasks`), [path]);
  const runs = useLoad(() => session.request<{ runs: Run[] }>("GET", `${path}/runs`), [path]);
  const [run, setRun] = useState<string | undefined>(undefined);

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const changed = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        void subtasks.reload();
        void runs.reload();
        void onChange();
      }, 150);
    };
    session
      .follow(`/v1/events/tasks/${encodeURIComponent(task.task_id)}`, (event) => {
        if (event.event === "end" || event.event === "error") return "stop";
        changed();
      }, { signal: abort.signal, resumable: true })
      .catch(() => {});
    return () => {
      abort.abort();
      if (timer) clearTimeout(timer);
    };
  }, [path]);
  // The events say what changed; a slow read as well, in case a stream is cut.
  useInterval(() => { void subtasks.reload(); void runs.reload(); }, 10000);

  const act = (n: number, verb: string) => async () => {
    await session.request("POST", `${path}/subtasks/${n}/${verb}`);
    await subtasks.reload();
  };

  return (
    <>
      {task.plan?.planner_error ? (
        <p class="error" role="alert">Planner: {task.plan.planner_error}</p>
      ) : null}
      <Section title={`Plan: ${task.plan?.merged ?? 0} of ${task.plan?.subtasks ?? 0} merged`} id="board">
        <Loading loaded={subtasks}>
          {(list) =>
            list.subtasks.length === 0 ? (
              <p class="muted">No plan yet: the planner is at work (attempt {task.plan?.planner_attempts ?? 0}).</p>
            ) : (
              <div class="board">
                {board(list.subtasks).map((column) => (
                  <section class="column" aria-label={column.title} data-state={column.state}>
                    <h3>
                      {column.title} <span class="muted">{column.items.length}</span>
                    </h3>
                    {column.items.map((s) => (
                      <article class="card" data-subtask={s.number} aria-label={`Subtask ${s.number}: ${s.title}`}>
                        <h4>
                          #{s.number} {s.title}
                        </h4>
                        <Status status={s.state} />
                        {s.depends_on.length ? (
                          <p class="muted">
                            after {s.depends_on.map((d) => `#${d}`).join(", ")}
                            {waitingOn(s, list.subtasks).length ? ` (waiting on ${waitingOn(s, list.subtasks).map((d) => `#${d}`).join(", ")})` : ""}
                          </p>
                        ) : null}
                        {s.reason ? <p class="error">{s.reason}</p> : null}
                        {s.pull_request ? (
                          <p>
                            <a href={s.pull_request.url} target="_blank" rel="noopener noreferrer">
                              Pull request #{s.pull_request.number}
                            </a>
                          </p>
                        ) : null}
                        <p class="muted">
                          {s.attempts} attempt{s.attempts === 1 ? "" : "s"}, {ago(s.updated_at)}
                        </p>
                        <div class="actions">
                          {s.state === "ready" ? <Action run={act(s.number, "start")}>Start</Action> : null}
                          {s.state === "blocked_failure" ? <Action run={act(s.number, "retry")}>Retry</Action> : null}
                          {s.state === "completed" ? (
                            <Action run={act(s.number, "mark-merged")} confirm={`Is subtask #${s.number}'s pull request merged?`}>
                              Mark merged
                            </Action>
                          ) : null}
                          {s.job_id ? (
                            <button type="button" onClick={() => setRun(s.job_id)}>
                              Log
                            </button>
                          ) : null}
                        </div>
                      </article>
                    ))}
                  </section>
                ))}
              </div>
            )
          }
        </Loading>
      </Section>
      <Section title="Runs" id="runs">
        <Loading loaded={runs}>
          {(list) => (
            <Table head={["Run", "Role", "Subtask", "Attempt", "Status", "Started", ""]} empty="No runs yet.">
              {list.runs.map((r) => (
                <tr>
                  <td><code>{r.run_id}</code></td>
                  <td>{r.role}</td>
                  <td>{r.subtask ?? ""}</td>
                  <td>{r.attempt}</td>
                  <td><Status status={r.status} />{r.error ? <span class="error"> {r.error}</span> : null}</td>
                  <td>{ago(r.started_at)}</td>
                  <td>
                    <button type="button" onClick={() => setRun(r.run_id)} aria-pressed={run === r.run_id}>
                      Log
                    </button>
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </Loading>
        {run ? (
          <>
            <h3>Log of run <code>{run}</code></h3>
            <LogTail task={task.task_id} job={run} />
          </>
        ) : null}
      </Section>
    </>
  );
}
