// Playbooks (condition-engine): list, activate/deactivate, dry-run modal, recent runs, insights.
import { api, listOf } from "../api.js";
import { h, badge, action, when, pretty, bars, openModal, errorBox } from "../ui.js";

const CE = "condition-engine";
const RUN_STATUSES = ["", "success", "failed", "skipped"];
const CATEGORIES = ["contracts", "decks", "accounts"];

export async function playbooksPage(view) {
  const section = (title, test) => {
    const body = h("div", { "data-test": test }, h("p", { class: "muted" }, "Loading…"));
    return [h("h2", {}, title), body];
  };
  const [pbTitle, pbBody] = section("Playbooks", "playbooks");
  const [runsTitle, runsBody] = section("Recent runs", "playbook-runs");
  const [insTitle, insBody] = section("Insights", "insights");
  view.replaceChildren(h("h1", {}, "Playbooks"), pbTitle, pbBody, runsTitle, runsBody, insTitle, insBody);
  // Each section fails on its own: an error in one never blanks the others.
  const fill = async (el, build) => {
    try {
      el.replaceChildren(await build());
    } catch (err) {
      el.replaceChildren(errorBox(err));
    }
  };
  const reloadPlaybooks = () => fill(pbBody, () => playbookTable(reloadPlaybooks));
  await Promise.all([reloadPlaybooks(), fill(runsBody, () => runsSection()), fill(insBody, () => insightsSection("7d"))]);
}

function isActive(pb) {
  return pb.active ?? pb.is_active ?? pb.enabled ?? pb.status === "active";
}

async function playbookTable(reload) {
  const playbooks = listOf(await api(CE, "/api/playbooks"), "playbooks");
  const toggle = (pb) =>
    action(async () => {
      await api(CE, `/api/playbooks/${encodeURIComponent(pb.id)}/${isActive(pb) ? "deactivate" : "activate"}`, { method: "POST" });
      await reload();
    });
  return h(
    "table",
    {},
    h("tr", {}, ["Name", "Trigger", "Category", "Status", ""].map((t) => h("th", {}, t))),
    playbooks.length
      ? playbooks.map((pb) =>
          h(
            "tr",
            { "data-playbook": pb.id },
            h("td", {}, h("strong", {}, pb.name), pb.description ? h("div", { class: "muted" }, pb.description) : null),
            h("td", {}, pb.trigger?.type ?? pb.trigger ?? pb.trigger_type ?? ""),
            h("td", {}, pb.category ?? ""),
            h("td", {}, badge(isActive(pb) ? "active" : "inactive")),
            h(
              "td",
              { class: "row" },
              h("button", { onclick: () => dryRun(pb), "data-test": "dry-run" }, "Dry-run"),
              h("button", { onclick: toggle(pb), "data-test": "toggle" }, isActive(pb) ? "Deactivate" : "Activate"),
            ),
          ),
        )
      : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No playbooks in this org yet.")),
  );
}

function dryRunResult(result) {
  const conditions = result.conditions || [];
  const actions = result.actions || [];
  return h(
    "div",
    { "data-test": "dry-run-result" },
    h("h2", {}, "Sample event"),
    pretty(result.sampleEvent ?? result.sample_event ?? result.event ?? {}),
    h("h2", {}, "Conditions"),
    conditions.length
      ? h(
          "ol",
          { class: "steps", "data-test": "conditions" },
          conditions.map((c) =>
            h("li", {}, badge(c.passed ? "passed" : "failed", c.passed ? "Passed" : "Failed"),
              h("code", {}, c.field ?? c.condition ?? c.expression ?? ""), h("span", {}, c.message ?? "")),
          ),
        )
      : h("p", { class: "muted" }, "The playbook has no conditions: every matching event runs it."),
    h("h2", {}, "Actions that would run"),
    actions.length
      ? h("ol", { class: "steps", "data-test": "actions" },
          actions.map((a) => h("li", {}, h("strong", {}, a.type ?? a.action ?? "action"), h("code", { class: "muted" }, JSON.stringify(a.params ?? a.config ?? a.with ?? {})))))
      : h("p", { class: "note", "data-test": "no-actions" }, result.reason ?? result.actionsReason ?? result.actions_reason ?? "No action would run."),
  );
}

async function dryRun(pb) {
  const out = h("div", {}, h("p", { class: "muted" }, "Running…"));
  const own = h("textarea", { "data-test": "own-event", placeholder: "Paste an event (JSON) to dry-run it instead" });
  const path = `/api/playbooks/${encodeURIComponent(pb.id)}/dry-run`;
  const show = async (promise) => {
    try {
      out.replaceChildren(dryRunResult(await promise));
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  };
  const runOwn = action(async () => {
    let event;
    try {
      event = JSON.parse(own.value);
    } catch (err) {
      out.replaceChildren(errorBox(new Error(`the event is not valid JSON: ${err.message}`)));
      return;
    }
    await show(api(CE, path, { method: "POST", body: event }));
  });
  openModal(h("h1", {}, `Dry-run: ${pb.name}`), out, h("h2", {}, "Your own event"), own,
    h("p", {}, h("button", { class: "primary", onclick: runOwn, "data-test": "dry-run-own" }, "Dry-run this event")));
  await show(api(CE, path));
}

async function runsSection(status = "") {
  const box = h("div", {});
  const filter = h("select", { "data-test": "status-filter" }, RUN_STATUSES.map((s) => h("option", { value: s }, s || "all statuses")));
  filter.value = status;
  const load = async () => {
    const query = filter.value ? `?status=${encodeURIComponent(filter.value)}` : "";
    try {
      const runs = listOf(await api(CE, `/api/playbook-runs${query}`), "runs");
      box.replaceChildren(
        h("table", {},
          h("tr", {}, ["When", "Playbook", "Status", "Event", "Message"].map((t) => h("th", {}, t))),
          runs.length
            ? runs.map((r) => h("tr", {}, h("td", { class: "muted" }, when(r.created_at ?? r.started_at)),
                h("td", {}, r.playbook_name ?? r.playbook_id ?? ""), h("td", {}, badge(r.status)),
                h("td", {}, r.event_id ?? r.trigger_id ?? ""), h("td", {}, r.error ?? r.message ?? "")))
            : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No runs match."))));
    } catch (err) {
      box.replaceChildren(errorBox(err));
    }
  };
  filter.addEventListener("change", load);
  await load();
  return h("div", {}, h("p", { class: "row" }, "Status", filter), box);
}

// Counts by status of one category, whatever nesting the service uses.
function countsOf(node) {
  const counts = node?.runs_by_status ?? node?.runsByStatus ?? node?.by_status ?? node?.runs ?? node;
  return counts && typeof counts === "object" ? Object.entries(counts).filter(([, v]) => typeof v === "number") : [];
}

async function insightsSection(window) {
  const data = await api(CE, `/api/insights/playbooks?window=${window}`);
  const categories = data.categories ?? data.by_category ?? data;
  return h(
    "div",
    { class: "grid2" },
    CATEGORIES.map((cat) => {
      const node = Array.isArray(categories) ? categories.find((c) => c.category === cat) : categories?.[cat];
      const rows = countsOf(node).map(([s, n]) => [s, n, s]);
      return h("div", { class: "card", "data-test": `insight-${cat}` }, h("strong", {}, cat),
        h("span", { class: "muted" }, ` · last ${window}`), rows.length ? bars(rows) : h("p", { class: "muted" }, "No runs in this window."));
    }),
  );
}
