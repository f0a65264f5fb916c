// Chat: your threads, and answers shown as the model writes them (POST /v1/chat with
// stream: true).

import { useEffect, useRef, useState } from "preact/hooks";
import { ago } from "../format.ts";
import { href } from "../routes.ts";
import { Action, ErrorNote, Field, Loading, session, useLoad } from "../ui.tsx";

interface Thread {
  thread_id: string;
  title: string;
  model: string;
  updated_at: string;
}

interface Message {
  role: string;
  content: string;
}

export function ChatPage({ thread }: { thread?: string }) {
  const threads = useLoad(() => session.request<{ threads: Thread[] }>("GET", "/v1/chat/threads"), []);
  return (
    <>
      <h1 tabIndex={-1}>Chat</h1>
      <div class="chat">
        <nav aria-label="Threads" class="threads">
          <a href={href({ page: "chat" })} aria-current={!thread ? "page" : undefined}>
            New thread
          </a>
          <Loading loaded={threads}>
            {(list) => (
              <ul>
                {list.threads.map((t) => (
                  <li>
                    <a href={href({ page: "chat", thread: t.thread_id })} aria-current={t.thread_id === thread ? "page" : undefined}>
                      {t.title}
                    </a>
                    <small class="muted"> {t.model}, {ago(t.updated_at)}</small>
                  </li>
                ))}
              </ul>
            )}
          </Loading>
        </nav>
        <Conversation key={thread ?? "new"} thread={thread} onSaved={threads.reload} />
      </div>
    </>
  );
}

function Conversation({ thread, onSaved }: { thread?: string; onSaved: () => Promise<void> }) {
  const [messages, setMessages] = useState<Message[]>([]);
  const [model, setModel] = useState("");
  const [answer, setAnswer] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const models = useLoad(() => session.request<{ data: { id: string }[] }>("GET", "/v1/models"), []);
  const input = useRef<HTMLTextAreaElement>(null);
  const threadId = useRef(thread);

  useEffect(() => {
    if (!thread) return;
    session
      .request<{ model: string; messages?: Message[] }>("GET", `/v1/chat/threads/${encodeURIComponent(thread)}`)
      .then((t) => { setMessages(t.messages ?? []); setModel(t.model); })
      .catch(setError);
  }, [thread]);

  const send = async (event: Event) => {
    event.preventDefault();
    const message = input.current?.value.trim() ?? "";
    if (!message || busy) return;
    setBusy(true);
    setError(undefined);
    setMessages((m) => [...m, { role: "user", content: message }]);
    setAnswer("");
    let text = "";
    try {
      const body: Record<string, unknown> = { message, stream: true };
      if (threadId.current) body.thread_id = threadId.current;
      else if (model) body.model = model;
      await session.follow("/v1/chat", (e) => {
        const data = JSON.parse(e.data);
        if (e.event === "thread") threadId.current = data.thread_id;
        else if (e.event === "delta") {
          text += data.text;
          setAnswer(text);
        } else if (e.event === "done") {
          text = data.response;
          return "stop";
        } else if (e.event === "error") throw new Error(data.message);
      }, { body });
      setMessages((m) => [...m, { role: "assistant", content: text }]);
      if (input.current) input.current.value = "";
      await onSaved();
      if (!thread && threadId.current) history.replaceState(null, "", href({ page: "chat", thread: threadId.current }));
    } catch (err) {
      setError(err);
    } finally {
      setAnswer(null);
      setBusy(false);
    }
  };

  return (
    <section class="conversation" aria-label="Conversation">
      {thread ? (
        <div class="actions">
          <span class="muted">Model: {model}</span>
          <Action kind="danger" confirm="Delete this thread?" run={async () => {
            await session.request("DELETE", `/v1/chat/threads/${encodeURIComponent(thread)}`);
            await onSaved();
            location.hash = href({ page: "chat" });
          }}>
            Delete thread
          </Action>
        </div>
      ) : (
        <Field label="Model">
          <select value={model} onChange={(e) => setModel(e.currentTarget.value)}>
            <option value="">the agent (cynodeai.pm)</option>
            {(models.data?.data ?? []).filter((m) => m.id !== "cynodeai.pm").map((m) => (
              <option value={m.id}>{m.id}</option>
            ))}
          </select>
        </Field>
      )}
      <ol class="messages" aria-live="polite">
        {messages.map((m) => (
          <li class={m.role}>
            <strong>{m.role === "user" ? "You" : "Answer"}</strong>
            <p>{m.content}</p>
          </li>
        ))}
        {answer !== null ? (
          <li class="assistant" aria-busy="true" data-testid="streaming-answer">
            <strong>Answer</strong>
            <p>{answer || "…"}</p>
          </li>
        ) : null}
      </ol>
      <ErrorNote error={error} />
      <form onSubmit={send} aria-label="Send a message" class="compose">
        <textarea
          ref={input}
          name="message"
          rows={3}
          required
          aria-label="Message"
          placeholder="Ask something (Ctrl+Enter sends)"
          onKeyDown={(e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void send(e); }}
        />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Answering…" : "Send"}
        </button>
      </form>
    </section>
  );
}
