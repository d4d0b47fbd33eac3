// Runs (runbook-runtime): the org's runs, one run's steps, evidence for manual steps, approval, trace.
import { api, token } from "../api.js";
import { h, badge, action, when, errorBox } from "../ui.js";

const RT = "runbook-runtime";

export async function runsPage(view, [runId]) {
  return runId ? runDetail(view, runId) : runList(view);
}

async function runList(view) {
  const runs = await api(RT, "/v1/runs?limit=50");
  const doc = h("textarea", { "data-test": "runbook", placeholder: '{"apiVersion": "runbook/v0", "meta": {...}, "steps": [...]}' });
  const mode = h("select", { "data-test": "mode" }, ["real", "dry-run"].map((m) => h("option", { value: m }, m)));
  const start = action(async () => {
    let runbook;
    try {
      runbook = JSON.parse(doc.value);
    } catch (err) {
      throw new Error(`the runbook is not valid JSON: ${err.message}`);
    }
    const run = await api(RT, "/v1/runs", { method: "POST", body: { runbook, mode: mode.value, start: mode.value === "real" } });
    location.hash = `#/runs/${encodeURIComponent(run.run_id)}`;
  });
  view.replaceChildren(
    h("h1", {}, "Runs"),
    h(
      "table",
      { "data-test": "runs" },
      h("tr", {}, ["Run", "Status", "Mode", "Current step", "Playbook", "Updated"].map((t) => h("th", {}, t))),
      runs.length
        ? runs.map((r) =>
            h(
              "tr",
              {},
              h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(r.run_id)}` }, r.run_id)),
              h("td", {}, badge(r.status)),
              h("td", {}, r.mode),
              h("td", {}, r.current_step || ""),
              h("td", {}, r.playbook_id ? `${r.playbook_id} v${r.playbook_version ?? "?"}` : ""),
              h("td", { class: "muted" }, when(r.updated_at)),
            ),
          )
        : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No runs yet.")),
    ),
    h("h2", {}, "Start a run"),
    h("div", { class: "card" }, doc, h("p", { class: "row" }, "Mode", mode, h("button", { class: "primary", onclick: start, "data-test": "start" }, "Start"))),
  );
}

function stepRows(run) {
  // Executed steps from the history, then the current one (with what it still waits for), then the plan's rest.
  const rows = run.history.map((r) => ({ id: r.step_id, status: r.status, actor: r.actor, error: r.error, at: r.ended_at }));
  const seen = new Set(rows.map((r) => r.id));
  if (run.current_step && !seen.has(run.current_step)) {
    rows.push({ id: run.current_step, status: run.status === "waiting" ? "waiting" : "pending", current: true });
    seen.add(run.current_step);
  }
  for (const p of run.plan || []) if (!seen.has(p.step_id)) rows.push({ id: p.step_id, status: "planned", type: p.type });
  return rows;
}

function evidenceForm(run, reload) {
  const items = run.waiting_for.filter((w) => !w.startsWith("approval"));
  const forms = items.map((name) => {
    const text = h("textarea", { rows: 2, "data-test": `evidence-${name}`, placeholder: "text, or one checklist item per line" });
    const file = h("input", { type: "file", "data-test": `file-${name}` });
    const send = action(async () => {
      let body;
      if (file.files.length) {
        const bytes = new Uint8Array(await file.files[0].arrayBuffer());
        let bin = "";
        for (const b of bytes) bin += String.fromCharCode(b);
        body = { name, filename: file.files[0].name, content_base64: btoa(bin) };
      } else {
        const lines = text.value.split("\n").map((l) => l.trim()).filter(Boolean);
        body = { name, value: lines.length > 1 ? lines : text.value };
      }
      await api(RT, `/v1/runs/${encodeURIComponent(run.run_id)}/evidence`, { method: "POST", body });
      await reload();
    });
    return h("div", { class: "card" }, h("strong", {}, name), text, h("div", { class: "row" }, file, h("span", { class: "grow" }), h("button", { onclick: send, "data-test": `submit-${name}` }, "Submit evidence")));
  });
  const needsApproval = run.waiting_for.find((w) => w.startsWith("approval"));
  if (needsApproval) {
    // The approver is the signed-in user with the token's roles: nothing to choose, nobody to name.
    const approve = action(async () => {
      await api(RT, `/v1/runs/${encodeURIComponent(run.run_id)}/approvals`, { method: "POST", body: {} });
      await reload();
    });
    const reason = h("input", { "data-test": "reject-reason", placeholder: "why not (required to reject)" });
    const reject = action(async () => {
      await api(RT, `/v1/runs/${encodeURIComponent(run.run_id)}/reject`, { method: "POST", body: { reason: reason.value } });
      await reload();
    });
    forms.push(h("div", { class: "card row" }, h("strong", {}, needsApproval), h("span", { class: "grow" }),
      h("button", { class: "primary", onclick: approve, "data-test": "approve" }, "Approve"),
      reason, h("button", { onclick: reject, "data-test": "reject" }, "Reject")));
  }
  return forms;
}

const short = (text) => (text.length > 72 ? `${text.slice(0, 72)}…` : text);

function traceTimeline(events) {
  if (!events.length) return h("p", { class: "muted" }, "No trace events yet.");
  return h(
    "ol",
    { class: "timeline", "data-test": "trace" },
    events.map((e) => {
      const { event, at, run_id, step_id, result, ...rest } = e;
      const step = step_id ?? result?.step_id;
      const extra = Object.entries(rest)
        .filter(([, v]) => v !== null && v !== "" && (typeof v !== "object" || Array.isArray(v)))
        .map(([k, v]) => `${k}: ${short(Array.isArray(v) ? v.join(", ") : String(v))}`);
      if (result?.error) extra.push(result.error);
      return h(
        "li",
        { class: step ? "marked" : "" },
        h("span", { class: "what" }, event || "event"),
        step ? h("span", {}, " · ", step) : null,
        result ? [" ", badge(result.status), h("span", { class: "muted" }, ` by ${result.actor}`)] : null,
        h("span", { class: "muted" }, "  ", when(at)),
        extra.length ? h("div", { class: "muted" }, extra.join(" · ")) : null,
      );
    }),
  );
}

async function runDetail(view, runId) {
  const path = `/v1/runs/${encodeURIComponent(runId)}`;
  const reload = async () => {
    const [run, trace] = await Promise.all([api(RT, path), api(RT, `${path}/trace`).catch((err) => err)]);
    const advance = (how) =>
      action(async () => {
        await api(RT, `${path}/${how}`, { method: "POST" });
        await reload();
      });
    const open = !["passed", "failed", "planned", "cancelled", "rejected"].includes(run.status);
    view.replaceChildren(
      h("p", {}, h("a", { href: "#/runs" }, "← all runs")),
      h("h1", {}, "Run ", h("code", {}, run.run_id), " ", badge(run.status)),
      h("p", { class: "muted" }, `${run.replay ? "replay (not an execution)" : run.mode} · requested by ${run.requested_by} · ${when(run.created_at)}`,
        run.playbook_id ? ` · playbook ${run.playbook_id} v${run.playbook_version ?? "?"}` : ""),
      h("div", { class: "grid2" },
        h("div", {},
          h("h2", {}, "Steps"),
          h("ol", { class: "steps", "data-test": "steps" },
            stepRows(run).map((s) =>
              h("li", { class: s.current ? "current" : "", "data-step": s.id },
                badge(s.status), h("strong", {}, s.id),
                s.actor ? h("span", { class: "muted" }, s.actor) : null,
                s.error ? h("span", { class: "muted" }, s.error) : null),
            ),
          ),
          run.waiting_for.length ? [h("h2", {}, "Waiting for"), evidenceForm(run, reload)] : null,
          open ? h("p", { class: "row" },
            h("button", { onclick: advance("next"), "data-test": "next" }, "Next step"),
            h("button", { class: "primary", onclick: advance("continue"), "data-test": "continue" }, "Continue"),
            h("button", { onclick: advance("cancel"), "data-test": "cancel" }, "Cancel run")) : null,
          run.end_reason ? h("p", { class: "muted", "data-test": "end-reason" }, `${run.status} by ${run.ended_by}: ${run.end_reason}`) : null,
        ),
        h("div", {}, h("h2", {}, "Trace"), trace instanceof Error ? errorBox(trace) : traceTimeline(trace)),
      ),
    );
    view.dataset.ready = "run";
  };
  await reload();
}
