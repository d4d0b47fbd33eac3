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
  constructor(message, status, service) {
    super(message);
    this.status = status;
    this.service = service;
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
  if (!base) throw new ApiError(`no URL configured for ${service}`, 0, service);
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
    throw new ApiError(`${service} is unreachable at ${base} (${err.message})`, 0, service);
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
    throw new ApiError(response.status === 403 ? `Not allowed: ${message}` : message, response.status, service);
  }
  return data;
}

// Lists come bare or wrapped ({items|playbooks|runs|results|data: [...]}) depending on the service.
export function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const key of [...keys, "items", "results", "data"]) if (data && Array.isArray(data[key])) return data[key];
  return [];
}

// One page of a list: {items, next_cursor, count} as the paged endpoints answer, or a bare list (older
// services): then there is no next page and the count is what came back.
export function pageOf(data, ...keys) {
  const items = listOf(data, ...keys);
  const paged = data && !Array.isArray(data) && typeof data === "object";
  return {
    items,
    next: paged ? data.next_cursor ?? null : null,
    count: paged && Number.isFinite(data.count) ? data.count : null,
  };
}

// A query string from the set values of an object ("" and null are left out).
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

// A server-sent events stream read with fetch: EventSource cannot send the bearer token (it takes no
// headers, and a token in the URL would land in access logs), so the stream is parsed here, per the
// text/event-stream format. Calls onEvent({id, event, data}) per event; resolves when the server
// closes the stream; rejects with an ApiError (status 404/405 when the service has no such stream,
// so the caller falls back to polling). `lastId` resumes after that event (Last-Event-ID).
export async function stream(service, path, { onEvent, onOpen, lastId = null, signal } = {}) {
  const base = SERVICES[service];
  if (!base) throw new ApiError(`no URL configured for ${service}`, 0, service);
  const headers = { Accept: "text/event-stream" };
  const bearer = token.get();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (lastId !== null && lastId !== undefined) headers["Last-Event-ID"] = String(lastId);
  let response;
  try {
    response = await fetch(base + path, { headers, signal, cache: "no-store" });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(`${service} is unreachable at ${base} (${err.message})`, 0, service);
  }
  if (!response.ok || !(response.headers.get("content-type") || "").includes("text/event-stream")) {
    const text = await response.text().catch(() => "");
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = text;
    }
    // 200 with another type: not a stream endpoint (e.g. a catch-all route); treat as absent.
    const status = response.ok ? 404 : response.status;
    throw new ApiError(messageOf(data, response), status, service);
  }
  if (onOpen) onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { id: null, event: "message", data: [] };
  const dispatch = () => {
    if (event.data.length) onEvent({ id: event.id, event: event.event, data: event.data.join("\n") });
    event = { id: null, event: "message", data: [] };
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      if (newline === buffer.length - 1 && buffer.endsWith("\r")) break; // maybe a \r\n split across reads
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        dispatch();
        continue;
      }
      if (line.startsWith(":")) continue; // a comment (keep-alive)
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? "" : line.slice(colon + 1);
      if (val.startsWith(" ")) val = val.slice(1);
      if (field === "data") event.data.push(val);
      else if (field === "event") event.event = val;
      else if (field === "id") event.id = val;
    }
  }
}

// Which services answer at all: a page that lists what it could not reach names them.
export function unreachable(err) {
  return err && err.status === 0 && err.service ? err.service : null;
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
