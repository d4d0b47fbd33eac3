// Runs (runbook-runtime): the org's runs with filters, cursor pages and a count; one run live (a
// server-sent events stream, polling when the service has none), its steps and output, evidence and
// approval forms, reject and cancel, the step timeline and the trace.
import { api, pageOf, permissions, query, stream, token } from "../api.js";
import { h, badge, action, when, errorBox, fill } from "../ui.js";
import { stepTimeline } from "../charts.js";

const RT = "runbook-runtime";
const STATUSES = ["", "running", "waiting", "passed", "failed", "planned", "rejected", "cancelled"];
const ENDED = ["passed", "failed", "planned", "cancelled", "rejected"];
const SINCE = [["", "any time"], ["1", "last hour"], ["24", "last 24 hours"], ["168", "last 7 days"], ["720", "last 30 days"]];
const PAGE = 25;
// How often a run is re-read when the service offers no event stream (the console's config may say).
const POLL_MS = () => Number(window.PLAYBOOKS_POLL_MS) || 1000;

export async function runsPage(view, [runId]) {
  return runId ? runDetail(view, runId) : runList(view);
}

// -- the list -------------------------------------------------------------------------------------

function sinceIso(hours) {
  return hours ? new Date(Date.now() - Number(hours) * 3600 * 1000).toISOString() : "";
}

async function runList(view) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const status = h("select", { "data-test": "filter-status" }, STATUSES.map((s) => h("option", { value: s }, s || "any status")));
  const runbook = h("input", { "data-test": "filter-runbook", placeholder: "runbook / playbook id", size: 22 });
  const since = h("select", { "data-test": "filter-since" }, SINCE.map(([v, t]) => h("option", { value: v }, t)));
  status.value = params.get("status") || "";
  runbook.value = params.get("runbook") || "";
  since.value = params.get("since") || "";
  const body = h("div", { "data-test": "runs-list" });
  const cursors = [null]; // the cursor of each page shown so far: Previous goes back one
  const load = async () => {
    fill(body, h("p", { class: "muted" }, "Loading…"));
    const cursor = cursors[cursors.length - 1];
    const filters = { status: status.value, runbook: runbook.value.trim(), since: sinceIso(since.value) };
    try {
      const data = await api(RT, `/v1/runs${query({ ...filters, limit: PAGE, cursor })}`);
      let { items, next, count } = pageOf(data, "runs");
      let note = null;
      if (Array.isArray(data)) {
        // An older runtime: one list, no filters, no cursor. Filter what came back and say so.
        items = items.filter((r) => (!filters.status || r.status === filters.status)
          && (!filters.runbook || [r.playbook_id, r.run_id].some((v) => (v || "").includes(filters.runbook)))
          && (!filters.since || new Date(r.created_at) >= new Date(filters.since)));
        count = items.length;
        note = "This runbook-runtime answers one unpaged list: the filters apply to its newest runs only.";
      }
      fill(body, 
        h("p", { class: "row" },
          h("span", { "data-test": "runs-count" }, count === null ? `${items.length} shown` : `${count} run${count === 1 ? "" : "s"}`),
          h("span", { class: "grow" }),
          cursors.length > 1 ? h("button", { "data-test": "prev-page", onclick: () => { cursors.pop(); load(); } }, "← Previous") : null,
          next ? h("button", { "data-test": "next-page", onclick: () => { cursors.push(next); load(); } }, "Next page →") : null),
        note ? h("p", { class: "muted small", "data-test": "old-list" }, note) : null,
        runTable(items),
      );
    } catch (err) {
      fill(body, errorBox(err));
    }
  };
  const apply = (event) => {
    event?.preventDefault();
    cursors.splice(1);
    history.replaceState(null, "", `#/runs?${new URLSearchParams({ status: status.value, runbook: runbook.value.trim(), since: since.value })}`);
    load();
  };
  status.addEventListener("change", apply);
  since.addEventListener("change", apply);
  fill(view, 
    h("div", { class: "row" }, h("h1", { class: "grow" }, "Runs"), h("a", { href: "#/catalog", "data-test": "to-catalog" }, "Start a run from the catalog →")),
    h("form", { class: "card row", onsubmit: apply }, "Status", status, "Runbook", runbook, "Since", since,
      h("button", { type: "submit", "data-test": "apply-filters" }, "Filter")),
    body,
  );
  await load();
}

function runTable(runs) {
  return h(
    "table",
    { "data-test": "runs" },
    h("tr", {}, ["Run", "Status", "Mode", "Current step", "Playbook", "Requested by", "Updated"].map((t) => h("th", {}, t))),
    runs.length
      ? runs.map((r) =>
          h("tr", { "data-run": r.run_id },
            h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(r.run_id)}` }, r.run_id)),
            h("td", {}, badge(r.status)),
            h("td", {}, r.replay ? "replay" : r.mode),
            h("td", {}, r.current_step || ""),
            h("td", {}, r.playbook_id ? `${r.playbook_id} v${r.playbook_version ?? "?"}` : ""),
            h("td", { class: "muted" }, r.requested_by || ""),
            h("td", { class: "muted" }, when(r.updated_at))))
      : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No runs match.")),
  );
}

// -- one run ---------------------------------------------------------------------------------------

// The runbook a run was started with from this tab (the catalog keeps it): the evidence kinds, titles
// and instructions of its manual steps, for a service older than GET /v1/runs/{id}'s waiting_step.
export function rememberRunbook(runId, runbook) {
  try {
    sessionStorage.setItem(`playbooks.runbook.${runId}`, JSON.stringify(runbook));
  } catch {
    /* storage full: the forms fall back to text-or-file */
  }
}

function knownRunbook(runId) {
  try {
    return JSON.parse(sessionStorage.getItem(`playbooks.runbook.${runId}`) || "null");
  } catch {
    return null;
  }
}

function leafSteps(runbook) {
  return (runbook?.steps || []).flatMap((s) => (s.type === "group" ? s.steps || [] : [s]));
}

function stepRows(run) {
  // Executed steps from the history, then the current one (with what it still waits for), then the plan's rest.
  const rows = run.history.map((r) => ({ id: r.step_id, status: r.status, actor: r.actor, error: r.error, at: r.ended_at, result: r }));
  const seen = new Set(rows.map((r) => r.id));
  if (run.current_step && !seen.has(run.current_step) && !ENDED.includes(run.status)) {
    rows.push({ id: run.current_step, status: run.status === "waiting" ? "waiting" : "running", current: true });
    seen.add(run.current_step);
  }
  for (const p of run.plan || []) if (!seen.has(p.step_id)) rows.push({ id: p.step_id, status: "planned", type: p.type, plan: p });
  return rows;
}

function stepOutput(result) {
  if (!result) return null;
  const captures = Object.entries(result.captures || {});
  const evidence = Object.entries(result.evidence || {}).filter(([, v]) => v !== null && v !== undefined && !(typeof v === "object" && !Object.keys(v).length));
  if (!captures.length && !evidence.length && !(result.attempts > 1)) return null;
  return h("details", { "data-test": "step-output" },
    h("summary", {}, "Output", result.attempts > 1 ? ` · ${result.attempts} attempts` : ""),
    captures.map(([k, v]) => [h("div", { class: "muted small" }, k), h("pre", {}, v)]),
    evidence.length ? h("pre", {}, JSON.stringify(Object.fromEntries(evidence), null, 2)) : null);
}

function planLine(p) {
  if (!p) return null;
  if (p.argv) return h("div", { class: "muted small" }, h("code", {}, p.argv.join(" ")), ` · ${p.verdict}`);
  if (p.pauses_for) return h("div", { class: "muted small" }, `waits for: ${p.pauses_for.join(", ") || "a person"}`);
  return null;
}

// What the current manual step waits for, as forms: a text box or a file per evidence name, a tick box
// per checklist item, and the approval gate (approve, or reject with a reason).
function waitingForms(ctx) {
  const { run, may, send } = ctx;
  const path = `/v1/runs/${encodeURIComponent(run.run_id)}`;
  // the run says what its waiting step needs (waiting_step); a runbook started from this tab is the fallback
  const spec = run.waiting_step && run.waiting_step.id === run.current_step ? run.waiting_step
    : leafSteps(knownRunbook(run.run_id)).find((s) => s.id === run.current_step);
  const kinds = new Map((spec?.required_evidence || []).map((e) => [e.name, e.kind]));
  const gate = run.waiting_for.find((w) => w.startsWith("approval"));
  const checklists = new Map();
  const plain = [];
  for (const w of run.waiting_for) {
    if (w === gate) continue;
    const colon = w.indexOf(": ");
    const name = colon > 0 ? w.slice(0, colon) : w;
    if (colon > 0 && (kinds.get(name) ?? "checklist") === "checklist") checklists.set(name, [...(checklists.get(name) || []), w.slice(colon + 2)]);
    else plain.push(w);
  }
  const forms = [];
  if (spec?.title && spec.title !== spec.id) forms.push(h("strong", { "data-test": "waiting-title" }, spec.title));
  if (spec?.instructions) forms.push(h("div", { class: "note small", "data-test": "instructions" }, spec.instructions));
  if (may.has("operate")) {
    for (const name of plain) {
      const kind = kinds.get(name); // unknown when the run was not started from this tab: offer both
      const text = kind === "attachment" ? null : h("textarea", { rows: 2, "data-test": `evidence-${name}`, "data-keep": `evidence-${name}`, placeholder: "text evidence" });
      const file = kind === "text" ? null : h("input", { type: "file", "data-test": `file-${name}`, "data-keep": `file-${name}` });
      const submit = action(async () => {
        let body;
        if (file?.files.length) {
          const f = file.files[0];
          body = { name, filename: f.name, content_base64: await base64(f) };
          ctx.localDigests.set(name, await sha256(f));
        } else {
          if (!text?.value.trim()) throw new Error(`${name}: give the evidence first`);
          body = { name, value: text.value };
        }
        await send(api(RT, `${path}/evidence`, { method: "POST", body }));
      });
      forms.push(h("div", { class: "card", "data-evidence": name },
        h("strong", {}, name), kind ? h("span", { class: "muted small" }, ` · ${kind}`) : null,
        text, h("div", { class: "row" }, file, h("span", { class: "grow" }), h("button", { onclick: submit, "data-test": `submit-${name}` }, "Submit evidence"))));
    }
    for (const [name, items] of checklists) {
      const boxes = items.map((item) => h("label", { class: "row small" }, h("input", { type: "checkbox", value: item, "data-test": `check-${name}`, "data-keep": `check-${name}-${item}` }), item));
      const submit = action(async () => {
        const ticked = boxes.map((b) => b.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
        if (!ticked.length) throw new Error(`${name}: tick the items done first`);
        await send(api(RT, `${path}/evidence`, { method: "POST", body: { name, value: ticked } }));
      });
      forms.push(h("div", { class: "card", "data-evidence": name }, h("strong", {}, name), h("span", { class: "muted small" }, " · checklist"),
        boxes, h("div", { class: "row" }, h("span", { class: "grow" }), h("button", { onclick: submit, "data-test": `submit-${name}` }, "Submit checklist"))));
    }
  } else if (plain.length || checklists.size) {
    forms.push(h("p", { class: "muted" }, `Evidence (${[...plain, ...checklists.keys()].join(", ")}): someone whose role grants 'operate' submits it.`));
  }
  if (gate && !may.has("approve")) {
    forms.push(h("p", { class: "muted", "data-test": "needs-approver" }, `${gate}: someone whose role grants 'approve' decides.`));
  } else if (gate) {
    // The approver is the signed-in user with the token's roles: nothing to choose, nobody to name.
    const mine = run.requested_by === token.claims()?.sub;
    const approve = action(() => send(api(RT, `${path}/approvals`, { method: "POST", body: {} })));
    const reason = h("input", { class: "grow", "data-test": "reject-reason", "data-keep": "reject-reason", placeholder: "why not (required to reject)" });
    const reject = action(async () => {
      if (!reason.value.trim()) {
        reason.focus();
        throw new Error("A rejection needs a reason the requester can act on.");
      }
      await send(api(RT, `${path}/reject`, { method: "POST", body: { reason: reason.value.trim() } }));
    });
    forms.push(h("div", { class: "card", "data-test": "gate" },
      h("div", { class: "row" }, h("strong", { class: "grow" }, gate),
        mine ? h("span", { class: "muted", "data-test": "own-run" }, "You requested this run: someone else approves it (four eyes).")
          : h("button", { class: "primary", onclick: approve, "data-test": "approve" }, "Approve")),
      h("div", { class: "row" }, reason, h("button", { class: "danger", onclick: reject, "data-test": "reject" }, "Reject"))));
  }
  return forms;
}

async function base64(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

async function sha256(file) {
  if (!crypto?.subtle) return null; // only in a secure context (https or localhost)
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// Attachments stored so far, with the sha256 the service computed (from the trace).
function attachments(trace, localDigests) {
  const rows = trace.filter((e) => e.event === "attachment");
  if (!rows.length) return null;
  return h("div", { class: "card", "data-test": "attachments" }, h("strong", {}, "Attachments"),
    rows.map((a) => {
      const local = localDigests.get(a.name);
      return h("div", { class: "small", "data-attachment": a.name },
        `${a.step_id} · ${a.name}: ${a.filename} (${a.size} bytes) · sha256 `, h("code", { "data-test": "sha256" }, a.sha256),
        local ? h("span", { class: local === a.sha256 ? "ok" : "bad" }, local === a.sha256 ? " ✓ matches the file sent" : " ✗ differs from the file sent") : null);
    }));
}

const short = (text) => (text.length > 72 ? `${text.slice(0, 72)}…` : text);

function traceList(events) {
  if (!events.length) return h("p", { class: "muted" }, "No trace events yet.");
  return h(
    "ol",
    { class: "timeline", "data-test": "trace" },
    events.map((e) => {
      const { event, at, run_id, mode, step_id, result, ...rest } = e;
      const step = step_id ?? result?.step_id;
      const extra = Object.entries(rest)
        .filter(([, v]) => v !== null && v !== "" && (typeof v !== "object" || Array.isArray(v)))
        .map(([k, v]) => `${k}: ${short(Array.isArray(v) ? v.join(", ") : String(v))}`);
      if (result?.error) extra.push(result.error);
      return h(
        "li",
        { class: step ? "marked" : "", "data-event": event },
        h("span", { class: "what" }, event || "event"),
        step ? h("span", {}, " · ", step) : null,
        result ? [" ", badge(result.status), h("span", { class: "muted" }, ` by ${result.actor}`)] : null,
        h("span", { class: "muted" }, "  ", when(at)),
        extra.length ? h("div", { class: "muted" }, extra.join(" · ")) : null,
      );
    }),
  );
}

// Values typed, ticked or chosen but not sent survive a re-render (a live update may land while
// someone types or picks a file; a file input cannot be given a path, but it can take the FileList).
function keepInputs(root, render) {
  const read = (el) => (el.type === "checkbox" ? el.checked : el.type === "file" ? el.files : el.value);
  const kept = new Map([...root.querySelectorAll("[data-keep]")].map((el) => [el.dataset.keep, read(el)]));
  render();
  for (const el of root.querySelectorAll("[data-keep]")) {
    if (!kept.has(el.dataset.keep)) continue;
    const value = kept.get(el.dataset.keep);
    if (el.type === "checkbox") el.checked = value;
    else if (el.type === "file") { if (value?.length) el.files = value; }
    else el.value = value;
  }
}

async function runDetail(view, runId) {
  const path = `/v1/runs/${encodeURIComponent(runId)}`;
  const ctx = { run: null, trace: [], traceError: null, may: null, live: "connecting", localDigests: new Map(), confirmCancel: false };
  const root = h("div", { "data-test": "run", "data-run": runId });
  const alive = () => root.isConnected;
  let wake = null; // restarts the live loop after a user action on an ended run

  const render = () => {
    ctx.sig = signature(ctx);
    keepInputs(root, () => fill(root, runBody(ctx)));
  };
  ctx.render = render;
  const fetchAll = async () => {
    const [run, trace] = await Promise.all([api(RT, path), api(RT, `${path}/trace`).catch((err) => err)]);
    ctx.run = run;
    if (trace instanceof Error) ctx.traceError = trace;
    else {
      ctx.trace = trace;
      ctx.traceError = null;
    }
  };
  // An action's answer is the run (or {run, results}): show it at once, then re-read the trace.
  ctx.send = async (promise) => {
    const out = await promise;
    ctx.confirmCancel = false;
    await fetchAll();
    render();
    if (wake) wake();
    return out;
  };
  ctx.may = await permissions(RT);
  await fetchAll();
  fill(view, root);
  render();

  // Live: the event stream, else polling. Both stop when the page is left or the run has ended.
  // An open stream ends when the page is left (else the fetch would stay open on a waiting run).
  const leaving = new AbortController();
  window.addEventListener("hashchange", () => leaving.abort(), { once: true });
  const follow = async () => {
    let lastId = ctx.trace.length ? ctx.trace.length - 1 : null;
    for (let failures = 0; alive() && failures < 5; ) {
      try {
        let ended = false;
        await stream(RT, `${path}/events`, {
          lastId,
          signal: leaving.signal,
          onOpen: () => {
            ctx.live = "stream";
            if (alive()) render();
          },
          onEvent: (e) => {
            if (!alive()) return;
            if (e.event === "end") {
              ended = true;
              return;
            }
            const data = JSON.parse(e.data);
            if (e.event === "status") {
              ctx.run = { ...ctx.run, status: data.status, current_step: data.current_step ?? ctx.run.current_step };
              ctx.refetch = true;
            } else {
              const index = Number(e.id);
              if (Number.isInteger(index) && index < ctx.trace.length) return; // seen before a reconnect
              ctx.trace = [...ctx.trace, data];
              if (Number.isInteger(index)) lastId = index;
              ctx.refetch = ctx.refetch || ["step_result", "waiting", "approval", "evidence_submitted", "attachment"].includes(data.event);
            }
            ctx.live = "stream";
            scheduleRender();
          },
        });
        if (ended) {
          await fetchAll();
          ctx.live = "ended";
          render();
          return "ended";
        }
        // Closed without `end`: done if the run has ended, else resume after the last event seen.
        await fetchAll();
        if (ENDED.includes(ctx.run.status)) {
          ctx.live = "ended";
          render();
          return "ended";
        }
        failures = 0;
        await sleep(500);
      } catch (err) {
        if (err.status === 404 || err.status === 405) return "absent";
        if (err.name === "AbortError") return "ended";
        failures += 1;
        ctx.live = `reconnecting (${err.message})`;
        render();
        await sleep(1000 * failures);
      }
    }
    return alive() ? "absent" : "ended";
  };
  let pending = null;
  const scheduleRender = () => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      if (ctx.refetch) {
        ctx.refetch = false;
        ctx.run = await api(RT, path).catch(() => ctx.run);
      }
      if (alive()) render();
    }, 50);
  };
  const poll = async () => {
    ctx.live = `polling every ${POLL_MS() / 1000} s`;
    render();
    while (alive() && !ENDED.includes(ctx.run.status)) {
      await sleep(POLL_MS());
      if (!alive()) return;
      try {
        await fetchAll();
        ctx.live = `polling every ${POLL_MS() / 1000} s`;
      } catch (err) {
        ctx.live = `polling: ${err.message}`;
      }
      if (signature(ctx) !== ctx.sig) render();
    }
    ctx.live = "ended";
    if (alive()) render();
  };
  let running = false;
  const loop = async () => {
    if (running) return;
    running = true;
    try {
      if (!ENDED.includes(ctx.run.status)) {
        const how = await follow();
        if (how === "absent") await poll();
      } else {
        ctx.live = "ended";
        render();
      }
    } finally {
      running = false;
    }
  };
  wake = () => {
    if (!ENDED.includes(ctx.run.status)) loop();
  };
  loop();
}

const sleep = (millis) => new Promise((resolve) => setTimeout(resolve, millis));
const signature = (ctx) => JSON.stringify([ctx.run.status, ctx.run.updated_at, ctx.run.waiting_for, ctx.trace.length]);

function runBody(ctx) {
  const { run, trace, may } = ctx;
  const path = `/v1/runs/${encodeURIComponent(run.run_id)}`;
  const open = !ENDED.includes(run.status);
  const advance = (how) => action(() => ctx.send(api(RT, `${path}/${how}`, { method: "POST" })));
  const reason = h("input", { class: "grow", "data-test": "cancel-reason", "data-keep": "cancel-reason", placeholder: "why (optional)" });
  const cancel = action(() => ctx.send(api(RT, `${path}/cancel`, { method: "POST", body: reason.value.trim() ? { reason: reason.value.trim() } : {} })));
  const confirmBox = ctx.confirmCancel
    ? h("div", { class: "card warning", "data-test": "cancel-confirm" },
        h("strong", {}, "Cancel this run for good? "), "Steps already done stay done; nothing more runs.",
        h("div", { class: "row" }, reason,
          h("button", { class: "danger", onclick: cancel, "data-test": "confirm-cancel" }, "Yes, cancel the run"),
          h("button", { onclick: () => { ctx.confirmCancel = false; ctx.render(); }, "data-test": "keep-run" }, "No")))
    : null;
  const timeline = stepTimeline(trace, run);
  return [
    h("p", {}, h("a", { href: "#/runs" }, "← all runs")),
    h("div", { class: "row" },
      h("h1", { class: "grow" }, "Run ", h("code", {}, run.run_id), " ", h("span", { "data-test": "run-status" }, badge(run.status))),
      h("span", { class: "muted small", "data-test": "live", "data-live": ctx.live }, open ? `● live: ${ctx.live}` : "ended")),
    h("p", { class: "muted" }, `${run.replay ? "replay (not an execution)" : run.mode} · requested by ${run.requested_by} · ${when(run.created_at)}`,
      run.playbook_id ? ` · playbook ${run.playbook_id} v${run.playbook_version ?? "?"}` : ""),
    run.end_reason ? h("div", { class: "note", "data-test": "end-reason" }, `${run.status} by ${run.ended_by}: ${run.end_reason}`) : null,
    h("div", { class: "card" }, h("h2", {}, "Timeline"),
      timeline ?? h("p", { class: "muted", "data-test": "no-timeline" }, run.mode === "dry-run" ? "A dry-run executes nothing: see its plan below." : "No step has run yet.")),
    h("div", { class: "grid2" },
      h("div", {},
        h("h2", {}, "Steps"),
        h("ol", { class: "steps", "data-test": "steps" },
          stepRows(run).map((s) =>
            h("li", { class: s.current ? "current" : "", "data-step": s.id, "data-status": s.status },
              badge(s.status),
              h("div", { class: "grow" },
                h("strong", {}, s.id),
                s.actor ? h("span", { class: "muted" }, ` · ${s.actor}`) : null,
                s.error ? h("div", { class: "muted small" }, s.error) : null,
                planLine(s.plan),
                stepOutput(s.result))))),
        run.waiting_for.length ? [h("h2", {}, "Waiting for"), waitingForms(ctx)] : null,
        attachments(trace, ctx.localDigests),
        open && may.has("operate") && run.mode !== "dry-run"
          ? h("p", { class: "row" },
              h("button", { onclick: advance("next"), "data-test": "next" }, "Next step"),
              h("button", { class: "primary", onclick: advance("continue"), "data-test": "continue" }, "Continue"),
              h("span", { class: "grow" }),
              h("button", { class: "danger", "data-test": "cancel", onclick: () => { ctx.confirmCancel = true; ctx.render(); } }, "Cancel run…"))
          : null,
        confirmBox,
      ),
      h("div", {}, h("h2", {}, "Trace"), ctx.traceError ? errorBox(ctx.traceError) : traceList(trace)),
    ),
  ];
}
