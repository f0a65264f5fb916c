// Projects for planned work: a repository, its forge and build settings, and the
// credential workers push with (write-only: it goes in, it never comes back).

import { useState } from "preact/hooks";
import { ago } from "../format.ts";
import type { Project } from "../types.ts";
import { Action, Field, Form, Loading, Section, Table, checked, field, session, useLoad } from "../ui.tsx";

interface Credential {
  name: string;
  provider: string;
  enabled: boolean;
}

/** The request body of a project form: only what was filled in (edits send "" to clear). */
function projectBody(form: HTMLFormElement, editing: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const name of ["name", "repo_url", "default_branch", "image", "test_command", "forge_url", "forge_repo", "node_label", "credential_name"]) {
    const value = field(form, name);
    if (value || (editing && name !== "name" && name !== "repo_url" && name !== "default_branch")) body[name] = value;
  }
  const secret = (form.elements.namedItem("credential") as HTMLInputElement).value;
  if (secret) {
    body.credential = secret;
    delete body.credential_name;
  }
  body.auto_start = checked(form, "auto_start");
  return body;
}

function ProjectFields({ project, credentials }: { project?: Project; credentials: Credential[] }) {
  return (
    <>
      <div class="row">
        <Field label="Name">
          <input name="name" required={!project} value={project?.name} disabled={!!project} />
        </Field>
        <Field label="Repository URL">
          <input name="repo_url" required={!project} value={project?.repo_url} type="url" />
        </Field>
        <Field label="Default branch">
          <input name="default_branch" value={project?.default_branch} placeholder="main" />
        </Field>
      </div>
      <div class="row">
        <Field label="Stored credential">
          <select name="credential_name" value={project?.credential_name ?? ""}>
            <option value="">none</option>
            {credentials.map((c) => (
              <option value={c.name}>
                {c.name} ({c.provider}{c.enabled ? "" : ", disabled"})
              </option>
            ))}
          </select>
        </Field>
        <Field label="Or its own credential" hint={project?.has_credential ? "A credential is set; type to replace it." : "Write-only: never shown again."}>
          <input name="credential" type="password" autocomplete="off" />
        </Field>
        <Field label="Test command">
          <input name="test_command" value={project?.test_command} />
        </Field>
      </div>
      <div class="row">
        <Field label="Sandbox image">
          <input name="image" value={project?.image} />
        </Field>
        <Field label="Forge URL">
          <input name="forge_url" value={project?.forge_url} type="url" />
        </Field>
        <Field label="Forge repository">
          <input name="forge_repo" value={project?.forge_repo} placeholder="owner/name" />
        </Field>
        <Field label="Node label">
          <input name="node_label" value={project?.node_label} />
        </Field>
      </div>
      <label class="check">
        <input type="checkbox" name="auto_start" checked={project?.auto_start} /> Start subtasks as soon as they are ready
      </label>
    </>
  );
}

export function ProjectsPage() {
  const projects = useLoad(() => session.request<{ projects: Project[] }>("GET", "/v1/projects"), []);
  const credentials = useLoad(() => session.request<{ credentials: Credential[] }>("GET", "/v1/credentials"), []);
  const [editing, setEditing] = useState<string | undefined>(undefined);
  const creds = credentials.data?.credentials ?? [];
  return (
    <>
      <h1 tabIndex={-1}>Projects</h1>
      <Section title="Your projects" id="projects">
        <Loading loaded={projects}>
          {(list) => (
            <Table head={["Name", "Repository", "Credential", "Created", ""]} empty="No projects yet.">
              {list.projects.map((p) => (
                <tr>
                  <td>{p.name}</td>
                  <td class="clip">{p.repo_url} ({p.default_branch})</td>
                  <td>{p.credential_name ? `stored: ${p.credential_name}` : p.has_credential ? "its own" : "none"}</td>
                  <td>{ago(p.created_at)}</td>
                  <td class="actions">
                    <button type="button" onClick={() => setEditing(editing === p.project_id ? undefined : p.project_id)}>
                      {editing === p.project_id ? "Close" : "Edit"}
                    </button>
                    <Action
                      kind="danger"
                      confirm={`Delete project ${p.name}? Its tasks stay.`}
                      run={async () => { await session.request("DELETE", `/v1/projects/${p.project_id}`); await projects.reload(); }}
                    >
                      Delete
                    </Action>
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </Loading>
        {editing && projects.data ? (
          <Form
            label="Edit project"
            button="Save project"
            submit={async (form) => {
              await session.request("PATCH", `/v1/projects/${editing}`, projectBody(form, true));
              setEditing(undefined);
              await projects.reload();
            }}
          >
            <ProjectFields project={projects.data.projects.find((p) => p.project_id === editing)} credentials={creds} />
          </Form>
        ) : null}
      </Section>
      <Section title="New project" id="new-project">
        <Form
          label="New project"
          button="Create project"
          submit={async (form) => {
            await session.request("POST", "/v1/projects", projectBody(form, false));
            form.reset();
            await projects.reload();
          }}
        >
          <ProjectFields credentials={creds} />
        </Form>
      </Section>
    </>
  );
}
