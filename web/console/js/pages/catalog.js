// Catalog: what can run for the org, and the form that starts it. Compiled and published runbooks are
// listed by runbook-runtime (GET /v1/runbooks) and started by id and version, so the run is exactly the
// version the org published. The org's runbooks are also the tenant playbooks of recommendation-agent
// that carry a runbook; they are found through its search. The global library is listed whole; its playbooks are
// scripts, not runbooks, so they are shown but cannot start a run here. A runbook of one's own (JSON)
// opens the same form. Choosing one shows its description, steps, risks and governance, and a form
// built from its vars; dry-run, replay and real run are offered as GET /whoami allows.
import { api, listOf, permissions, token } from "../api.js";
import { h, badge, action, errorBox, flash, fill } from "../ui.js";
import { rememberRunbook } from "./runs.js";

const RA = "recommendation-agent";
const RT = "runbook-runtime";
const OWN_KEY = "playbooks.own-runbook";
// A version not (yet) approved by a reviewer may be tried (dry-run, replay) but not run for real.
const REVIEWED = ["approved", "active"];

export async function catalogPage(view, [source, id, version]) {
  if (source === "compiled" && id && version) return compiledDetail(view, id, version);
  if (source === "org" && id && version) return orgDetail(view, id, version);
  if (source === "own") return ownDetail(view);
  return catalogList(view);
}

// -- the list -------------------------------------------------------------------------------------

async function catalogList(view) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const text = h("input", { class: "grow", "data-test": "catalog-query", placeholder: "search: e.g. restart the database, rotate keys…", value: params.get("q") || "" });
  const category = h("select", { "data-test": "catalog-category" }, h("option", { value: "" }, "any category"));
  const runnable = h("input", { type: "checkbox", "data-test": "catalog-runnable" });
  runnable.checked = params.get("runnable") === "1";
  const orgBox = h("div", { "data-test": "catalog-org" });
  const compiledBox = h("div", { "data-test": "catalog-compiled" }, h("p", { class: "muted" }, "Loading…"));
  let compiled = null;
  const libBox = h("div", { "data-test": "catalog-library" }, h("p", { class: "muted" }, "Loading…"));
  let library = [];

  const showLibrary = () => {
    const words = text.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = runnable.checked ? [] : library.filter((m) =>
      (!category.value || m.tags?.category === category.value)
      && words.every((w) => [m.name, m.description, m.playbook_id, ...(m.keywords || [])].join(" ").toLowerCase().includes(w)));
    fill(libBox, 
      runnable.checked ? h("p", { class: "muted small" }, "Library playbooks are scripts without a runbook: hidden while 'runnable only' is on.")
        : shown.length ? h("table", {}, h("tr", {}, ["Library playbook", "Category", "Cloud", ""].map((t) => h("th", {}, t))),
          shown.map((m) => h("tr", { "data-library": m.playbook_id },
            h("td", {}, h("strong", {}, m.name), h("div", { class: "muted small" }, m.description)),
            h("td", {}, m.tags?.category ?? ""),
            h("td", {}, (m.cloud_provider || []).join(", ")),
            h("td", {}, h("span", { class: "badge skipped", title: "It has scripts (shell, python) but no runbook for runbook-runtime" }, "no runbook")))))
          : h("p", { class: "muted" }, "No library playbook matches."));
  };

  const showCompiled = () => {
    if (compiled === null) return;
    // a published runbook has no category: a category filter leaves only the "runbook" one
    const shown = category.value && category.value !== "runbook" ? [] : compiled.items;
    fill(compiledBox, shown.length
      ? h("div", {},
        h("table", {}, h("tr", {}, ["Published runbook", "Version", "Steps", "Vars", "Published", ""].map((t) => h("th", {}, t))),
          shown.map((r) => h("tr", { "data-compiled": `${r.runbook_id}@${r.version}` },
            h("td", {}, h("strong", {}, r.name), h("div", { class: "muted small" }, r.runbook_id, r.description ? ` · ${r.description}` : "")),
            h("td", {}, `v${r.version}`),
            h("td", {}, h("span", { class: "badge passed" }, `${r.steps} steps`)),
            h("td", { class: "small" }, Object.keys(r.vars || {}).join(", ") || "none"),
            h("td", { class: "muted small" }, new Date(r.published_at).toLocaleString()),
            h("td", {}, h("a", { href: `#/catalog/compiled/${encodeURIComponent(r.runbook_id)}/${encodeURIComponent(r.version)}`, "data-test": "choose-compiled" }, "Open →"))))),
        compiled.count > shown.length ? h("p", { class: "muted small", "data-test": "compiled-count" }, `${shown.length} of ${compiled.count} shown, newest first: narrow the search to see the others.`) : null)
      : h("p", { class: "muted" }, compiled.count || compiled.searched ? "No published runbook matches." : "The org has published no runbook yet (compile one with publish: true)."));
  };
  const loadCompiled = async () => {
    try {
      // the service searches (id, name, description, var names) and counts; the newest 100 are shown
      const words = text.value.trim();
      const q = new URLSearchParams({ limit: "100" });
      if (words) q.set("q", words);
      const got = await api(RT, `/v1/runbooks?${q}`);
      compiled = { items: got.items, count: got.count, searched: Boolean(words) };
      showCompiled();
    } catch (err) {
      fill(compiledBox, errorBox(err));
    }
  };

  const searchOrg = async () => {
    const q = text.value.trim();
    if (q.length < 2) {
      fill(orgBox, h("p", { class: "muted" }, "Search to find the org's runbooks (compiled and published ones carry a runbook)."));
      return;
    }
    fill(orgBox, h("p", { class: "muted" }, "Searching…"));
    try {
      const found = listOf(await api(RA, "/api/playbook/search", { method: "POST", body: { query: q, limit: 20 } }), "results")
        .filter((r) => r.source !== "library" && (!category.value || r.metadata?.tags?.category === category.value));
      // Whether a version carries a runbook is in its document: read each one (at most 20).
      const org = token.org();
      const docs = await Promise.all(found.map((r) =>
        api(RA, `/api/playbook/metadata/${encodeURIComponent(org)}/${encodeURIComponent(r.playbook_id)}/${encodeURIComponent(r.version)}`).catch((err) => err)));
      const rows = found.map((r, i) => ({ r, doc: docs[i] instanceof Error ? null : docs[i].document }))
        .filter(({ doc }) => !runnable.checked || doc?.runbook);
      fill(orgBox, rows.length
        ? h("table", {}, h("tr", {}, ["Org playbook", "Status", "Runbook", ""].map((t) => h("th", {}, t))),
          rows.map(({ r, doc }) => h("tr", { "data-org-playbook": r.playbook_id },
            h("td", {}, h("strong", {}, r.name), h("div", { class: "muted small" }, `${r.playbook_id} v${r.version}`, doc?.metadata?.description ? ` · ${doc.metadata.description}` : "")),
            h("td", {}, badge(r.status)),
            h("td", {}, doc?.runbook ? h("span", { class: "badge passed" }, `${(doc.runbook.steps || []).length} steps`) : h("span", { class: "badge skipped" }, "no runbook")),
            h("td", {}, doc?.runbook ? h("a", { href: `#/catalog/org/${encodeURIComponent(r.playbook_id)}/${encodeURIComponent(r.version)}`, "data-test": "choose" }, "Open →") : null))))
        : h("p", { class: "muted" }, "No org runbook matches."));
    } catch (err) {
      fill(orgBox, errorBox(err));
    }
  };

  const apply = (event) => {
    event?.preventDefault();
    history.replaceState(null, "", `#/catalog?${new URLSearchParams({ q: text.value.trim(), runnable: runnable.checked ? "1" : "" })}`);
    showLibrary();
    loadCompiled();
    searchOrg();
  };
  category.addEventListener("change", apply);
  runnable.addEventListener("change", apply);
  const own = h("textarea", { "data-test": "own-runbook", rows: 6, placeholder: '{"apiVersion": "runbook/v0", "meta": {"name": "…", "vars": {…}}, "steps": [...]}' });
  own.value = sessionStorage.getItem(OWN_KEY) || "";
  const openOwn = () => {
    try {
      const doc = JSON.parse(own.value);
      if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new Error("not a JSON object");
    } catch (err) {
      flash(`The runbook is not valid JSON: ${err.message}`);
      return;
    }
    sessionStorage.setItem(OWN_KEY, own.value);
    location.hash = "#/catalog/own";
  };
  fill(view, 
    h("h1", {}, "Catalog"),
    h("form", { class: "card row", onsubmit: apply }, text, category, h("label", { class: "row small" }, runnable, "runnable only"),
      h("button", { class: "primary", type: "submit", "data-test": "catalog-search" }, "Search")),
    h("h2", {}, "Compiled and published runbooks"), compiledBox,
    h("h2", {}, "The org's runbooks"), orgBox,
    h("h2", {}, "Library"), libBox,
    h("h2", {}, "A runbook of your own"),
    h("div", { class: "card" }, own, h("p", {}, h("button", { onclick: openOwn, "data-test": "open-own" }, "Open the form"))),
  );
  loadCompiled();
  try {
    library = listOf(await api(RA, "/api/playbook/library"), "items");
    const cats = [...new Set(library.map((m) => m.tags?.category).filter(Boolean)), "runbook"].sort();
    category.append(...cats.map((c) => h("option", { value: c }, c)));
    category.value = params.get("category") || "";
    showLibrary();
  } catch (err) {
    fill(libBox, errorBox(err));
  }
  await searchOrg();
}

// -- one runbook ----------------------------------------------------------------------------------

async function orgDetail(view, id, version) {
  const org = token.org();
  const pv = await api(RA, `/api/playbook/metadata/${encodeURIComponent(org)}/${encodeURIComponent(id)}/${encodeURIComponent(version)}`);
  const doc = pv.document || {};
  if (!doc.runbook) throw new Error(`${id} v${version} has no runbook: it cannot run in runbook-runtime`);
  await detail(view, { runbook: doc.runbook, document: doc, status: pv.status, playbookId: id, playbookVersion: version, back: "#/catalog" });
}

async function compiledDetail(view, id, version) {
  const published = await api(RT, `/v1/runbooks/${encodeURIComponent(id)}/${encodeURIComponent(version)}`);
  await detail(view, { runbook: published.document, document: null, status: null, playbookId: id, playbookVersion: version,
    published: { id, version, at: published.published_at }, back: "#/catalog" });
}

async function ownDetail(view) {
  const text = sessionStorage.getItem(OWN_KEY);
  if (!text) throw new Error("no runbook of your own yet: paste one in the catalog");
  await detail(view, { runbook: JSON.parse(text), document: null, status: null, playbookId: null, playbookVersion: null, back: "#/catalog" });
}

function varSpecs(runbook, document) {
  const params = new Map((document?.parameters || []).map((p) => [String(p.name).toLowerCase(), p]));
  return Object.entries(runbook?.meta?.vars || {}).map(([name, value]) => {
    const spec = value && typeof value === "object" && !Array.isArray(value) ? value : { default: value };
    const param = params.get(name.toLowerCase()) || {};
    const def = spec.default ?? null;
    return {
      name,
      default: def === null ? null : String(def),
      description: spec.description || (param.description && !/^Runbook variable /.test(param.description) ? param.description : ""),
      secret: Boolean(spec.secret),
      flag: Boolean(spec.flag),
      allowed: Array.isArray(spec.allowed) ? spec.allowed.map(String) : null,
      type: ["number", "integer"].includes(param.type) ? "number" : "text",
      // A var with no default gets its value from the run, or renders as "": ask for it.
      required: def === null || param.required === true,
    };
  });
}

function varField(v) {
  const attrs = { name: v.name, "data-var": v.name, id: `var-${v.name}` };
  let input;
  if (v.allowed) {
    input = h("select", attrs, v.required && v.default === null ? h("option", { value: "" }, "choose…") : null,
      v.allowed.map((a) => h("option", { value: a }, a)));
    if (v.default !== null) input.value = v.default;
  } else if (v.secret) {
    input = h("input", { ...attrs, type: "password", autocomplete: "off", placeholder: v.default !== null ? "(default kept secret)" : "" });
  } else {
    input = h("input", { ...attrs, type: v.type, value: v.default ?? "" });
  }
  if (v.required) input.required = true;
  return h("div", { class: "field", "data-field": v.name },
    h("label", { for: `var-${v.name}` }, h("code", {}, v.name), v.required ? h("span", { class: "req" }, " *") : null,
      v.secret ? h("span", { class: "tag" }, "secret") : null, v.flag ? h("span", { class: "tag" }, "may be an option") : null),
    input,
    // A description is the author's text: a text node, never markup.
    v.description ? h("div", { class: "muted small", "data-test": "var-description" }, v.description) : null);
}

function stepsList(runbook) {
  const leaves = (runbook.steps || []).flatMap((s) => (s.type === "group" ? (s.steps || []).map((x) => ({ ...x, group: s.title || s.id })) : [s]));
  return h("ol", { class: "steps", "data-test": "runbook-steps" }, leaves.map((s) => h("li", { "data-step": s.id },
    h("span", { class: `badge ${s.type === "manual" ? "waiting" : ""}` }, s.type),
    h("div", { class: "grow" },
      h("strong", {}, s.title || s.id), s.group ? h("span", { class: "muted small" }, ` · in ${s.group}`) : null,
      s.type === "cli" ? h("div", {}, h("code", { class: "small" }, (s.with?.argv || []).join(" "))) : null,
      s.type === "manual" ? h("div", { class: "muted small" },
        (s.required_evidence || []).map((e) => `${e.kind} ${e.name}`).join(", ") || "no evidence",
        s.approvals ? ` · ${s.approvals.min ?? 1} approval(s)${s.approvals.roles?.length ? ` by ${s.approvals.roles.join("/")}` : ""}` : "") : null))));
}

function governanceFacts(runbook, document) {
  const g = runbook.meta?.governance || {};
  const gates = (runbook.steps || []).flatMap((s) => (s.type === "group" ? s.steps || [] : [s])).filter((s) => s.type === "manual");
  const risks = document?.explain_plan?.risks || [];
  const tags = document?.metadata?.tags || {};
  const line = (label, value) => h("li", {}, h("span", { class: "muted" }, `${label}: `), value);
  return h("div", { "data-test": "governance" },
    h("ul", { class: "plain" },
      line("Commands allowed", (g.allowed_commands || []).length ? g.allowed_commands.join(", ") : "none (no command runs for real)"),
      (g.deny_commands || []).length ? line("Commands denied", g.deny_commands.join(", ")) : null,
      g.commands && Object.keys(g.commands).length ? line("Subcommand rules", Object.keys(g.commands).join(", ")) : null,
      (g.deny_env_vars || []).length ? line("Env vars never read", g.deny_env_vars.join(", ")) : null,
      line("Manual steps", gates.length ? `${gates.length} (${gates.filter((s) => s.approvals).length} with an approval gate)` : "none"),
      tags.risk_level ? line("Risk level", badge(tags.risk_level)) : null,
      tags.requires_approval !== undefined ? line("Requires approval", tags.requires_approval ? "yes" : "no") : null),
    risks.length ? [h("strong", {}, "Risks"), h("ul", { class: "plain", "data-test": "risks" }, risks.map((r) =>
      h("li", {}, typeof r === "string" ? r : [badge(r.severity), " ", r.risk, r.mitigation ? h("div", { class: "muted small" }, `Mitigation: ${r.mitigation}`) : null])))] : null);
}

async function detail(view, { runbook, document, status, playbookId, playbookVersion, published = null, back }) {
  const may = await permissions(RT);
  const meta = runbook.meta || {};
  const vars = varSpecs(runbook, document);
  const form = h("form", { class: "card", "data-test": "run-form", onsubmit: (e) => e.preventDefault() },
    h("h2", {}, "Variables"),
    vars.length ? vars.map(varField) : h("p", { class: "muted" }, "This runbook declares no vars."));
  const scenario = h("textarea", { "data-test": "scenario", rows: 5, placeholder: "cli-replay scenario (JSON) the replay answers from" });
  const out = h("div", { "data-test": "start-result" });
  const values = () => {
    if (!form.reportValidity()) throw new Error("Fill in the required vars first.");
    const given = {};
    for (const v of vars) {
      const el = form.querySelector(`[data-var="${CSS.escape(v.name)}"]`);
      // A secret left empty keeps its default (which the page never shows; a published runbook's never reaches it).
      if (v.secret && !el.value) continue;
      given[v.name] = el.value;
    }
    return given;
  };
  const start = (mode) => action(async () => {
    // a published runbook is started by reference: the service runs the version it holds, not this copy
    const body = published ? { runbook_id: published.id, runbook_version: published.version } : { runbook };
    Object.assign(body, { mode, vars: values(), start: mode !== "dry-run" });
    if (playbookId && !published) Object.assign(body, { playbook_id: playbookId, playbook_version: playbookVersion });
    if (mode === "replay") {
      if (!scenario.value.trim()) throw new Error("A replay answers from a recorded scenario: paste it first.");
      try {
        body.scenario = JSON.parse(scenario.value);
      } catch (err) {
        throw new Error(`The scenario is not valid JSON: ${err.message}`);
      }
    }
    const run = await api(RT, "/v1/runs", { method: "POST", body });
    rememberRunbook(run.run_id, runbook);
    if (mode === "dry-run") {
      fill(out, planCard(run));
      return;
    }
    location.hash = `#/runs/${encodeURIComponent(run.run_id)}`;
  });
  const reviewed = status === null || REVIEWED.includes(status);
  const buttons = h("div", { class: "row" },
    may.has("operate") ? h("button", { onclick: start("dry-run"), "data-test": "start-dry-run" }, "Dry-run") : null,
    may.has("operate") ? h("button", { onclick: start("replay"), "data-test": "start-replay" }, "Replay") : null,
    may.has("run") && reviewed ? h("button", { class: "primary", onclick: start("real"), "data-test": "start-real" }, "Run for real") : null,
    may.has("run") && !reviewed ? h("span", { class: "muted small", "data-test": "not-reviewed" }, `This version is ${status}: a reviewer approves it before it runs for real.`) : null,
    !may.has("operate") ? h("span", { class: "muted", "data-test": "read-only" }, "Your role reads runbooks; starting a run needs 'operate' (dry-run, replay) or 'run'.") : null);
  form.append(may.has("operate") ? h("details", {}, h("summary", {}, "Replay scenario"), scenario) : null, buttons);
  fill(view, 
    h("p", {}, h("a", { href: back }, "← catalog")),
    h("h1", {}, meta.name || "runbook", " ", meta.version ? h("span", { class: "muted" }, `v${meta.version}`) : null, " ", status ? badge(status) : null),
    published ? h("p", { class: "muted small", "data-test": "published-ref" }, `published runbook ${published.id} v${published.version}, ${new Date(published.at).toLocaleString()}`)
      : playbookId ? h("p", { class: "muted small" }, `org playbook ${playbookId} v${playbookVersion}`) : h("p", { class: "muted small" }, "a runbook of your own"),
    meta.description ? h("p", { "data-test": "runbook-description" }, meta.description) : null,
    h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, "Steps"), stepsList(runbook)),
      h("div", {}, h("h2", {}, "Governance and risks"), governanceFacts(runbook, document))),
    form,
    out,
  );
}

function planCard(run) {
  return h("div", { class: "card", "data-test": "plan" },
    h("div", { class: "row" }, h("strong", { class: "grow" }, "Dry-run plan: nothing was executed"), badge(run.status),
      h("a", { href: `#/runs/${encodeURIComponent(run.run_id)}`, "data-test": "plan-run" }, "open the dry-run")),
    h("ol", { class: "steps" }, (run.plan || []).map((p) => h("li", { "data-step": p.step_id },
      h("span", { class: `badge ${String(p.verdict).startsWith("refused") ? "failed" : "passed"}` }, p.type),
      h("div", { class: "grow" }, h("strong", {}, p.step_id),
        p.argv ? h("div", {}, h("code", { class: "small" }, p.argv.join(" "))) : null,
        h("div", { class: "muted small" }, p.pauses_for ? `waits for: ${p.pauses_for.join(", ")}` : p.verdict))))));
}
