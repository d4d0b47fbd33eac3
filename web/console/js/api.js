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
  if (!response.ok) throw new ApiError(messageOf(data, response), response.status);
  return data;
}

// Lists come bare or wrapped ({items|playbooks|runs|results|data: [...]}) depending on the service.
export function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const key of [...keys, "items", "results", "data"]) if (data && Array.isArray(data[key])) return data[key];
  return [];
}
