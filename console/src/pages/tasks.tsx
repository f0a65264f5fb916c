// Your tasks: the list with its filters, and a new task (a prompt, commands or a script,
// with attachments, or planned work on a project).

import { useState } from "preact/hooks";
import { ago, bytes } from "../format.ts";
import { href } from "../routes.ts";
import type { Project, Task } from "../types.ts";
import { Field, Form, Loading, Section, Status, Table, field, session, useInterval, useLoad } from "../ui.tsx";

const STATUSES = ["", "queued", "running", "completed", "failed", "canceled", "planning_failed"];

export function TasksPage() {
  const [status, setStatus] = useState("");
  const [project, setProject] = useState("");
  const [pages, setPages] = useState<Task[][]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const query = () => {
    const params = new URLSearchParams({ limit: "50" });
    if (status) params.set("status", status);
    if (project) params.set("project", project);
    return params;
  };
  const first = useLoad(async () => {
    const list = await session.request<{ tasks: Task[]; next_cursor?: string }>("GET", `/v1/tasks?${query()}`);
    setPages([]);
    setCursor(list.next_cursor);
    return list.tasks;
  }, [status, project]);
  const projects = useLoad(() => session.request<{ projects: Project[] }>("GET", "/v1/projects"), []);
  useInterval(() => void first.reload(), 5000, pages.length === 0);

  const more = async () => {
    if (!cursor) return;
    const params = query();
    params.set("cursor", cursor);
    const list = await session.request<{ tasks: Task[]; next_cursor?: string }>("GET", `/v1/tasks?${params}`);
    setPages([...pages, list.tasks]);
    setCursor(list.next_cursor);
  };

  return (
    <>
      <h1 tabIndex={-1}>Tasks</h1>
      <NewTask projects={projects.data?.projects ?? []} />
      <Section title="Your tasks" id="list">
        <div class="filters">
          <Field label="Status">
            <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
              {STATUSES.map((s) => (
                <option value={s}>{s ? s.replace(/_/g, " ") : "any"}</option>
              ))}
            </select>
          </Field>
          <Field label="Project">
            <select value={project} onChange={(e) => setProject(e.currentTarget.value)}>
              <option value="">any</option>
              {(projects.data?.projects ?? []).map((p) => (
                <option value={p.project_id}>{p.name}</option>
              ))}
            </select>
          </Field>
        </div>
        <Loading loaded={first}>
          {(tasks) => (
            <>
              <Table head={["Task", "Status", "Input", "Updated"]} empty="No tasks yet: start one above.">
                {[...tasks, ...pages.flat()].map((task) => (
                  <tr>
                    <td>
                      <a href={href({ page: "task", id: task.task_id })}>{task.task_name ?? task.task_id}</a>
                    </td>
                    <td>
                      <Status status={task.status} />
                    </td>
                    <td class="clip">
                      {task.plan ? "plan: " : `${task.mode}: `}
                      {task.prompt}
                    </td>
                    <td>{ago(task.updated_at)}</td>
                  </tr>
                ))}
              </Table>
              {cursor ? (
                <button type="button" onClick={more}>
                  Show more
                </button>
              ) : null}
            </>
          )}
        </Loading>
      </Section>
    </>
  );
}

interface Upload {
  attachment_id: string;
  upload_url: string;
}

async function attach(files: FileList | null): Promise<string[]> {
  const ids: string[] = [];
  for (const file of Array.from(files ?? [])) {
    const made = await session.request<Upload>("POST", "/v1/attachments", { name: file.name, size: file.size });
    const put = await fetch(made.upload_url, { method: "PUT", body: file });
    if (!put.ok) throw new Error(`uploading ${file.name} (${bytes(file.size)}) failed: ${put.status}`);
    ids.push(made.attachment_id);
  }
  return ids;
}

function NewTask({ projects }: { projects: Project[] }) {
  const [mode, setMode] = useState("prompt");
  const models = useLoad(() => session.request<{ data: { id: string }[] }>("GET", "/v1/models"), []);
  const submit = async (form: HTMLFormElement) => {
    const text = (form.elements.namedItem("input") as HTMLTextAreaElement).value;
    const body: Record<string, unknown> = {};
    if (mode === "commands") body.commands = text.split("\n").filter((line) => line.trim() !== "");
    else if (mode === "plan") {
      body.prompt = text;
      body.plan = true;
    } else body[mode] = text;
    const name = field(form, "task_name");
    if (name) body.task_name = name;
    const model = field(form, "model");
    if (model && mode !== "commands" && mode !== "script") body.model = model;
    const project = field(form, "project");
    if (project) body.project = project;
    const timeout = field(form, "timeout");
    if (timeout) body.timeout_seconds = Number(timeout);
    const attachments = await attach((form.elements.namedItem("files") as HTMLInputElement).files);
    if (attachments.length > 0) body.attachments = attachments;
    const task = await session.request<Task>("POST", "/v1/tasks", body);
    location.hash = href({ page: "task", id: task.task_id });
  };
  const placeholder: Record<string, string> = {
    prompt: "What should the agent do? (answered by a model, never run as shell)",
    commands: "One shell command a line, run in order in the sandbox",
    script: "#!/bin/sh\n…",
    plan: "The feature to build in the project's repository",
  };
  return (
    <Section title="New task" id="new">
      <Form label="New task" button="Start task" submit={submit}>
        <fieldset class="modes">
          <legend>Input</legend>
          {["prompt", "commands", "script", "plan"].map((m) => (
            <label>
              <input type="radio" name="mode" value={m} checked={mode === m} onChange={() => setMode(m)} />
              {m === "plan" ? "planned work" : m}
            </label>
          ))}
        </fieldset>
        <Field label={mode === "plan" ? "Feature request" : mode === "commands" ? "Commands" : mode === "script" ? "Script" : "Prompt"}>
          <textarea name="input" rows={4} required placeholder={placeholder[mode]} />
        </Field>
        <div class="row">
          <Field label="Name (optional)">
            <input name="task_name" />
          </Field>
          <Field label="Model">
            <select name="model" disabled={mode === "commands" || mode === "script"}>
              <option value="">default</option>
              {(models.data?.data ?? []).map((m) => (
                <option value={m.id}>{m.id}</option>
              ))}
            </select>
          </Field>
          <Field label={mode === "plan" ? "Project (required)" : "Project"}>
            <select name="project" required={mode === "plan"}>
              <option value="">none</option>
              {projects.map((p) => (
                <option value={p.project_id}>{p.name}</option>
              ))}
            </select>
          </Field>
          <Field label="Timeout (seconds)">
            <input name="timeout" type="number" min={1} max={10800} inputMode="numeric" />
          </Field>
        </div>
        <Field label="Attachments" hint="Copied into the sandbox's /inputs.">
          <input name="files" type="file" multiple />
        </Field>
      </Form>
    </Section>
  );
}
