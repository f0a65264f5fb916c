import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRoute, href, type Route } from "./routes.ts";
import { ago, board, bytes, dollars, waitingOn } from "./format.ts";
import { parseModels } from "./pages/providers.tsx";

test("addresses parse to pages and back", () => {
  const cases: [string, Route][] = [
    ["", { page: "tasks" }],
    ["#/", { page: "tasks" }],
    ["#/tasks/task_01J%2Fx", { page: "task", id: "task_01J/x" }],
    ["#/chat", { page: "chat" }],
    ["#/chat/thr_1", { page: "chat", thread: "thr_1" }],
    ["#/admin", { page: "admin", section: "nodes" }],
    ["#/admin/dead-letters", { page: "admin", section: "dead-letters" }],
    ["#/admin/secrets", { page: "missing", path: "/admin/secrets" }],
    ["#/tasks/a/b", { page: "missing", path: "/tasks/a/b" }],
  ];
  for (const [hash, route] of cases) {
    assert.deepEqual(parseRoute(hash), route, hash);
    if (route.page !== "missing" && hash.length > 2) assert.deepEqual(parseRoute(href(route)), route);
  }
});

test("times and sizes read as people say them", () => {
  const now = Date.parse("2026-12-07T10:00:00Z");
  assert.equal(ago("2026-12-07T09:59:30Z", now), "30s ago");
  assert.equal(ago("2026-12-07T07:00:00Z", now), "3h ago");
  assert.equal(ago(null, now), "never");
  assert.equal(bytes(512), "512 B");
  assert.equal(bytes(1536), "1.5 KiB");
  assert.equal(bytes(64 * 1024 * 1024), "64 MiB");
});

test("costs in millionths of a dollar read as dollars", () => {
  assert.equal(dollars(0), "$0.000000");
  assert.equal(dollars(undefined), "$0.000000");
  assert.equal(dollars(2_000), "$0.002000");
  assert.equal(dollars(1_234_567), "$1.23");
});

test("a plan's subtasks fall into the board's columns in order, with what each waits on", () => {
  const subtasks = [
    { number: 3, title: "c", state: "blocked_dependency", depends_on: [1, 2] },
    { number: 1, title: "a", state: "merged", depends_on: [] },
    { number: 2, title: "b", state: "in_progress", depends_on: [1] },
    { number: 4, title: "d", state: "something_new", depends_on: [] },
  ];
  const columns = board(subtasks);
  const where = Object.fromEntries(columns.map((c) => [c.state, c.items.map((s) => s.number)]));
  assert.deepEqual(where, {
    blocked_dependency: [3], ready: [], in_progress: [2], blocked_failure: [],
    completed: [], merged: [1], other: [4],
  });
  assert.deepEqual(waitingOn(subtasks[0], subtasks), [2]);
});

test("a provider's models read one a line, with or without prices", () => {
  assert.deepEqual(parseModels("meta-llama/llama-3.1-8b@0.05/0.08\n\n tiny \n"), [
    { name: "meta-llama/llama-3.1-8b", input_usd_per_mtok: 0.05, output_usd_per_mtok: 0.08 },
    { name: "tiny", input_usd_per_mtok: 0, output_usd_per_mtok: 0 },
  ]);
  assert.throws(() => parseModels("m@x/1"));
});
