// Hosted model providers: everyone sees them and attaches one of their stored
// credentials (their own key); admins register and remove providers and attach a
// credential for everyone. The calls themselves go through the egress.

import { useState } from "preact/hooks";
import { Action, Field, Form, Loading, Section, Table, field, session, useLoad } from "../ui.tsx";

interface Model {
  name: string;
  input_usd_per_mtok: number;
  output_usd_per_mtok: number;
}

interface Provider {
  name: string;
  kind: string;
  base_url: string;
  models: Model[];
  credential?: { scope: string; credential_name: string };
}

/** `NAME` or `NAME@IN/OUT` a line, as cynork takes them. */
export function parseModels(text: string): Model[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const at = line.lastIndexOf("@");
      if (at < 0) return { name: line, input_usd_per_mtok: 0, output_usd_per_mtok: 0 };
      const [input, output] = line.slice(at + 1).split("/").map(Number);
      if (!Number.isFinite(input) || !Number.isFinite(output)) {
        throw new Error(`"${line}": prices are IN/OUT dollars per million tokens`);
      }
      return { name: line.slice(0, at), input_usd_per_mtok: input, output_usd_per_mtok: output };
    });
}

export function ProvidersSection({ admin }: { admin: boolean }) {
  const providers = useLoad(() => session.request<{ providers: Provider[] }>("GET", "/v1/providers"), []);
  const [attaching, setAttaching] = useState<{ provider: string; scope: string } | undefined>(undefined);
  const path = (name: string) => `/v1/providers/${encodeURIComponent(name)}`;
  return (
    <Section title="Hosted model providers" id="providers">
      <Loading loaded={providers}>
        {(list) => (
          <Table head={["Provider", "Kind", "Models (US$ per million tokens in/out)", "Your calls use", ""]} empty="No providers registered.">
            {list.providers.map((p) => (
              <tr>
                <td>
                  {p.name}
                  <br />
                  <small class="muted">{p.base_url}</small>
                </td>
                <td>{p.kind}</td>
                <td>{p.models.map((m) => `${m.name} (${m.input_usd_per_mtok}/${m.output_usd_per_mtok})`).join(", ")}</td>
                <td>{p.credential ? `${p.credential.credential_name} (${p.credential.scope})` : <span class="muted">no credential</span>}</td>
                <td class="actions">
                  <button type="button" onClick={() => setAttaching({ provider: p.name, scope: "user" })}>Attach my key</button>
                  {p.credential?.scope === "user" ? (
                    <Action run={async () => { await session.request("DELETE", `${path(p.name)}/credential?scope=user`); await providers.reload(); }}>
                      Detach mine
                    </Action>
                  ) : null}
                  {admin ? (
                    <>
                      <button type="button" onClick={() => setAttaching({ provider: p.name, scope: "system" })}>Attach for everyone</button>
                      <Action kind="danger" confirm={`Remove provider ${p.name} and its attached credentials?`} run={async () => { await session.request("DELETE", path(p.name)); await providers.reload(); }}>
                        Remove
                      </Action>
                    </>
                  ) : null}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
      {attaching ? (
        <Form
          label={`Attach a credential to ${attaching.provider}`}
          button={attaching.scope === "system" ? "Attach for everyone" : "Attach my key"}
          submit={async (form) => {
            await session.request("PUT", `${path(attaching.provider)}/credential`, { credential_name: field(form, "credential_name"), scope: attaching.scope });
            setAttaching(undefined);
            await providers.reload();
          }}
        >
          <Field label={`Stored credential for ${attaching.provider}`} hint="One of your credentials (Account, Credentials); its value stays sealed.">
            <input name="credential_name" required />
          </Field>
        </Form>
      ) : null}
      {admin ? (
        <Form
          label="Register a provider"
          button="Register provider"
          submit={async (form) => {
            await session.request("POST", "/v1/providers", {
              name: field(form, "name"),
              kind: field(form, "kind"),
              base_url: field(form, "base_url"),
              models: parseModels((form.elements.namedItem("models") as HTMLTextAreaElement).value),
            });
            form.reset();
            await providers.reload();
          }}
        >
          <div class="row">
            <Field label="Name"><input name="name" required /></Field>
            <Field label="Kind">
              <select name="kind">
                <option value="openai">openai (any OpenAI-compatible API)</option>
                <option value="anthropic">anthropic (Messages API)</option>
              </select>
            </Field>
            <Field label="Base URL" hint="https:// (plain http only for hosts the deployment allows)"><input name="base_url" type="url" required /></Field>
          </div>
          <Field label="Models" hint="One a line: NAME or NAME@IN/OUT (US dollars per million tokens)">
            <textarea name="models" rows={3} required />
          </Field>
        </Form>
      ) : null}
    </Section>
  );
}
