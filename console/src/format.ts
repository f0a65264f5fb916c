// Small pure helpers for what pages show: times, sizes, and a plan's subtasks as board
// columns.

export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "never";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const secs = Math.round((now - then) / 1000);
  if (secs < 0) return "just now";
  if (secs < 60) return `${secs}s ago`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)}h ago`;
  return `${Math.floor(secs / 86400)}d ago`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export const TERMINAL = ["completed", "failed", "canceled", "superseded"];

/** Millionths of a US dollar as dollars: cents for sums of a cent or more, else to the millionth. */
export function dollars(microUsd: number | undefined): string {
  const micro = microUsd ?? 0;
  if (micro >= 10_000) return `$${(micro / 1_000_000).toFixed(2)}`;
  return `$${(micro / 1_000_000).toFixed(6)}`;
}

export function finished(status: string): boolean {
  return TERMINAL.includes(status);
}

export interface BoardSubtask {
  number: number;
  title: string;
  state: string;
  depends_on: number[];
}

/** The board's columns, in the order work moves, each with its subtasks by number. */
export const COLUMNS: { state: string; title: string }[] = [
  { state: "blocked_dependency", title: "Waiting" },
  { state: "ready", title: "Ready" },
  { state: "in_progress", title: "In progress" },
  { state: "blocked_failure", title: "Failed" },
  { state: "completed", title: "Pull request open" },
  { state: "merged", title: "Merged" },
];

export function board<T extends BoardSubtask>(subtasks: T[]): { state: string; title: string; items: T[] }[] {
  const known = new Set(COLUMNS.map((c) => c.state));
  const columns = COLUMNS.map((column) => ({
    ...column,
    items: subtasks.filter((s) => s.state === column.state).sort((a, b) => a.number - b.number),
  }));
  const other = subtasks.filter((s) => !known.has(s.state));
  if (other.length > 0) columns.push({ state: "other", title: "Other", items: other });
  return columns;
}

/** Dependencies of `subtask` that are not merged yet: what it waits for. */
export function waitingOn(subtask: BoardSubtask, all: BoardSubtask[]): number[] {
  return subtask.depends_on.filter((n) => all.find((s) => s.number === n)?.state !== "merged");
}
