// Search (recommendation-agent): ranked playbooks with confidence, reason, warnings, explain plan, parameters.
import { api, listOf, token } from "../api.js";
import { h, badge, action, errorBox } from "../ui.js";

const RA = "recommendation-agent";

export async function searchPage(view) {
  const query = h("input", { class: "grow", "data-test": "query", placeholder: "e.g. turn off idle dev EC2 instances over the weekend" });
  const results = h("div", { "data-test": "results" });
  const run = async (event) => {
    event?.preventDefault();
    if (!query.value.trim()) return;
    results.replaceChildren(h("p", { class: "muted" }, "Searching…"));
    try {
      const data = await api(RA, "/api/playbook/search", { method: "POST", body: { query: query.value, limit: 10 } });
      const items = listOf(data, "results", "playbooks");
      results.replaceChildren(
        data.intent ? h("p", { class: "muted", "data-test": "intent" }, "Understood: ", JSON.stringify(data.intent)) : "",
        items.length ? items.map((r, i) => resultCard(r, i, () => run())) : h("p", { class: "muted" }, "No playbook matches."));
    } catch (err) {
      results.replaceChildren(errorBox(err));
    }
  };
  view.replaceChildren(h("h1", {}, "Search"),
    h("form", { class: "row card", onsubmit: run }, query, h("button", { class: "primary", type: "submit", "data-test": "search" }, "Search")),
    results);
}

function list(title, values) {
  if (!values || !values.length) return null;
  return [h("strong", {}, title), h("ul", {}, values.map((v) => h("li", {}, typeof v === "string" ? v : v.description ?? v.title ?? JSON.stringify(v))))];
}

function resultCard(r, i, rerun) {
  const pb = r.playbook ?? r;
  const plan = pb.explain_plan ?? r.explain_plan ?? pb.explain ?? {};
  const params = pb.parameters ?? r.parameters ?? [];
  const status = pb.status ?? r.status;
  const setStatus = (to) =>
    action(async () => {
      const tenant = token.claims()?.org_id ?? token.claims()?.tenant_id;
      const path = `/api/playbook/metadata/${encodeURIComponent(tenant)}/${encodeURIComponent(pb.playbook_id ?? pb.id)}/${encodeURIComponent(pb.version)}/status`;
      await api(RA, path, { method: "POST", body: { status: to } });
      await rerun();
    });
  const confidence = Number(r.confidence ?? 0);
  return h("div", { class: "card", "data-test": "result" },
    h("div", { class: "row" },
      h("strong", { "data-test": "rank" }, `#${r.rank ?? i + 1}`),
      h("strong", { class: "grow" }, pb.name ?? pb.title ?? pb.playbook_id, h("span", { class: "muted" }, ` v${pb.version ?? "?"} · ${pb.source ?? r.source ?? ""}`)),
      badge(status),
      h("span", { "data-test": "confidence", title: "confidence" }, `${Math.round(confidence * 100)}%`),
      h("div", { style: "width:80px" }, h("div", { class: "bar", style: `width:${confidence * 100}%` }))),
    h("p", { "data-test": "reason" }, r.reason ?? ""),
    (r.warnings || []).map((w) => h("div", { class: "error", "data-test": "warning" }, typeof w === "string" ? w : w.message ?? JSON.stringify(w))),
    h("details", {}, h("summary", {}, "Explain plan and parameters"),
      h("div", { class: "grid2" },
        h("div", {}, list("Steps", plan.steps), list("Risks", plan.risks), plan.impact ? [h("strong", {}, "Impact"), h("p", {}, typeof plan.impact === "string" ? plan.impact : JSON.stringify(plan.impact))] : null),
        h("div", {}, h("strong", {}, "Parameters"), params.length
          ? h("table", {}, params.map((p) => h("tr", {}, h("td", {}, h("code", {}, p.name)), h("td", {}, p.type ?? ""), h("td", { class: "muted" }, p.description ?? ""), h("td", {}, p.required ? "required" : ""))))
          : h("p", { class: "muted" }, "None.")))),
    status === "pending_review"
      ? h("p", { class: "row" }, h("button", { class: "primary", onclick: setStatus("approved"), "data-test": "approve" }, "Approve"),
          h("button", { class: "danger", onclick: setStatus("rejected"), "data-test": "reject" }, "Reject"))
      : null);
}
