// Your account: password, API keys, preferences, skills, stored credentials (write-only)
// and usage.

import { useState } from "preact/hooks";
import type { Me } from "../api.ts";
import { ago, dollars } from "../format.ts";
import { Action, Field, Form, Loading, Section, Table, field, session, useLoad } from "../ui.tsx";
import { ProvidersSection } from "./providers.tsx";

export function AccountPage({ me }: { me: Me }) {
  return (
    <>
      <h1 tabIndex={-1}>Account: {me.handle}</h1>
      <nav aria-label="Account sections" class="subnav">
        {["password", "api-keys", "preferences", "skills", "credentials", "providers", "usage"].map((id) => (
          <a href={`#/account`} onClick={(e) => { e.preventDefault(); document.getElementById(id)?.scrollIntoView(); }}>
            {id.replace("-", " ")}
          </a>
        ))}
      </nav>
      <Password />
      <ApiKeys />
      <Preferences />
      <Skills />
      <Credentials />
      <ProvidersSection admin={me.is_admin} />
      <Usage />
    </>
  );
}

function secret(form: HTMLFormElement, name: string): string {
  return (form.elements.namedItem(name) as HTMLInputElement | HTMLTextAreaElement).value;
}

function Password() {
  const [done, setDone] = useState(false);
  return (
    <Section title="Password" id="password">
      {done ? <p role="status">Your password is changed; your other sessions have ended.</p> : null}
      <Form
        label="Change password"
        button="Change password"
        submit={async (form) => {
          if (secret(form, "new_password") !== secret(form, "again")) throw new Error("The new passwords differ.");
          session.keep(
            await session.request("POST", "/v1/users/me/password", {
              current_password: secret(form, "current_password"),
              new_password: secret(form, "new_password"),
            }),
          );
          form.reset();
          setDone(true);
        }}
      >
        <div class="row">
          <Field label="Current password"><input name="current_password" type="password" autocomplete="current-password" required /></Field>
          <Field label="New password" hint="8 to 1024 characters."><input name="new_password" type="password" autocomplete="new-password" minLength={8} required /></Field>
          <Field label="New password again"><input name="again" type="password" autocomplete="new-password" required /></Field>
        </div>
      </Form>
    </Section>
  );
}

interface ApiKey {
  id: string;
  name: string;
  scope: string;
  prefix: string;
  created_at: string;
  expires_at?: string;
  last_used_at?: string;
  revoked_at?: string;
}

function ApiKeys() {
  const keys = useLoad(() => session.request<{ api_keys: ApiKey[] }>("GET", "/v1/api-keys"), []);
  const [made, setMade] = useState<string | null>(null);
  return (
    <Section title="API keys" id="api-keys">
      {made ? (
        <p role="status" class="notice">
          Your new key (shown once; copy it now): <code class="secret">{made}</code>
        </p>
      ) : null}
      <Loading loaded={keys}>
        {(list) => (
          <Table head={["Name", "Scope", "Key", "Last used", "Expires", ""]} empty="No API keys.">
            {list.api_keys.map((k) => (
              <tr>
                <td>{k.name}</td>
                <td>{k.scope}</td>
                <td><code>{k.prefix}…</code></td>
                <td>{ago(k.last_used_at)}</td>
                <td>{k.revoked_at ? `revoked ${ago(k.revoked_at)}` : k.expires_at ? k.expires_at.slice(0, 10) : "never"}</td>
                <td>
                  {k.revoked_at ? null : (
                    <Action kind="danger" confirm={`Revoke ${k.name}?`} run={async () => { await session.request("DELETE", `/v1/api-keys/${k.id}`); await keys.reload(); }}>
                      Revoke
                    </Action>
                  )}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
      <Form
        label="New API key"
        button="Create key"
        submit={async (form) => {
          const body: Record<string, unknown> = { name: field(form, "name"), scope: field(form, "scope") };
          const days = field(form, "days");
          if (days) body.expires_in_days = Number(days);
          const reply = await session.request<{ key: string }>("POST", "/v1/api-keys", body);
          setMade(reply.key);
          form.reset();
          await keys.reload();
        }}
      >
        <div class="row">
          <Field label="Name"><input name="name" required /></Field>
          <Field label="Scope">
            <select name="scope">
              <option value="models">models (OpenAI and Ollama clients)</option>
              <option value="all">all (everything you may do)</option>
            </select>
          </Field>
          <Field label="Expires in days"><input name="days" type="number" min={1} max={3650} inputMode="numeric" /></Field>
        </div>
      </Form>
    </Section>
  );
}

interface Effective {
  key: string;
  value: unknown;
  source: string;
  description: string;
}

function Preferences() {
  const prefs = useLoad(() => session.request<{ preferences: Effective[] }>("GET", "/v1/preferences/effective"), []);
  return (
    <Section title="Preferences" id="preferences">
      <p class="muted">What applies to your new tasks, and where it comes from. Yours override the system's; a project's or a task's override yours (cynork prefs).</p>
      <Loading loaded={prefs}>
        {(list) => (
          <Table head={["Preference", "Value", "From", "Yours"]} empty="No preferences.">
            {list.preferences.map((p) => (
              <tr>
                <td>
                  <strong>{p.key}</strong>
                  <br />
                  <small class="muted">{p.description}</small>
                </td>
                <td>{p.value === null ? <span class="muted">the node decides</span> : String(p.value)}</td>
                <td>{p.source}</td>
                <td>
                  <Form
                    label={`Set ${p.key}`}
                    button="Set"
                    submit={async (form) => {
                      const raw = field(form, "value");
                      const value = /^\d+$/.test(raw) ? Number(raw) : raw;
                      await session.request("PUT", `/v1/preferences/${p.key}`, { scope: "user", value });
                      await prefs.reload();
                    }}
                  >
                    <input name="value" aria-label={`Your ${p.key}`} required />
                  </Form>
                  {p.source === "user" ? (
                    <Action run={async () => { await session.request("DELETE", `/v1/preferences/${p.key}?scope=user`); await prefs.reload(); }}>
                      Unset
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

interface Skill {
  name: string;
  triggers?: string[];
  size: number;
  updated_at: string;
}

function Skills() {
  const skills = useLoad(() => session.request<{ skills: Skill[] }>("GET", "/v1/skills"), []);
  return (
    <Section title="Skills" id="skills">
      <Loading loaded={skills}>
        {(list) => (
          <Table head={["Name", "Triggers", "Updated", ""]} empty="No skills: they add your instructions to the agent's.">
            {list.skills.map((s) => (
              <tr>
                <td>{s.name}</td>
                <td>{(s.triggers ?? []).join(", ") || <span class="muted">always</span>}</td>
                <td>{ago(s.updated_at)}</td>
                <td>
                  <Action kind="danger" confirm={`Delete skill ${s.name}?`} run={async () => { await session.request("DELETE", `/v1/skills/${s.name}`); await skills.reload(); }}>
                    Delete
                  </Action>
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
      <Form
        label="New skill"
        button="Save skill"
        submit={async (form) => {
          const triggers = field(form, "triggers").split(/[\s,]+/).filter(Boolean);
          await session.request("POST", "/v1/skills", { name: field(form, "name"), body: secret(form, "body"), triggers });
          form.reset();
          await skills.reload();
        }}
      >
        <div class="row">
          <Field label="Name"><input name="name" required /></Field>
          <Field label="Trigger words" hint="Space-separated; none: every task."><input name="triggers" /></Field>
        </div>
        <Field label="Instructions"><textarea name="body" rows={4} required /></Field>
      </Form>
    </Section>
  );
}

interface Credential {
  name: string;
  provider: string;
  description?: string;
  enabled: boolean;
  created_at: string;
  rotated_at?: string;
}

function Credentials() {
  const creds = useLoad(() => session.request<{ credentials: Credential[] }>("GET", "/v1/credentials"), []);
  const [rotating, setRotating] = useState<string | undefined>(undefined);
  const patch = (name: string, enabled: boolean) => async () => {
    await session.request("PATCH", `/v1/credentials/${name}`, { enabled });
    await creds.reload();
  };
  return (
    <Section title="Credentials" id="credentials">
      <p class="muted">Secrets for outbound services (a forge token for planned work). Write-only: stored sealed, never shown again.</p>
      <Loading loaded={creds}>
        {(list) => (
          <Table head={["Name", "Provider", "State", "Rotated", ""]} empty="No stored credentials.">
            {list.credentials.map((c) => (
              <tr>
                <td>{c.name}{c.description ? <small class="muted"> {c.description}</small> : null}</td>
                <td>{c.provider}</td>
                <td>{c.enabled ? "enabled" : "disabled"}</td>
                <td>{c.rotated_at ? ago(c.rotated_at) : "never"}</td>
                <td class="actions">
                  <button type="button" onClick={() => setRotating(c.name)}>Rotate</button>
                  {c.enabled ? <Action run={patch(c.name, false)}>Disable</Action> : <Action run={patch(c.name, true)}>Enable</Action>}
                  <Action kind="danger" confirm={`Delete credential ${c.name}?`} run={async () => { await session.request("DELETE", `/v1/credentials/${c.name}`); await creds.reload(); }}>
                    Delete
                  </Action>
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
      {rotating ? (
        <Form
          label={`Rotate ${rotating}`}
          button={`Rotate ${rotating}`}
          submit={async (form) => {
            await session.request("POST", `/v1/credentials/${rotating}/rotate`, { value: secret(form, "value") });
            setRotating(undefined);
            await creds.reload();
          }}
        >
          <Field label="New value"><input name="value" type="password" autocomplete="off" required /></Field>
        </Form>
      ) : null}
      <Form
        label="New credential"
        button="Store credential"
        submit={async (form) => {
          const body: Record<string, unknown> = { name: field(form, "name"), provider: field(form, "provider"), value: secret(form, "value") };
          const description = field(form, "description");
          if (description) body.description = description;
          await session.request("POST", "/v1/credentials", body);
          form.reset();
          await creds.reload();
        }}
      >
        <div class="row">
          <Field label="Name"><input name="name" required /></Field>
          <Field label="Provider" hint="github, gitlab, openai, anthropic…"><input name="provider" required /></Field>
          <Field label="Value"><input name="value" type="password" autocomplete="off" required /></Field>
          <Field label="Description"><input name="description" /></Field>
        </div>
      </Form>
    </Section>
  );
}

interface UsageRow {
  day: string;
  model: string;
  calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micro_usd: number;
}

interface Budget {
  max_tokens_per_minute: number;
  max_usd_cents_per_day: number;
  max_usd_cents_per_month: number;
  today_cost_micro_usd: number;
  month_cost_micro_usd: number;
}

/** "$0.12 of $5.00", or "$0.12 (no limit)". */
function spent(micro: number, cents: number): string {
  return cents > 0 ? `${dollars(micro)} of ${dollars(cents * 10_000)}` : `${dollars(micro)} (no limit)`;
}

function Usage() {
  const usage = useLoad(
    () =>
      session.request<{
        rows: UsageRow[];
        calls: number;
        prompt_tokens: number;
        completion_tokens: number;
        cost_micro_usd: number;
        budget?: Budget;
      }>(
        "GET",
        "/v1/usage?days=30",
      ),
    [],
  );
  return (
    <Section title="Usage, last 30 days" id="usage">
      <Loading loaded={usage}>
        {(u) => (
          <>
            <p>
              {u.calls} model calls, {u.prompt_tokens} prompt and {u.completion_tokens} completion tokens; hosted models cost{" "}
              {dollars(u.cost_micro_usd)}.
            </p>
            {u.budget && (
              <p>
                Hosted model budget: today {spent(u.budget.today_cost_micro_usd, u.budget.max_usd_cents_per_day)}, this month{" "}
                {spent(u.budget.month_cost_micro_usd, u.budget.max_usd_cents_per_month)}
                {u.budget.max_tokens_per_minute > 0 ? `, at most ${u.budget.max_tokens_per_minute} tokens a minute` : ""}.
              </p>
            )}
            <Table head={["Day", "Model", "Calls", "Prompt tokens", "Completion tokens", "Cost"]} empty="No model calls in this time.">
              {u.rows.map((r) => (
                <tr>
                  <td>{r.day}</td>
                  <td>{r.model}</td>
                  <td>{r.calls}</td>
                  <td>{r.prompt_tokens}</td>
                  <td>{r.completion_tokens}</td>
                  <td>{dollars(r.cost_micro_usd)}</td>
                </tr>
              ))}
            </Table>
          </>
        )}
      </Loading>
    </Section>
  );
}
