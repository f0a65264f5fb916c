// One task: what it is, its live log, its result and output, cancel and delete; planned
// work adds its board (pages/board.tsx).

import { useState } from "preact/hooks";
import { ago, finished } from "../format.ts";
import type { Task, TaskResult } from "../types.ts";
import { Action, Loading, Section, Status, session, useInterval, useLoad } from "../ui.tsx";
import { LogTail } from "./logtail.tsx";
import { PlanBoard } from "./board.tsx";

export function TaskPage({ id }: { id: string }) {
  const path = `/v1/tasks/${encodeURIComponent(id)}`;
  const task = useLoad(() => session.request<Task>("GET", path), [id]);
  const done = task.data ? finished(task.data.status) || task.data.status === "planning_failed" : false;
  useInterval(() => void task.reload(), 3000, !done);
  return (
    <Loading loaded={task}>
      {(t) => (
        <>
          <h1 tabIndex={-1}>{t.task_name ?? t.task_id}</h1>
          <p>
            <Status status={t.status} /> <span class="muted">created {ago(t.created_at)}, updated {ago(t.updated_at)}</span>
          </p>
          <dl class="facts">
            <dt>Input</dt>
            <dd>
              <pre class="input">{t.prompt}</pre>
            </dd>
            <dt>Mode</dt>
            <dd>{t.plan ? "planned work" : t.mode}</dd>
            {t.model ? (<><dt>Model</dt><dd>{t.model}</dd></>) : null}
            {t.routing ? (
              <>
                <dt>Thinking</dt>
                <dd>
                  {t.routing.via === "egress" ? "through the egress" : "on a node"}
                  {t.routing.model ? `, ${t.routing.model}` : ""}
                  <div class="muted">{t.routing.reason}</div>
                </dd>
              </>
            ) : null}
            {t.image ? (<><dt>Image</dt><dd>{t.image}</dd></>) : null}
            {t.attachments?.length ? (<><dt>Attachments</dt><dd>{t.attachments.map((a) => a.name).join(", ")}</dd></>) : null}
            <dt>Id</dt>
            <dd><code>{t.task_id}</code></dd>
          </dl>
          <div class="actions">
            {!done ? (
              <Action run={async () => { await session.request("POST", `${path}/cancel`); await task.reload(); }} confirm="Cancel this task?">
                Cancel
              </Action>
            ) : null}
            {t.status === "planning_failed" ? (
              <Action run={async () => { await session.request("POST", `${path}/retry-planning`); await task.reload(); }}>
                Retry planning
              </Action>
            ) : null}
            <Action
              kind="danger"
              confirm="Delete this task, its logs and its output?"
              run={async () => { await session.request("DELETE", path); location.hash = "#/tasks"; }}
            >
              Delete
            </Action>
          </div>
          {t.plan ? (
            <PlanBoard task={t} onChange={task.reload} />
          ) : (
            <>
              <Section title="Live log" id="log">
                <LogTail task={t.task_id} onEnd={() => void task.reload()} />
              </Section>
              {done ? <Result path={path} /> : null}
            </>
          )}
        </>
      )}
    </Loading>
  );
}

function Result({ path }: { path: string }) {
  const result = useLoad(() => session.request<TaskResult>("GET", `${path}/result`), [path]);
  const [stream, setStream] = useState<"stdout" | "stderr">("stdout");
  return (
    <Section title="Result" id="result">
      <Loading loaded={result}>
        {(r) => (
          <>
            {r.jobs.map((job) => (
              <p>
                Attempt {job.attempt}: <Status status={job.status} />
                {job.exit_code !== undefined ? ` exit code ${job.exit_code}` : ""}
                {job.failed_command ? `, failed at: ${job.failed_command}` : ""}
                {job.error ? <span class="error"> {job.error}</span> : null}
              </p>
            ))}
            <div role="tablist" aria-label="Output stream" class="tabs">
              {(["stdout", "stderr"] as const).map((s) => (
                <button type="button" role="tab" aria-selected={stream === s} onClick={() => setStream(s)}>
                  {s}
                </button>
              ))}
            </div>
            <pre class="log" tabIndex={0} role="tabpanel" aria-label={stream}>
              {(stream === "stdout" ? r.stdout : r.stderr) || "(empty)"}
            </pre>
            <Action
              run={async () => {
                const out = await session.request<{ url?: string; complete: boolean }>("GET", `${path}/output/${stream}`);
                if (!out.url) throw new Error(`no ${stream} was kept for this task`);
                window.open(out.url, "_blank", "noopener");
              }}
            >
              Download {stream}
            </Action>
          </>
        )}
      </Loading>
    </Section>
  );
}
