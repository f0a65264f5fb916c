// The console's shell: sign-in, the navigation, and the page the address names.

import { render } from "preact";
import type { ComponentChildren } from "preact";
import { useEffect, useErrorBoundary, useState } from "preact/hooks";
import "./style.css";
import type { Me } from "./api.ts";
import { href, parseRoute, type Route } from "./routes.ts";
import { session, Action } from "./ui.tsx";
import { SignIn } from "./pages/signin.tsx";
import { TasksPage } from "./pages/tasks.tsx";
import { TaskPage } from "./pages/task.tsx";
import { ProjectsPage } from "./pages/projects.tsx";
import { ChatPage } from "./pages/chat.tsx";
import { AccountPage } from "./pages/account.tsx";
import { AdminPage } from "./pages/admin.tsx";

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [restoring, setRestoring] = useState(true);
  const [notice, setNotice] = useState("");
  const route = useRoute();

  useEffect(() => {
    session.onEnded = (why) => {
      setMe(null);
      setNotice(`You were signed out: ${why}`);
    };
    session
      .restore()
      .then(setMe)
      .catch(() => setMe(null))
      .finally(() => setRestoring(false));
  }, []);

  useEffect(() => {
    document.querySelector<HTMLElement>("main h1")?.focus();
  }, [route]);

  if (restoring) return <p class="muted">Loading…</p>;
  if (!me) return <SignIn notice={notice} onSignedIn={(who) => { setNotice(""); setMe(who); }} />;

  const links: [Route, string][] = [
    [{ page: "tasks" }, "Tasks"],
    [{ page: "projects" }, "Projects"],
    [{ page: "chat" }, "Chat"],
    [{ page: "account" }, "Account"],
  ];
  if (me.is_admin) links.push([{ page: "admin", section: "nodes" }, "Admin"]);
  const current = route.page === "task" ? "tasks" : route.page;

  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>
        Skip to content
      </a>
      <header class="bar">
        <strong class="brand">CyNode</strong>
        <nav aria-label="Main">
          {links.map(([to, label]) => (
            <a href={href(to)} aria-current={to.page === current ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who">
          {me.handle}
          {me.is_admin ? " (admin)" : ""}
          <Action run={async () => { await session.logout(); setMe(null); }}>Sign out</Action>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Guard key={location.hash}>
          <Page route={route} me={me} />
        </Guard>
      </main>
    </>
  );
}

function Page({ route, me }: { route: Route; me: Me }) {
  switch (route.page) {
    case "tasks":
      return <TasksPage />;
    case "task":
      return <TaskPage id={route.id} />;
    case "projects":
      return <ProjectsPage />;
    case "chat":
      return <ChatPage thread={route.thread} />;
    case "account":
      return <AccountPage me={me} />;
    case "admin":
      return me.is_admin ? <AdminPage section={route.section} /> : <Missing what="the admin pages (admins only)" />;
    case "missing":
      return <Missing what={route.path} />;
  }
}

/** A page that fails to draw says so in words instead of going blank. */
function Guard({ children }: { children: ComponentChildren }) {
  const [error, reset] = useErrorBoundary();
  if (error) {
    return (
      <div role="alert">
        <h1 tabIndex={-1}>This page failed</h1>
        <p class="error">{String(error?.message ?? error)}</p>
        <button type="button" onClick={reset}>Try again</button>
      </div>
    );
  }
  return <>{children}</>;
}

function Missing({ what }: { what: string }) {
  return (
    <>
      <h1 tabIndex={-1}>Not found</h1>
      <p>There is no page for {what}. <a href="#/tasks">Back to your tasks</a>.</p>
    </>
  );
}

render(<App />, document.getElementById("app")!);
