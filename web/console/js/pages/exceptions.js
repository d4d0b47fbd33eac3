// Exceptions (exception-playbook): the newest exceptions, and one exception's Recommended Playbook panel
// (steps, the current one highlighted, Mark completed / Skip, Recalculate) beside its timeline.
import { api, listOf, permissions, token } from "../api.js";
import { h, badge, action, allowed, when, errorBox, flash } from "../ui.js";

const EP = "exception-playbook";

export async function exceptionsPage(view, [exceptionId]) {
  const input = h("input", { "data-test": "exception-id", placeholder: "exception id or upstream id", value: exceptionId || "", size: 40 });
  const go = (event) => {
    event.preventDefault();
    if (input.value.trim()) location.hash = `#/exceptions/${encodeURIComponent(input.value.trim())}`;
  };
  const picker = h("form", { class: "row", onsubmit: go }, input, h("button", { type: "submit" }, "Open"));
  if (!exceptionId) {
    const list = h("div", { "data-test": "exceptions" }, h("p", { class: "muted" }, "Loading…"));
    view.replaceChildren(h("h1", {}, "Exceptions"), h("div", { class: "card" }, picker), list);
    try {
      list.replaceChildren(exceptionTable(listOf(await api(EP, "/api/exceptions?limit=50"), "exceptions")));
    } catch (err) {
      list.replaceChildren(errorBox(err));
    }
    return;
  }
  const body = h("div", {});
  view.replaceChildren(h("p", {}, h("a", { href: "#/exceptions" }, "← all exceptions")), body);
  await exceptionDetail(body, exceptionId);
}

function exceptionTable(items) {
  return h(
    "table",
    {},
    h("tr", {}, ["Exception", "Domain", "Severity", "Status", "Step", "Updated"].map((t) => h("th", {}, t))),
    items.length
      ? items.map((e) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/exceptions/${encodeURIComponent(e.id)}` }, e.summary || e.exception_type),
              e.external_id ? h("div", { class: "muted small" }, e.external_id) : null),
            h("td", {}, e.domain, h("div", { class: "muted small" }, e.exception_type)),
            h("td", {}, badge(e.severity)),
            h("td", {}, badge(e.status)),
            h("td", {}, e.current_step ?? (e.playbook_completed_at ? "done" : "")),
            h("td", { class: "muted" }, when(e.updated_at)),
          ),
        )
      : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No exceptions in this org yet.")),
  );
}

const PLAYBOOK_EVENT = /playbook|step/i;
const isPlaybookEvent = (e) => PLAYBOOK_EVENT.test(e.event_type ?? "");

async function exceptionDetail(root, id) {
  const base = `/api/exceptions/${encodeURIComponent(id)}`;
  const reload = async () => {
    const [exc, playbook, events, may] = await Promise.all([
      api(EP, base),
      api(EP, `${base}/playbook`).catch((err) => err),
      api(EP, `${base}/events`).catch((err) => err),
      permissions(EP),
    ]);
    const step = (order, verb) =>
      action(async (event) => {
        const notes = event.currentTarget.closest("li").querySelector("input[data-test=notes]")?.value.trim() || undefined;
        const body = { notes }; // who acts is the token's, never the body's
        await api(EP, `${base}/playbook/steps/${order}/${verb}`, { method: "POST", body });
        await reload();
      });
    const recalc = action(async () => {
      const result = await api(EP, `${base}/playbook/recalculate`, { method: "POST" });
      await reload();
      flash(result.changed ? "Recalculated: the recommendation changed." : "Recalculated: nothing changed.", "note");
    });
    root.replaceChildren(
      h("h1", {}, exc.summary || `${exc.domain} · ${exc.exception_type}`, " ", badge(exc.status)),
      h("div", { class: "card", "data-test": "exception" },
        h("div", { class: "facts" },
          fact("Status", badge(exc.status)), fact("Domain", exc.domain), fact("Type", exc.exception_type), fact("Severity", badge(exc.severity)),
          fact("Owner", exc.owner || "unassigned"), fact("SLA", exc.sla_deadline ? when(exc.sla_deadline) : "none"),
          fact("Tags", exc.policy_tags?.length ? exc.policy_tags.join(", ") : "none"),
          exc.external_id ? fact("Upstream id", exc.external_id) : null, fact("Id", h("code", {}, exc.id)))),
      h("div", { class: "grid2" },
        h("div", { class: "card", "data-test": "playbook-panel" },
          h("div", { class: "row" }, h("h2", { class: "grow" }, "Recommended Playbook"),
            allowed(may, "operate", h("button", { onclick: recalc, "data-test": "recalculate" }, "Recalculate playbook"))),
          playbook instanceof Error ? errorBox(playbook) : playbookPanel(playbook, may.has("operate") ? step : null)),
        h("div", { class: "card" }, h("h2", {}, "Timeline"),
          events instanceof Error ? errorBox(events) : timeline(listOf(events, "events")))),
    );
    root.dataset.version = String(exc.version);
  };
  await reload();
}

function fact(label, value) {
  return h("div", {}, h("div", { class: "muted small" }, label), h("div", {}, value));
}

const STATE_TEXT = {
  none: "No playbook matches this exception.",
  not_started: "Not started",
  in_progress: "In progress",
  completed: "Completed",
};

// Seed 001's step states: completed and skipped as the service records them; the current step is
// running when the signed-in person can act on it, blocked when it waits on someone whose role can
// (or on the policy: a risky step is done by a person, never an agent); the rest are pending.
export function stepState(s, pb, step) {
  if (s.status !== "pending") return { status: s.status };
  if (pb.current_step !== s.step_order || pb.state === "completed") return { status: "pending" };
  if (!step) return { status: "blocked", why: "waiting on someone whose role grants 'operate'" };
  if (s.risky && (token.claims()?.roles || []).includes("agent")) return { status: "blocked", why: "risky: the policy has a person do it" };
  return { status: "running" };
}

function playbookPanel(pb, step) {
  if (!pb.playbook_id) {
    return h("div", { "data-test": "no-playbook" }, h("p", {}, STATE_TEXT.none), pb.reasoning ? h("p", { class: "muted" }, pb.reasoning) : null);
  }
  const current = pb.current_step;
  return h(
    "div",
    {},
    h("p", { class: "row" },
      h("strong", { "data-test": "playbook-name" }, pb.name ?? pb.playbook_id),
      h("span", { class: "badge", "data-test": "playbook-version" }, `v${pb.version ?? "?"}`),
      h("span", { class: "grow" }),
      h("span", { class: "muted", "data-test": "playbook-state" }, STATE_TEXT[pb.state] ?? pb.state)),
    pb.reasoning ? h("p", { class: "muted small", "data-test": "reasoning" }, pb.reasoning) : null,
    h(
      "ol",
      { class: "steps", "data-test": "steps" },
      (pb.steps || []).map((s) => {
        const isCurrent = current === s.step_order && s.status === "pending";
        const state = stepState(s, pb, step);
        return h(
          "li",
          { class: isCurrent ? "current" : "", "data-step": s.step_order, "data-status": s.status, "data-state": state.status },
          badge(state.status),
          h("div", { class: "grow" },
            h("strong", {}, `${s.step_order}. ${s.name}`),
            h("div", { class: "muted small" }, h("code", {}, s.action_type), s.risky ? " · risky: a person must do it" : "",
              s.actor_id ? [" · ", h("span", { class: "tag", "data-test": "actor-type" }, s.actor_type ?? "?"), ` ${s.status} by ${s.actor_id}`] : "",
              s.at ? ` · ${when(s.at)}` : "", state.why ? h("div", { "data-test": "blocked-why" }, state.why) : null),
            isCurrent && step
              ? h("div", { class: "row", style: "margin-top:6px" },
                  h("input", { "data-test": "notes", placeholder: "notes (optional)", class: "grow" }),
                  h("button", { class: "primary", onclick: step(s.step_order, "complete"), "data-test": "complete" }, "Mark completed"),
                  s.skippable ? h("button", { onclick: step(s.step_order, "skip"), "data-test": "skip" }, "Skip") : null)
              : null),
        );
      }),
    ),
  );
}

// What an event's payload says beyond its type, in a line.
function eventDetail(e) {
  const p = e.payload || {};
  const parts = [];
  if (p.step_id && p.name) parts.push(`step ${p.step_order}: ${p.name}`);
  else if (p.name && p.version !== undefined) parts.push(`${p.name} v${p.version}`);
  if (p.action_type) parts.push(p.action_type);
  for (const key of ["notes", "error", "reason", "status_unchanged"]) if (typeof p[key] === "string" && p[key]) parts.push(p[key]);
  if (p.changes && typeof p.changes === "object") parts.push(`changed ${Object.keys(p.changes).join(", ")}`);
  const text = parts.join(" · ");
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

function timeline(events) {
  if (!events.length) return h("p", { class: "muted" }, "No events yet.");
  return h(
    "ol",
    { class: "timeline", "data-test": "timeline" },
    events.map((e) => {
      const marked = isPlaybookEvent(e);
      const detail = eventDetail(e);
      return h(
        "li",
        { class: marked ? "marked" : "", "data-event": e.event_type },
        h("span", { class: "what" }, e.event_type),
        marked ? [" ", h("span", { class: "tag", "data-test": "playbook-badge" }, "playbook")] : null,
        /skip/i.test(e.event_type) ? [" ", badge("skipped")] : /complet/i.test(e.event_type) ? [" ", badge("completed")] : null,
        h("span", { class: "muted" }, "  ", when(e.created_at)),
        e.actor_id ? h("div", { class: "muted small" }, `by ${e.actor_type ?? ""} ${e.actor_id}`) : null,
        detail ? h("div", { class: "small" }, detail) : null,
      );
    }),
  );
}
