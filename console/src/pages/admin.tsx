// For admins: nodes (state, last seen, slots, models; enable, disable, drain), dead
// letters and their redrive, users, system settings and the audit trail.

import { useState } from "preact/hooks";
import { ago } from "../format.ts";
import { ADMIN_SECTIONS, href, type AdminSection } from "../routes.ts";
import type { Node } from "../types.ts";
import { Action, Field, Form, Loading, Section, Status, Table, checked, field, session, useInterval, useLoad } from "../ui.tsx";

export function AdminPage({ section }: { section: AdminSection }) {
  return (
    <>
      <h1 tabIndex={-1}>Admin</h1>
      <nav aria-label="Admin sections" class="subnav">
        {ADMIN_SECTIONS.map((s) => (
          <a href={href({ page: "admin", section: s })} aria-current={s === section ? "page" : undefined}>
            {s.replace("-", " ")}
          </a>
        ))}
      </nav>
      {section === "nodes" ? <Nodes /> : null}
      {section === "dead-letters" ? <DeadLetters /> : null}
      {section === "users" ? <Users /> : null}
      {section === "settings" ? <Settings /> : null}
      {section === "audit" ? <Audit /> : null}
    </>
  );
}

function Nodes() {
  const nodes = useLoad(() => session.request<{ nodes: Node[] }>("GET", "/v1/admin/nodes"), []);
  useInterval(() => void nodes.reload(), 5000);
  const act = (node: string, verb: string) => async () => {
    await session.request("POST", `/v1/admin/nodes/${encodeURIComponent(node)}/${verb}`);
    await nodes.reload();
  };
  return (
    <Section title="Nodes" id="nodes">
      <Loading loaded={nodes}>
        {(list) => (
          <Table head={["Node", "State", "Last seen", "Slots in use", "Models", "Labels", ""]} empty="No node has registered.">
            {list.nodes.map((n) => (
              <tr data-node={n.node_name}>
                <td>{n.node_name}</td>
                <td><Status status={n.state} /></td>
                <td>{ago(n.last_seen_at)}</td>
                <td>{n.slots_in_use ?? 0} of {n.capabilities.job_slots}</td>
                <td>
                  {n.capabilities.inference
                    ? `${(n.capabilities.inference.models ?? []).join(", ") || "none"}${n.capabilities.inference.reachable ? "" : " (unreachable)"}`
                    : "none"}
                </td>
                <td>{(n.labels ?? []).join(", ")}</td>
                <td class="actions">
                  {n.state !== "enabled" ? <Action run={act(n.node_name, "enable")}>Enable</Action> : null}
                  {n.state === "enabled" ? <Action run={act(n.node_name, "disable")}>Disable</Action> : null}
                  {n.state === "enabled" ? (
                    <Action run={act(n.node_name, "drain")} confirm={`Drain ${n.node_name}? Its running jobs go back to the queue.`}>
                      Drain
                    </Action>
                  ) : null}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
    </Section>
  );
}

interface DeadLetter {
  message_id: string;
  task_id?: string;
  job_id?: string;
  job_status?: string;
}

function DeadLetters() {
  const letters = useLoad(() => session.request<{ dead_letters: DeadLetter[] }>("GET", "/v1/admin/dead-letters"), []);
  const [outcome, setOutcome] = useState("");
  return (
    <Section title="Dead letters" id="dead-letters">
      {outcome ? <p role="status">{outcome}</p> : null}
      <Loading loaded={letters}>
        {(list) => (
          <Table head={["Message", "Task", "Job", "Job status"]} empty="No dead letters.">
            {list.dead_letters.map((d) => (
              <tr>
                <td><code>{d.message_id}</code></td>
                <td>{d.task_id ? <a href={href({ page: "task", id: d.task_id })}>{d.task_id}</a> : ""}</td>
                <td>{d.job_id ?? ""}</td>
                <td>{d.job_status ?? ""}</td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
      <Action
        run={async () => {
          const r = await session.request<{ redriven: number; dropped: number }>("POST", "/v1/admin/dead-letters/redrive");
          setOutcome(`${r.redriven} sent back to their queue, ${r.dropped} dropped (their jobs had ended).`);
          await letters.reload();
        }}
      >
        Redrive
      </Action>
    </Section>
  );
}

interface User {
  user_id: string;
  handle: string;
  is_admin: boolean;
  disabled: boolean;
  created_at: string;
}

function Users() {
  const users = useLoad(() => session.request<{ users: User[] }>("GET", "/v1/users?limit=200"), []);
  const patch = (handle: string, body: object) => async () => {
    await session.request("PATCH", `/v1/users/${encodeURIComponent(handle)}`, body);
    await users.reload();
  };
  return (
    <Section title="Users" id="users">
      <Loading loaded={users}>
        {(list) => (
          <Table head={["User", "Role", "State", "Created", ""]} empty="No users.">
            {list.users.map((u) => (
              <tr>
                <td>{u.handle}</td>
                <td>{u.is_admin ? "admin" : "user"}</td>
                <td>{u.disabled ? "disabled" : "enabled"}</td>
                <td>{ago(u.created_at)}</td>
                <td class="actions">
                  <Action run={patch(u.handle, { disabled: !u.disabled })}>{u.disabled ? "Enable" : "Disable"}</Action>
                  <Action run={patch(u.handle, { is_admin: !u.is_admin })}>{u.is_admin ? "Drop admin" : "Make admin"}</Action>
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
      <Form
        label="New user"
        button="Create user"
        submit={async (form) => {
          await session.request("POST", "/v1/users", {
            handle: field(form, "handle"),
            password: (form.elements.namedItem("password") as HTMLInputElement).value,
            is_admin: checked(form, "is_admin"),
          });
          form.reset();
          await users.reload();
        }}
      >
        <div class="row">
          <Field label="User"><input name="handle" required autocomplete="off" /></Field>
          <Field label="Password" hint="8 to 1024 characters; they change it after signing in."><input name="password" type="password" minLength={8} required autocomplete="new-password" /></Field>
        </div>
        <label class="check"><input type="checkbox" name="is_admin" /> Admin</label>
      </Form>
    </Section>
  );
}

interface Setting {
  key: string;
  value: number;
  source: string;
  deployment_value: number;
  description: string;
}

function Settings() {
  const settings = useLoad(() => session.request<{ settings: Setting[]; version?: string }>("GET", "/v1/settings"), []);
  return (
    <Section title="Settings" id="settings">
      <Loading loaded={settings}>
        {(list) => (
          <Table head={["Setting", "Value", "Deployment's", "Change"]} empty="No settings.">
            {list.settings.map((s) => (
              <tr>
                <td><strong>{s.key}</strong><br /><small class="muted">{s.description}</small></td>
                <td>{s.value}{s.source === "setting" ? " (set here)" : ""}</td>
                <td>{s.deployment_value}</td>
                <td>
                  <Form
                    label={`Set ${s.key}`}
                    button="Set"
                    submit={async (form) => {
                      await session.request("PUT", `/v1/settings/${s.key}`, { value: Number(field(form, "value")), version: list.version });
                      await settings.reload();
                    }}
                  >
                    <input name="value" type="number" required aria-label={`New ${s.key}`} />
                  </Form>
                  {s.source === "setting" ? (
                    <Action run={async () => { await session.request("PUT", `/v1/settings/${s.key}`, { value: null, version: list.version }); await settings.reload(); }}>
                      Use the deployment's
                    </Action>
                  ) : null}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
    </Section>
  );
}

interface AuditEvent {
  event_id: string;
  at: string;
  action: string;
  outcome: string;
  actor: string;
  subject: string;
  task_id?: string;
  source?: string;
  detail?: string;
}

function Audit() {
  const [filter, setFilter] = useState({ action: "", outcome: "", user: "" });
  const [more, setMore] = useState<AuditEvent[]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const query = (after?: string) => {
    const params = new URLSearchParams({ limit: "100" });
    for (const [k, v] of Object.entries(filter)) if (v) params.set(k, v);
    if (after) params.set("cursor", after);
    return `/v1/audit?${params}`;
  };
  const events = useLoad(async () => {
    const page = await session.request<{ events: AuditEvent[]; next_cursor?: string }>("GET", query());
    setMore([]);
    setCursor(page.next_cursor);
    return page.events;
  }, [filter]);
  return (
    <Section title="Audit trail" id="audit">
      <Form
        label="Filter the trail"
        button="Filter"
        submit={async (form) => setFilter({ action: field(form, "action"), outcome: field(form, "outcome"), user: field(form, "user") })}
      >
        <div class="row">
          <Field label="Action or area" hint="auth, user.*, credential.use…"><input name="action" /></Field>
          <Field label="Outcome">
            <select name="outcome"><option value="">any</option><option>success</option><option>failure</option></select>
          </Field>
          <Field label="User"><input name="user" /></Field>
        </div>
      </Form>
      <Loading loaded={events}>
        {(list) => (
          <Table head={["When", "Action", "Outcome", "Actor", "Subject", "From", "Detail"]} empty="Nothing on the trail matches.">
            {[...list, ...more].map((e) => (
              <tr>
                <td title={e.at}>{ago(e.at)}</td>
                <td>{e.action}</td>
                <td><Status status={e.outcome} /></td>
                <td>{e.actor}</td>
                <td>{e.subject}</td>
                <td>{e.source ?? ""}</td>
                <td class="clip">{e.detail ?? ""}{e.task_id ? ` (task ${e.task_id})` : ""}</td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
      {cursor ? (
        <Action
          run={async () => {
            const page = await session.request<{ events: AuditEvent[]; next_cursor?: string }>("GET", query(cursor));
            setMore([...more, ...page.events]);
            setCursor(page.next_cursor);
          }}
        >
          Show older
        </Action>
      ) : null}
    </Section>
  );
}
