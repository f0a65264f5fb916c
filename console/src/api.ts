// The console's one way to the gateway: a signed-in session whose access token lives in
// this page's memory only. The refresh token is kept in sessionStorage (this tab, until
// it closes or signs out) so a reload does not sign the user out; each refresh retires it
// and stores the new one. Requests refresh the access token a minute before it expires
// and once more on a 401; refreshes are single-flight, since presenting a retired refresh
// token again ends the whole session.

import { readEvents, type SseEvent } from "./sse.ts";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface TokenPair {
  access_token: string;
  expires_in: number;
  refresh_token: string;
}

export interface Me {
  user_id: string;
  handle: string;
  is_admin: boolean;
}

const REFRESH_KEY = "cynode.refresh";
const EARLY_MS = 60_000;

/** Where the session keeps its refresh token (sessionStorage in the browser). */
export interface TokenStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class Session {
  private access: string | null = null;
  private expiresAt = 0;
  /** How long before expiry a request refreshes: a minute, or a quarter of a short life. */
  private early = EARLY_MS;
  private refreshing: Promise<boolean> | null = null;
  me: Me | null = null;
  /** Called when the session ends by itself (refresh refused, user disabled). */
  onEnded: (why: string) => void = () => {};

  constructor(
    private readonly store: TokenStore,
    /** The streams' origin when it is not this one (on AWS, the chat function's URL). */
    private readonly streamBase = "",
    private readonly now: () => number = Date.now,
    private readonly fetcher: typeof fetch = (...args) => fetch(...args),
  ) {}

  get signedIn(): boolean {
    return this.access !== null;
  }

  async login(handle: string, password: string): Promise<Me> {
    const pair = await this.send<TokenPair>("POST", "/v1/auth/login", { handle, password }, false);
    this.keep(pair);
    return this.loadMe();
  }

  /** Signs in again from the stored refresh token (after a reload); false without one. */
  async restore(): Promise<Me | null> {
    if (!this.store.getItem(REFRESH_KEY)) return null;
    if (!(await this.refresh())) return null;
    return this.loadMe();
  }

  async logout(): Promise<void> {
    const refresh_token = this.store.getItem(REFRESH_KEY) ?? undefined;
    try {
      if (this.access) await this.request("POST", "/v1/auth/logout", { refresh_token });
    } finally {
      this.forget();
    }
  }

  /** Takes the pair a password change returns (every other session ended). */
  keep(pair: TokenPair): void {
    this.access = pair.access_token;
    this.expiresAt = this.now() + pair.expires_in * 1000;
    this.early = Math.min(EARLY_MS, pair.expires_in * 250);
    this.store.setItem(REFRESH_KEY, pair.refresh_token);
  }

  private forget(): void {
    this.access = null;
    this.me = null;
    this.store.removeItem(REFRESH_KEY);
  }

  private async loadMe(): Promise<Me> {
    this.me = await this.request<Me>("GET", "/v1/users/me");
    return this.me;
  }

  /** A new pair from the refresh token; one at a time. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.refreshOnce().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async refreshOnce(): Promise<boolean> {
    const refresh_token = this.store.getItem(REFRESH_KEY);
    if (!refresh_token) return false;
    try {
      this.keep(await this.send<TokenPair>("POST", "/v1/auth/refresh", { refresh_token }, false));
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status < 500) this.forget();
      return false;
    }
  }

  private async token(): Promise<string> {
    if (this.access && this.now() > this.expiresAt - this.early) await this.refresh();
    if (!this.access) throw new ApiError(401, "signed_out", "You are signed out; sign in again.");
    return this.access;
  }

  /** A JSON request with the bearer token; a 401 refreshes once and tries again. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await this.send<T>(method, path, body, true);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401 || !(await this.refresh())) {
        if (err instanceof ApiError && err.status === 401) this.ended(err.message);
        throw err;
      }
      return this.send<T>(method, path, body, true);
    }
  }

  private ended(why: string): void {
    this.forget();
    this.onEnded(why);
  }

  private async send<T>(method: string, path: string, body: unknown, authed: boolean): Promise<T> {
    const headers: Record<string, string> = {};
    if (authed) headers.authorization = `Bearer ${await this.token()}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetcher(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "unreachable", "The gateway cannot be reached; check your connection.");
    }
    if (!response.ok) throw await errorOf(response);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /**
   * Follows a server-sent event stream (GET, or POST with a body) until it ends, `signal`
   * aborts it, or `onEvent` returns "stop". Resumes with Last-Event-ID after a `reconnect`
   * event or a dropped connection (up to 5 times in a row), so nothing is missed.
   */
  async follow(
    path: string,
    onEvent: (event: SseEvent) => "stop" | void,
    options: { signal?: AbortSignal; body?: unknown; resumable?: boolean } = {},
  ): Promise<void> {
    let lastId: string | undefined;
    let failures = 0;
    for (;;) {
      let stopped = false;
      let reconnect = false;
      try {
        const headers: Record<string, string> = {
          authorization: `Bearer ${await this.token()}`,
          accept: "text/event-stream",
        };
        if (lastId) headers["last-event-id"] = lastId;
        if (options.body !== undefined) headers["content-type"] = "application/json";
        const response = await this.fetcher(this.streamBase + path, {
          method: options.body === undefined ? "GET" : "POST",
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: options.signal,
        });
        if (response.status === 401 && (await this.refresh())) continue;
        if (!response.ok || !response.body) throw await errorOf(response);
        await readEvents(response.body, (event) => {
          if (stopped) return;
          if (event.id) lastId = event.id;
          if (event.event === "reconnect") reconnect = true;
          else if (onEvent(event) === "stop") stopped = true;
          failures = 0;
        });
      } catch (err) {
        if (options.signal?.aborted) return;
        if (err instanceof ApiError && err.status > 0 && err.status < 500) throw err;
        if (!options.resumable || ++failures > 5) throw err;
        reconnect = true;
        await new Promise((resolve) => setTimeout(resolve, 500 * failures));
      }
      if (stopped || !reconnect || !options.resumable || options.signal?.aborted) return;
    }
  }
}

async function errorOf(response: Response): Promise<ApiError> {
  let code = "http_" + response.status;
  let message = `The gateway answered ${response.status} ${response.statusText}.`;
  try {
    const body = await response.json();
    const error = body?.error;
    if (error && typeof error.message === "string") {
      message = error.message;
      code = String(error.code ?? code);
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, code, message);
}
