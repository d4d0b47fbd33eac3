// Insights over time: runs per day by status for the last 7 or 30 days, for all playbooks, one category
// or one playbook (condition-engine's runs), or for runbook runs (runbook-runtime). Each service counts
// its own days (GET .../insights/daily): the page never reads the runs themselves, however many.
import { api, listOf, query } from "../api.js";
import { h, errorBox, fill } from "../ui.js";
import { dayChart } from "../charts.js";

const CE = "condition-engine";
const RT = "runbook-runtime";
const CE_STATUSES = ["success", "failed", "skipped", "pending"];
const RT_STATUSES = ["passed", "failed", "rejected", "cancelled", "waiting", "running", "planned"];

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
    fill(out, h("p", { class: "muted" }, "Loading…"));
    const ce = source.value === "playbooks";
    category.disabled = !ce;
    playbook.disabled = !ce;
    try {
      const span = `${n}d`;
      const daily = ce
        ? await api(CE, `/api/insights/daily${query({ window: span, playbook: playbook.value, category: category.value })}`)
        : await api(RT, `/v1/insights/daily${query({ window: span })}`);
      if (ce && category.options.length === 1) {
        // the categories the org's runs fall in, for the picker (once)
        const ins = await api(CE, `/api/insights/playbooks?window=${span}`).catch(() => null);
        category.append(...(ins?.categories || []).map((c) => h("option", { value: c.category }, c.category)));
      }
      if (mine !== generation) return;
      const statuses = ce ? CE_STATUSES : RT_STATUSES;
      const byStatus = Object.fromEntries(statuses.map((s) => [s, daily.days.reduce((sum, d) => sum + (d.counts[s] || 0), 0)]));
      fill(out,
        h("p", { class: "row" },
          h("span", { class: "kpi", "data-test": "insights-total" }, daily.total), h("span", { class: "muted" }, `runs in the last ${n} days`),
          statuses.filter((s) => byStatus[s]).map((s) => h("span", { class: `badge ${s}`, "data-test": `total-${s}` }, `${byStatus[s]} ${s}`))),
        dayChart(daily.days, statuses),
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
