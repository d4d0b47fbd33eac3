// Insights over time: runs per day by status for the last 7 or 30 days, for all playbooks, one category
// or one playbook (condition-engine's runs), or for runbook runs (runbook-runtime).
//
// No service answers per-day counts yet: the days are counted here from the runs lists, which are
// read with `since` and cursor pages up to a bound (MAX_RUNS). Past the bound the chart says it is
// partial rather than read without end; condition-engine's own totals are shown beside it.
import { api, listOf, pageOf, query } from "../api.js";
import { h, errorBox, fill } from "../ui.js";
import { bucketByDay, dayChart } from "../charts.js";

const CE = "condition-engine";
const RT = "runbook-runtime";
export const MAX_RUNS = 2000;
const PAGE = 200;
const CE_STATUSES = ["success", "failed", "skipped", "pending"];
const RT_STATUSES = ["passed", "failed", "rejected", "cancelled", "waiting", "running", "planned"];

// Every run since `since`, page after page, up to MAX_RUNS: {items, partial}.
async function readRuns(service, path, params) {
  const items = [];
  let cursor = null;
  for (;;) {
    const data = await api(service, `${path}${query({ ...params, limit: PAGE, cursor })}`);
    const page = pageOf(data, "runs");
    items.push(...page.items);
    if (Array.isArray(data)) return { items, partial: page.items.length >= PAGE, unpaged: true };
    if (!page.next) return { items, partial: false };
    if (items.length >= MAX_RUNS) return { items, partial: true };
    cursor = page.next;
  }
}

export async function insightsPage(view) {
  const source = h("select", { "data-test": "insights-source" },
    h("option", { value: "playbooks" }, "playbook runs (condition-engine)"), h("option", { value: "runbooks" }, "runbook runs (runbook-runtime)"));
  const days = h("select", { "data-test": "insights-days" }, h("option", { value: "7" }, "last 7 days"), h("option", { value: "30" }, "last 30 days"));
  const category = h("select", { "data-test": "insights-category" }, h("option", { value: "" }, "every category"));
  const playbook = h("select", { "data-test": "insights-playbook" }, h("option", { value: "" }, "every playbook"));
  const out = h("div", { "data-test": "insights-out" });
  let playbooks = [];
  try {
    playbooks = listOf(await api(CE, "/api/playbooks"), "playbooks");
    playbook.append(...playbooks.map((p) => h("option", { value: p.id }, p.name)));
  } catch (err) {
    fill(out, errorBox(err)); // the picker stays empty; the chart below still tries
  }
  let generation = 0; // a slower answer to an older choice never overwrites a newer one
  const load = async () => {
    const mine = ++generation;
    const n = Number(days.value);
    const since = new Date(Date.now() - n * 86400000);
    since.setUTCHours(0, 0, 0, 0);
    fill(out, h("p", { class: "muted" }, "Loading…"));
    const ce = source.value === "playbooks";
    category.disabled = !ce;
    playbook.disabled = !ce;
    try {
      const { items, partial, unpaged } = ce
        ? await readRuns(CE, "/api/playbook-runs", { since: since.toISOString(), playbook: playbook.value })
        : await readRuns(RT, "/v1/runs", { since: since.toISOString() });
      if (mine !== generation) return;
      const shown = ce && category.value ? items.filter((r) => (r.metrics?.category ?? "other") === category.value) : items;
      const statuses = ce ? CE_STATUSES : RT_STATUSES;
      const buckets = bucketByDay(shown, {
        days: n,
        timeOf: (r) => r.createdAt ?? r.created_at,
        statusOf: (r) => r.status,
      });
      const total = buckets.reduce((sum, d) => sum + Object.values(d.counts).reduce((a, b) => a + b, 0), 0);
      const byStatus = Object.fromEntries(statuses.map((s) => [s, buckets.reduce((sum, d) => sum + (d.counts[s] || 0), 0)]));
      let server = null;
      if (ce) {
        // condition-engine's own counts for the window, to set beside what the lists gave.
        const ins = await api(CE, `/api/insights/playbooks?window=${n}d`).catch(() => null);
        const node = ins && (playbook.value ? ins.playbooks?.find((p) => p.playbookId === playbook.value)
          : category.value ? ins.categories?.find((c) => c.category === category.value) : null);
        server = node ? node.runs?.total ?? null : ins ? (ins.categories || []).reduce((a, c) => a + (c.runs?.total ?? 0), 0) : null;
        if (!category.options.length || category.options.length === 1) {
          category.append(...(ins?.categories || []).map((c) => h("option", { value: c.category }, c.category)));
        }
      }
      if (mine !== generation) return;
      fill(out, 
        h("p", { class: "row" },
          h("span", { class: "kpi", "data-test": "insights-total" }, total), h("span", { class: "muted" }, `runs in the last ${n} days`),
          statuses.filter((s) => byStatus[s]).map((s) => h("span", { class: `badge ${s}`, "data-test": `total-${s}` }, `${byStatus[s]} ${s}`)),
          server !== null ? h("span", { class: "muted small", "data-test": "server-total" }, `condition-engine counts ${server}`) : null),
        partial ? h("div", { class: "warning", "data-test": "partial" },
          unpaged ? "This service answers one unpaged list: the chart counts its newest runs only."
            : `More than ${MAX_RUNS} runs in this window: the chart counts the newest ${items.length} only (no service gives per-day counts yet).`) : null,
        dayChart(buckets, statuses),
      );
    } catch (err) {
      if (mine === generation) fill(out, errorBox(err));
    }
  };
  for (const el of [source, days, category, playbook]) el.addEventListener("change", load);
  fill(view, 
    h("h1", {}, "Insights"),
    h("div", { class: "card row" }, "Runs of", source, days, category, playbook),
    out,
  );
  await load();
}
