// A task's live log as it arrives (the gateway's logs/stream events), resumed after a
// dropped connection from the last line seen; one job's lines only when `job` is given
// (a run of planned work).

import { useEffect, useRef, useState } from "preact/hooks";
import type { LogLine } from "../types.ts";
import { ErrorNote, session } from "../ui.tsx";

/** Lines kept on the page; older ones are dropped (the result keeps the whole output). */
const KEEP = 5000;

export function LogTail({ task, job, onEnd }: { task: string; job?: string; onEnd?: () => void }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [dropped, setDropped] = useState(0);
  const [ended, setEnded] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const box = useRef<HTMLPreElement>(null);
  const endRef = useRef(onEnd);
  endRef.current = onEnd;

  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    setEnded(false);
    setError(undefined);
    let batch: LogLine[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const add = batch;
      batch = [];
      setLines((old) => {
        const all = old.concat(add);
        if (all.length <= KEEP) return all;
        setDropped((d) => d + all.length - KEEP);
        return all.slice(all.length - KEEP);
      });
    };
    session
      .follow(
        `/v1/tasks/${encodeURIComponent(task)}/logs/stream`,
        (event) => {
          if (event.event === "log") {
            const line = JSON.parse(event.data) as LogLine;
            if (job && line.job_id !== job) return;
            batch.push(line);
            timer ??= setTimeout(flush, 50);
          } else if (event.event === "end") {
            return "stop";
          } else if (event.event === "error") {
            setError(new Error(JSON.parse(event.data).message ?? "the log stream failed"));
            return "stop";
          }
        },
        { signal: abort.signal, resumable: true },
      )
      .then(() => {
        if (abort.signal.aborted) return;
        if (timer) clearTimeout(timer);
        flush();
        setEnded(true);
        endRef.current?.();
      })
      .catch((err) => {
        if (!abort.signal.aborted) setError(err);
      });
    return () => {
      abort.abort();
      if (timer) clearTimeout(timer);
    };
  }, [task, job]);

  useEffect(() => {
    const el = box.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [lines]);

  let attempt = 0;
  return (
    <div class="logtail">
      <ErrorNote error={error} />
      {dropped > 0 ? <p class="muted">{dropped} earlier lines are not shown here; the result has the whole output.</p> : null}
      <pre ref={box} class="log" tabIndex={0} aria-label="Live log" aria-live="polite" data-testid="live-log">
        {lines.map((line) => {
          const marker = line.attempt !== attempt && attempt !== 0 ? `--- attempt ${line.attempt} ---\n` : "";
          attempt = line.attempt;
          return (
            <span class={line.stream === "stderr" ? "stderr" : undefined}>
              {marker}
              {line.text}
            </span>
          );
        })}
      </pre>
      <p class="muted" role="status">
        {ended ? (lines.length ? "The log is complete." : "Nothing was printed.") : "Following the log as it arrives…"}
      </p>
    </div>
  );
}
