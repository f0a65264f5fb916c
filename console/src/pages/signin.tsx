// Signing in with a CyNode user (the same users as cynork's).

import { useEffect, useRef } from "preact/hooks";
import type { Me } from "../api.ts";
import { Field, Form, field, session } from "../ui.tsx";

export function SignIn({ onSignedIn, notice }: { onSignedIn: (me: Me) => void; notice: string }) {
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  return (
    <main id="main" class="signin">
      <h1 tabIndex={-1}>Sign in to CyNode</h1>
      {notice ? <p class="notice" role="status">{notice}</p> : null}
      <Form
        label="Sign in"
        button="Sign in"
        submit={async (form) => onSignedIn(await session.login(field(form, "handle"), (form.elements.namedItem("password") as HTMLInputElement).value))}
      >
        <Field label="User">
          <input name="handle" autocomplete="username" required ref={first} />
        </Field>
        <Field label="Password">
          <input name="password" type="password" autocomplete="current-password" required />
        </Field>
      </Form>
    </main>
  );
}
