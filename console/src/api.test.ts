import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, Session, type TokenStore } from "./api.ts";

class MemoryStore implements TokenStore {
  items = new Map<string, string>();
  getItem(key: string) { return this.items.get(key) ?? null; }
  setItem(key: string, value: string) { this.items.set(key, value); }
  removeItem(key: string) { this.items.delete(key); }
}

/** A gateway stand-in that issues numbered tokens and records what it was sent. */
function gateway() {
  let issued = 0;
  const calls: { path: string; auth?: string; body?: any }[] = [];
  let validAccess = "";
  let validRefresh = "";
  const pair = () => {
    issued++;
    validAccess = `access-${issued}`;
    validRefresh = `refresh-${issued}`;
    return { access_token: validAccess, expires_in: 900, refresh_token: validRefresh, token_type: "Bearer" };
  };
  const reply = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  const fetcher = (async (path: string, init: RequestInit) => {
    const headers = (init.headers ?? {}) as Record<string, string>;
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ path, auth: headers.authorization, body });
    await new Promise((r) => setTimeout(r, 1));
    if (path === "/v1/auth/login") return reply(200, pair());
    if (path === "/v1/auth/refresh") {
      if (body.refresh_token !== validRefresh) return reply(401, { error: { code: "refresh_token_revoked", message: "revoked" } });
      return reply(200, pair());
    }
    if (headers.authorization !== `Bearer ${validAccess}`) return reply(401, { error: { code: "invalid_token", message: "bad token" } });
    if (path === "/v1/users/me") return reply(200, { user_id: "u1", handle: "ann", is_admin: false });
    return reply(200, { ok: true });
  }) as typeof fetch;
  return { fetcher, calls, expire: () => { validAccess = "expired"; } };
}

test("sign-in keeps the access token in memory and only the refresh token in the store", async () => {
  const store = new MemoryStore();
  const gw = gateway();
  const session = new Session(store, "", Date.now, gw.fetcher);
  const me = await session.login("ann", "pw");
  assert.equal(me.handle, "ann");
  assert.deepEqual([...store.items.values()], ["refresh-1"]);
  assert.equal(gw.calls.at(-1)?.auth, "Bearer access-1");
});

test("a token near its expiry is refreshed before the request, once for concurrent requests", async () => {
  let now = 1_000_000;
  const store = new MemoryStore();
  const gw = gateway();
  const session = new Session(store, "", () => now, gw.fetcher);
  await session.login("ann", "pw");
  now += 850_000; // 50 s before the 900 s expiry
  await Promise.all([session.request("GET", "/v1/tasks"), session.request("GET", "/v1/tasks")]);
  const refreshes = gw.calls.filter((c) => c.path === "/v1/auth/refresh");
  assert.equal(refreshes.length, 1);
  assert.deepEqual(gw.calls.filter((c) => c.path === "/v1/tasks").map((c) => c.auth), ["Bearer access-2", "Bearer access-2"]);
  assert.equal(store.getItem("cynode.refresh"), "refresh-2");
});

test("a 401 refreshes once and retries; a refused refresh signs out and says so", async () => {
  const store = new MemoryStore();
  const gw = gateway();
  const session = new Session(store, "", Date.now, gw.fetcher);
  let ended = "";
  session.onEnded = (why) => { ended = why; };
  await session.login("ann", "pw");
  gw.expire();
  assert.deepEqual(await session.request("GET", "/v1/tasks"), { ok: true });
  assert.equal(gw.calls.at(-1)?.auth, "Bearer access-2");
  gw.expire();
  store.setItem("cynode.refresh", "stolen-and-retired");
  await assert.rejects(session.request("GET", "/v1/tasks"), (err: ApiError) => err.status === 401);
  assert.equal(session.signedIn, false);
  assert.equal(store.getItem("cynode.refresh"), null);
  assert.equal(ended, "bad token");
});

test("a reload restores the session from the stored refresh token", async () => {
  const store = new MemoryStore();
  const gw = gateway();
  await new Session(store, "", Date.now, gw.fetcher).login("ann", "pw");
  const reloaded = new Session(store, "", Date.now, gw.fetcher);
  assert.equal((await reloaded.restore())?.handle, "ann");
  assert.equal(await new Session(new MemoryStore(), "", Date.now, gw.fetcher).restore(), null);
});

test("a refresh that found no token is not remembered: a later one asks the gateway", async () => {
  const store = new MemoryStore();
  const gw = gateway();
  const session = new Session(store, "", Date.now, gw.fetcher);
  assert.equal(await session.refresh(), false);
  await new Session(store, "", Date.now, gw.fetcher).login("ann", "pw");
  assert.equal(await session.refresh(), true);
  assert.equal(gw.calls.at(-1)?.path, "/v1/auth/refresh");
});
