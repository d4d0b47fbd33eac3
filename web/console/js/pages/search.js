// Search (recommendation-agent): ranked playbooks with confidence, reason, warnings, explain plan and
// parameters; approve or reject a tenant playbook that waits for review (a rejection needs a reason).
import { api, listOf, permissions, token } from "../api.js";
import { h, badge, action, errorBox, flash, when } from "../ui.js";

const RA = "recommendation-agent";

function versionPath(playbookId, version) {
  const org = token.org();
  if (!org) throw new Error("the token names no org; sign in again");
  return `/api/playbook/metadata/${encodeURIComponent(org)}/${encodeURIComponent(playbookId)}/${encodeURIComponent(version)}`;
}

export async function searchPage(view) {
  const query = h("input", { class: "grow", "data-test": "query", placeholder: "e.g. turn off idle dev EC2 instances over the weekend" });
  const results = h("div", { "data-test": "results" });
  const run = async (event) => {
    event?.preventDefault();
    if (query.value.trim().length < 2) return;
    results.replaceChildren(h("p", { class: "muted" }, "Searching…"));
    try {
      const [data, may] = await Promise.all([
        api(RA, "/api/playbook/search", { method: "POST", body: { query: query.value.trim(), limit: 10 } }),
        permissions(RA),
      ]);
      const items = listOf(data, "results");
      results.replaceChildren(
        h("p", { class: "muted small", "data-test": "intent" }, intentText(data.intent), data.took_ms !== undefined ? ` · ${data.took_ms} ms` : ""),
        // Nothing matched (gibberish, a cloud the library lacks): say so before the weak candidates.
        data.matched === false && data.notice ? h("div", { class: "warning", "data-test": "notice" }, text(data.notice)) : null,
        items.length ? h("div", { "data-test": "ranked" }, items.map((r) => resultCard(r, () => run(), may))) : h("p", { class: "muted" }, "No playbook matches."),
      );
    } catch (err) {
      results.replaceChildren(errorBox(err));
    }
  };
  view.replaceChildren(
    h("h1", {}, "Search"),
    h("form", { class: "row card", onsubmit: run }, query, h("button", { class: "primary", type: "submit", "data-test": "search" }, "Search")),
    results,
    reviewLookup(),
  );
}

function intentText(intent) {
  if (!intent) return "";
  const parts = [
    intent.action && `action ${intent.action}`,
    intent.cloud_provider?.length && intent.cloud_provider.join("/"),
    intent.resource_types?.length && intent.resource_types.join(", "),
    intent.environment && `env ${intent.environment}`,
    intent.time_context && intent.time_context,
  ].filter(Boolean);
  return parts.length ? `Understood: ${parts.join(" · ")}` : "Understood: no specific action or resource";
}

const text = (v) => (typeof v === "string" ? v : JSON.stringify(v));

function explainPlan(plan) {
  const risks = plan.risks || [];
  const impact = plan.impact ?? plan.estimated_impact ?? {};
  const impactRows = typeof impact === "object" ? Object.entries(impact) : [["impact", impact]];
  return h(
    "div",
    { "data-test": "explain-plan" },
    plan.what_it_does ? h("p", {}, plan.what_it_does) : null,
    h("strong", {}, "Steps"),
    (plan.steps || []).length ? h("ol", { class: "plain" }, plan.steps.map((s) => h("li", {}, text(s).replace(/^\d+\.\s*/, "")))) : h("p", { class: "muted" }, "None listed."),
    h("strong", {}, "Risks"),
    risks.length
      ? h("ul", { class: "plain" }, risks.map((r) => h("li", {}, typeof r === "string" ? r : [badge(r.severity), " ", r.risk, r.mitigation ? h("div", { class: "muted small" }, `Mitigation: ${r.mitigation}`) : null])))
      : h("p", { class: "muted" }, "None listed."),
    h("strong", {}, "Impact"),
    impactRows.length
      ? h("ul", { class: "plain" }, impactRows.map(([k, v]) => h("li", {}, h("span", { class: "muted" }, `${k.replace(/_/g, " ")}: `), text(v))))
      : h("p", { class: "muted" }, "Not estimated."),
  );
}

function parameterTable(params) {
  if (!params.length) return h("p", { class: "muted" }, "None.");
  return h(
    "table",
    { "data-test": "parameters" },
    h("tr", {}, ["Name", "Type", "Description", ""].map((t) => h("th", {}, t))),
    params.map((p) =>
      h("tr", {},
        h("td", {}, h("code", {}, p.name)),
        h("td", {}, p.type ?? ""),
        h("td", { class: "muted" }, p.description ?? "", p.default !== undefined && p.default !== null ? ` (default ${text(p.default)})` : ""),
        h("td", {}, p.required ? "required" : "")),
    ),
  );
}

// Approve, or reject with a reason the author can act on (the API refuses a rejection without one).
// Only for someone whose roles grant 'review'; the author never sees Approve (four eyes), the API refuses it too.
function reviewControls(playbookId, version, done, may, author) {
  if (may && !may.has("review")) {
    return h("div", { class: "review", "data-test": "review" },
      h("strong", {}, "Waiting for review"), h("span", { class: "muted" }, " by someone whose role grants 'review'"));
  }
  const mine = author !== undefined && author === token.claims()?.sub;
  const reason = h("input", { class: "grow", "data-test": "reject-reason", placeholder: "Why is it rejected? (required)" });
  const rejectForm = h("div", { class: "row", hidden: true }, reason);
  const setStatus = async (status, why) => {
    const body = why ? { status, reason: why } : { status };
    const updated = await api(RA, `${versionPath(playbookId, version)}/status`, { method: "POST", body });
    await done(updated);
    flash(`${playbookId}@${version} is now ${updated.status}.`, "note");
  };
  const approve = action(() => setStatus("approved"));
  const confirmReject = action(async () => {
    if (!reason.value.trim()) {
      reason.focus();
      throw new Error("A rejection needs a reason the author can act on.");
    }
    await setStatus("rejected", reason.value.trim());
  });
  const reject = h("button", { class: "danger", "data-test": "reject" }, "Reject…");
  reject.addEventListener("click", () => {
    rejectForm.hidden = false;
    reject.hidden = true;
    reason.focus();
  });
  rejectForm.append(h("button", { class: "danger", onclick: confirmReject, "data-test": "confirm-reject" }, "Reject"));
  return h(
    "div",
    { class: "review", "data-test": "review" },
    h("div", { class: "row" }, h("strong", { class: "grow" }, "Waiting for review"),
      mine
        ? h("span", { class: "muted", "data-test": "own-publication" }, "You published it: someone else approves it (four eyes).")
        : h("button", { class: "primary", onclick: approve, "data-test": "approve" }, "Approve"),
      reject),
    rejectForm,
  );
}

function resultCard(r, rerun, may) {
  const confidence = Math.max(0, Math.min(1, Number(r.confidence ?? 0)));
  const warnings = r.warnings || [];
  return h(
    "div",
    { class: "card", "data-test": "result", "data-playbook": r.playbook_id, "data-status": r.status },
    h("div", { class: "row" },
      h("strong", { "data-test": "rank", class: "rank" }, `#${r.rank}`),
      h("div", { class: "grow" },
        h("strong", { "data-test": "name" }, r.name),
        h("div", { class: "muted small" }, `${r.playbook_id} v${r.version} · ${r.source}`)),
      badge(r.status),
      r.match === "weak" ? h("span", { class: "muted small", "data-test": "weak" }, "weak match") : null,
      h("div", { class: "confidence", title: `confidence (score ${r.score}, similarity ${r.similarity})` },
        h("span", { "data-test": "confidence" }, `${Math.round(confidence * 100)}%`),
        h("div", { class: "meter" }, h("div", { class: "bar", style: `width:${confidence * 100}%` })))),
    h("p", { "data-test": "reason" }, r.reason ?? ""),
    r.assessment ? h("p", { class: "muted small", "data-test": "assessment" }, "LLM: ", text(r.assessment)) : null,
    warnings.map((w) => h("div", { class: "warning", "data-test": "warning" }, text(w))),
    h("details", {}, h("summary", { "data-test": "explain" }, "Explain plan and parameters"),
      h("div", { class: "grid2" }, explainPlan(r.explain_plan || {}), h("div", {}, h("strong", {}, "Parameters"), parameterTable(r.parameters || [])))),
    r.status === "pending_review" ? reviewControls(r.playbook_id, r.version, rerun, may) : null,
    // An org playbook that carries a runbook runs from the catalog's form, with its parameters.
    r.source !== "library"
      ? h("p", {}, h("a", { href: `#/catalog/org/${encodeURIComponent(r.playbook_id)}/${encodeURIComponent(r.version)}`, "data-test": "to-run-form" }, "Open the run form →"))
      : null,
  );
}

// The API lists no pending reviews: a reviewer who has the id and version opens that version here.
function reviewLookup() {
  const id = h("input", { "data-test": "review-id", placeholder: "playbook id", size: 28 });
  const version = h("input", { "data-test": "review-version", placeholder: "1.0.0", size: 8 });
  const out = h("div", {});
  const show = async () => {
    try {
      const [pv, history, may] = await Promise.all([
        api(RA, versionPath(id.value.trim(), version.value.trim())),
        api(RA, `${versionPath(id.value.trim(), version.value.trim())}/history`).catch(() => []),
        permissions(RA),
      ]);
      const author = history.find((e) => e.from_status === null)?.actor;
      const meta = pv.document?.metadata ?? {};
      out.replaceChildren(
        h("div", { class: "card", "data-test": "version" },
          h("div", { class: "row" }, h("strong", { class: "grow" }, meta.name ?? pv.playbook_id, h("span", { class: "muted" }, ` v${pv.version} · ${pv.source}`)), badge(pv.status)),
          meta.description ? h("p", {}, meta.description) : null,
          h("details", {}, h("summary", {}, "Explain plan and parameters"),
            h("div", { class: "grid2" }, explainPlan(pv.document?.explain_plan ? { ...pv.document.explain_plan, steps: (pv.document.explain_plan.what_happens || []).map((s) => `${s.action}: ${s.details}`) } : {}),
              h("div", {}, h("strong", {}, "Parameters"), parameterTable(pv.document?.parameters || [])))),
          history.length
            ? h("ol", { class: "timeline small" }, history.map((e) => h("li", {}, h("span", { class: "what" }, `${e.from_status ?? "published"} → ${e.to_status}`),
                h("span", { class: "muted" }, ` by ${e.actor} · ${when(e.at)}`), e.reason ? h("div", { class: "muted" }, e.reason) : null)))
            : null,
          pv.status === "pending_review" ? reviewControls(pv.playbook_id, pv.version, show, may, author) : null),
      );
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  };
  const submit = (event) => {
    event.preventDefault();
    if (id.value.trim() && version.value.trim()) show();
  };
  return h("div", {}, h("h2", {}, "Review a version"),
    h("form", { class: "row card", onsubmit: submit }, "Playbook", id, "version", version, h("button", { type: "submit", "data-test": "open-version" }, "Open")),
    out);
}
