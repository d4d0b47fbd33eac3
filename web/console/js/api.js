// Calls to each service's own HTTP API, with the signed-in dev token.
import { SERVICES } from "../config.js";

const TOKEN_KEY = "playbooks.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value.trim()),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
  // The token's claims, for display only (the services verify it).
  claims() {
    try {
      const part = (this.get() || "").split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part));
    } catch {
      return null;
    }
  },
  // The org (tenant) the token is for: the services read it from the "org" claim.
  org() {
    const c = this.claims() || {};
    return c.org ?? c.org_id ?? c.tenant_id ?? null;
  },
};

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// The message a problem+json (or FastAPI) error body carries, else the HTTP status.
function messageOf(body, response) {
  if (body && typeof body === "object") {
    if (typeof body.detail === "string") return body.title ? `${body.title}: ${body.detail}` : body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    if (body.title) return body.title;
  }
  return `${response.status} ${response.statusText || "error"}`;
}

export async function api(service, path, { method = "GET", body, headers = {} } = {}) {
  const base = SERVICES[service];
  if (!base) throw new ApiError(`no URL configured for ${service}`, 0);
  const init = { method, headers: { Accept: "application/json", ...headers } };
  const bearer = token.get();
  if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(base + path, init);
  } catch (err) {
    throw new ApiError(`${service} is unreachable at ${base} (${err.message})`, 0);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    const message = messageOf(data, response);
    // A refusal says so plainly, with the service's reason (the permission it needs and the roles granting it).
    throw new ApiError(response.status === 403 ? `Not allowed: ${message}` : message, response.status);
  }
  return data;
}

// Lists come bare or wrapped ({items|playbooks|runs|results|data: [...]}) depending on the service.
export function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const key of [...keys, "items", "results", "data"]) if (data && Array.isArray(data[key])) return data[key];
  return [];
}

// What the signed-in user may do on a service: the permissions GET /whoami grants (read, write, operate,
// review, ...), asked once per token and service. The pages render only the controls these cover; the
// service still decides, and its 403 names the permission missing.
const granted = new Map();
export function permissions(service) {
  const key = `${service} ${token.get()}`;
  if (!granted.has(key)) {
    const asked = api(service, "/whoami").then((me) => new Set(me.permissions || []));
    asked.catch(() => granted.delete(key)); // unreachable now: ask again next time
    granted.set(key, asked);
  }
  return granted.get(key);
}
