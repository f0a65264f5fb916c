// The console's pages by address: `#/tasks/<id>`, `#/chat/<thread>` … Hash addresses,
// so that any static host (the gateway's console function) serves one page for all.

export type Route =
  | { page: "tasks" }
  | { page: "task"; id: string }
  | { page: "projects" }
  | { page: "chat"; thread?: string }
  | { page: "account" }
  | { page: "admin"; section: AdminSection }
  | { page: "missing"; path: string };

export const ADMIN_SECTIONS = ["nodes", "dead-letters", "users", "settings", "audit"] as const;
export type AdminSection = (typeof ADMIN_SECTIONS)[number];

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/\/+$/, "") || "/tasks";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const [first, second, ...rest] = parts;
  if (rest.length > 0) return { page: "missing", path };
  switch (first) {
    case "tasks":
      return second ? { page: "task", id: second } : { page: "tasks" };
    case "projects":
      return second ? { page: "missing", path } : { page: "projects" };
    case "chat":
      return second ? { page: "chat", thread: second } : { page: "chat" };
    case "account":
      return second ? { page: "missing", path } : { page: "account" };
    case "admin": {
      const section = (second ?? "nodes") as AdminSection;
      return ADMIN_SECTIONS.includes(section) ? { page: "admin", section } : { page: "missing", path };
    }
    default:
      return { page: "missing", path };
  }
}

export function href(route: Route): string {
  switch (route.page) {
    case "tasks":
      return "#/tasks";
    case "task":
      return `#/tasks/${encodeURIComponent(route.id)}`;
    case "projects":
      return "#/projects";
    case "chat":
      return route.thread ? `#/chat/${encodeURIComponent(route.thread)}` : "#/chat";
    case "account":
      return "#/account";
    case "admin":
      return `#/admin/${route.section}`;
    case "missing":
      return `#${route.path}`;
  }
}
