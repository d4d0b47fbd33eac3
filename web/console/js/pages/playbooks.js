// Playbooks (condition-engine): the org's playbooks and the templates, activate/deactivate, the dry-run
// modal, recent runs with a status filter, and the insights per category. Responses are camelCase.
import { api, listOf, permissions } from "../api.js";
import { h, badge, action, allowed, when, pretty, bars, openModal, errorBox, flash } from "../ui.js";

const CE = "condition-engine";
const RUN_STATUSES = ["", "pending", "success", "failed", "skipped"];
const CATEGORIES = ["contracts", "decks", "accounts"];
const COUNTS = ["success", "failed", "skipped", "pending"];

export async function playbooksPage(view) {
  const section = (title, test) => {
    const body = h("div", { "data-test": test }, h("p", { class: "muted" }, "Loading…"));
    return [h("h2", {}, title), body];
  };
  const [pbTitle, pbBody] = section("Playbooks", "playbooks");
  const [tplTitle, tplBody] = section("Templates", "templates");
  const [runsTitle, runsBody] = section("Recent runs", "playbook-runs");
  const [insTitle, insBody] = section("Insights", "insights");
  view.replaceChildren(h("h1", {}, "Playbooks"), pbTitle, pbBody, tplTitle, tplBody, runsTitle, runsBody, insTitle, insBody);
  // Each section fails on its own: an error in one never blanks the others.
  const fill = async (el, build) => {
    try {
      el.replaceChildren(await build());
    } catch (err) {
      el.replaceChildren(errorBox(err));
    }
  };
  // The playbook names, for the runs table (runs carry only the playbook's id).
  const names = new Map();
  const reloadPlaybooks = async () => {
    await fill(pbBody, () => playbookTable(names, reloadPlaybooks));
  };
  await Promise.all([
    reloadPlaybooks(),
    fill(tplBody, () => templateTable(reloadPlaybooks)),
    fill(insBody, () => insightsSection()),
  ]);
  await fill(runsBody, () => runsSection(names));
}

const isActive = (pb) => pb.status === "active";

function conditionText(c) {
  return c && typeof c === "object" ? `${c.field} ${c.op} ${JSON.stringify(c.value)}` : String(c);
}

async function playbookTable(names, reload) {
  const [playbooks, may] = await Promise.all([api(CE, "/api/playbooks").then((d) => listOf(d, "playbooks")), permissions(CE)]);
  for (const pb of playbooks) names.set(pb.id, pb.name);
  const toggle = (pb) =>
    action(async () => {
      await api(CE, `/api/playbooks/${encodeURIComponent(pb.id)}/${isActive(pb) ? "deactivate" : "activate"}`, { method: "POST" });
      await reload();
    });
  return h(
    "table",
    {},
    h("tr", {}, ["Name", "Trigger", "Conditions", "Status", "Last run", ""].map((t) => h("th", {}, t))),
    playbooks.length
      ? playbooks.map((pb) =>
          h(
            "tr",
            { "data-playbook": pb.id },
            h("td", {}, h("strong", {}, pb.name), h("div", { class: "muted" }, `v${pb.version}`, pb.templateKey ? ` · from ${pb.templateKey}` : "")),
            h("td", {}, h("code", {}, pb.trigger)),
            h("td", { class: "small" }, (pb.conditions || []).map((c) => h("div", {}, h("code", {}, conditionText(c))))),
            h("td", {}, badge(pb.status)),
            h("td", { class: "muted" }, pb.lastRunAt ? when(pb.lastRunAt) : "never"),
            h(
              "td",
              {},
              h("div", { class: "row nowrap" },
                allowed(may, "operate", h("button", { onclick: () => dryRun(pb), "data-test": "dry-run" }, "Dry-run")),
                allowed(may, "operate",
                  h("button", { onclick: toggle(pb), "data-test": "toggle" }, isActive(pb) ? "Deactivate" : "Activate"))),
            ),
          ),
        )
      : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No playbooks in this org yet: create one from a template below.")),
  );
}

async function templateTable(reloadPlaybooks) {
  const [templates, may] = await Promise.all([
    api(CE, "/api/playbook-templates").then((d) => listOf(d, "templates")),
    permissions(CE),
  ]);
  const create = (t) =>
    action(async () => {
      const pb = await api(CE, `/api/playbook-templates/${encodeURIComponent(t.key)}/playbooks`, { method: "POST", body: {} });
      await reloadPlaybooks();
      flash(`Created "${pb.name}" (inactive): dry-run it, then activate it.`, "note");
    });
  if (!templates.length) return h("p", { class: "muted" }, "No templates.");
  return h(
    "table",
    {},
    h("tr", {}, ["Template", "Category", "Trigger", ""].map((t) => h("th", {}, t))),
    templates.map((t) =>
      h(
        "tr",
        { "data-template": t.key },
        h("td", {}, h("strong", {}, t.name), h("div", { class: "muted" }, t.description)),
        h("td", {}, t.category),
        h("td", {}, h("code", {}, t.trigger)),
        h("td", {}, allowed(may, "write", h("button", { onclick: create(t), "data-test": "use-template" }, "Create playbook"))),
      ),
    ),
  );
}

function actionItem(a) {
  const publishes = a.publishes || [];
  return h(
    "li",
    { "data-test": "action" },
    h("div", {},
      h("strong", {}, `${(a.index ?? 0) + 1}. ${a.type}`), " ",
      h("code", { class: "muted" }, JSON.stringify(a.params ?? {})),
      publishes.length
        ? h("div", { class: "muted small" }, "publishes ", publishes.map((p, i) => [i ? ", " : "", h("code", {}, p.type), ` on ${p.topic}`]))
        : null),
  );
}

function dryRunResult(result, label) {
  const conditions = result.conditions || [];
  const actions = result.actions || [];
  return h(
    "div",
    { "data-test": "dry-run-result" },
    h("p", { class: "row" },
      "A real run would record ", badge(result.status), h("span", { class: "muted" }, ` · ${result.sideEffects ?? "a dry-run has no side effect"}`)),
    h("h2", {}, label),
    h("div", { "data-test": "sample-event" }, pretty(result.sampleEvent ?? {})),
    h("h2", {}, "Conditions"),
    conditions.length
      ? h(
          "ol",
          { class: "steps", "data-test": "conditions" },
          conditions.map((c) =>
            h(
              "li",
              { "data-test": "condition", "data-passed": String(Boolean(c.passed)) },
              badge(c.passed ? "passed" : "failed", c.passed ? "Passed" : "Failed"),
              h("div", { class: "grow" },
                h("code", {}, conditionText(c)),
                h("div", { class: "muted", "data-test": "condition-message" }, c.message ?? "")),
            ),
          ),
        )
      : h("p", { class: "muted" }, "The playbook has no conditions: every event of its trigger runs it."),
    h("h2", {}, "Actions that would run"),
    actions.length
      ? h("ol", { class: "steps", "data-test": "actions" }, actions.map(actionItem))
      : h("p", { class: "note", "data-test": "no-actions" }, `No action would run: ${result.reason ?? "the conditions do not all pass"}.`),
  );
}

// The body of POST .../dry-run: the pasted event, or a pasted {"event": ..., "depth": n} as it is.
function dryRunBody(parsed) {
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error("the event must be a JSON object, e.g. {\"activity\": {\"type\": \"contract_signed\"}}");
  }
  const keys = Object.keys(parsed);
  const wrapped = keys.includes("event") && keys.every((k) => k === "event" || k === "depth");
  return wrapped ? parsed : { event: parsed };
}

async function dryRun(pb) {
  const out = h("div", {}, h("p", { class: "muted" }, "Running…"));
  const own = h("textarea", { "data-test": "own-event", rows: 8, placeholder: "Paste an event (JSON) to dry-run it instead of the sample" });
  const path = `/api/playbooks/${encodeURIComponent(pb.id)}/dry-run`;
  const show = async (promise, label) => {
    try {
      const result = await promise;
      out.replaceChildren(dryRunResult(result, label));
      return result;
    } catch (err) {
      out.replaceChildren(errorBox(err));
      return null;
    }
  };
  const runOwn = action(async () => {
    let body;
    try {
      body = dryRunBody(JSON.parse(own.value));
    } catch (err) {
      out.replaceChildren(errorBox(new Error(`Not a usable event: ${err.message}`)));
      return;
    }
    out.replaceChildren(h("p", { class: "muted" }, "Running…"));
    await show(api(CE, path, { method: "POST", body }), "Your event");
  });
  openModal(
    h("h1", {}, "Dry-run: ", pb.name),
    h("p", { class: "muted" }, "Trigger ", h("code", {}, pb.trigger), ` · v${pb.version} · `, badge(pb.status)),
    out,
    h("h2", {}, "Your own event"),
    own,
    h("p", {}, h("button", { class: "primary", onclick: runOwn, "data-test": "dry-run-own" }, "Dry-run this event")),
  );
  const sample = await show(api(CE, path), "Sample event (built to pass each condition)");
  // Start the user's own event from the sample: editing one value is the usual what-if.
  if (sample && !own.value) own.value = JSON.stringify(sample.sampleEvent, null, 2);
}

async function runsSection(names) {
  const box = h("div", {});
  const filter = h("select", { "data-test": "status-filter" }, RUN_STATUSES.map((s) => h("option", { value: s }, s || "all statuses")));
  const load = async () => {
    const query = filter.value ? `&status=${encodeURIComponent(filter.value)}` : "";
    box.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    try {
      const runs = listOf(await api(CE, `/api/playbook-runs?limit=25${query}`), "runs");
      box.replaceChildren(
        h("table", {},
          h("tr", {}, ["When", "Playbook", "Status", "Event", "Detail"].map((t) => h("th", {}, t))),
          runs.length
            ? runs.map((r) =>
                h("tr", { "data-run": r.id },
                  h("td", { class: "muted" }, when(r.createdAt)),
                  h("td", {}, names.get(r.playbookId) ?? h("code", {}, r.playbookId)),
                  h("td", {}, badge(r.status)),
                  h("td", {}, h("code", { class: "small" }, r.triggerEvent?.activity?.type ?? r.triggerEvent?.metrics?.pack_type ?? r.eventId)),
                  h("td", { class: "muted" }, r.error ?? r.metrics?.skipReason ?? r.metrics?.failedCondition?.message ?? "")))
            : h("tr", {}, h("td", { colspan: 5, class: "muted" }, filter.value ? `No ${filter.value} runs.` : "No runs yet."))));
    } catch (err) {
      box.replaceChildren(errorBox(err));
    }
  };
  filter.addEventListener("change", load);
  await load();
  return h("div", {}, h("p", { class: "row" }, "Status", filter), box);
}

function categoryCard(cat, node, window) {
  const runs = node?.runs ?? {};
  const rows = COUNTS.map((s) => [s, Number(runs[s] ?? 0), s]);
  return h(
    "div",
    { class: "card", "data-test": `insight-${cat}` },
    h("div", { class: "row" }, h("strong", { class: "grow" }, cat), h("span", { class: "kpi" }, runs.total ?? 0), h("span", { class: "muted" }, "runs")),
    bars(rows),
    h("p", { class: "muted small" }, node?.lastRunAt ? `last run ${when(node.lastRunAt)}` : `no run in the last ${window}`),
  );
}

async function insightsSection() {
  const box = h("div", {});
  const windowSelect = h("select", { "data-test": "insights-window" }, ["7d", "30d"].map((w) => h("option", { value: w }, `last ${w}`)));
  const load = async () => {
    try {
      const data = await api(CE, `/api/insights/playbooks?window=${windowSelect.value}`);
      const categories = data.categories || [];
      box.replaceChildren(
        h("div", { class: "grid3" }, CATEGORIES.map((cat) => categoryCard(cat, categories.find((c) => c.category === cat), data.window))),
      );
    } catch (err) {
      box.replaceChildren(errorBox(err));
    }
  };
  windowSelect.addEventListener("change", load);
  await load();
  return h("div", {}, h("p", { class: "row" }, "Window", windowSelect), box);
}
