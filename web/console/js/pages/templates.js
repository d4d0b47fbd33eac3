// Templates (recommendation-agent): the protected library templates and the org's clones of them. A clone
// shows its lineage, its versions (restore any as a new one), the template's newer version as a field-level
// diff (take: a three-way merge where the org's edits win; dismiss), the proposals learnt from its runs'
// outcomes (approve, or reject with a reason; nothing changes until the owner or an org admin decides) and
// its append-only audit. The service decides who may; the page shows the controls `write` covers.
import { api, listOf, permissions } from "../api.js";
import { h, badge, action, allowed, fill, flash, pretty, when } from "../ui.js";

const RA = "recommendation-agent";

export async function templatesPage(view, [cloneId]) {
  if (cloneId) return cloneDetail(view, cloneId);
  return templateList(view);
}

const playbookPath = (id) => `/api/playbook/${encodeURIComponent(id)}`;

// -- the list -------------------------------------------------------------------------------------

async function templateList(view) {
  const [library, clones, may] = await Promise.all([
    api(RA, "/api/playbook/library"),
    api(RA, "/api/clones"),
    permissions(RA),
  ]);
  // each template once, at its newest version (the library keeps every version)
  const newest = new Map();
  for (const m of listOf(library, "items")) {
    const seen = newest.get(m.playbook_id);
    if (!seen || compareVersions(m.version, seen.version) > 0) newest.set(m.playbook_id, m);
  }
  const cloneOf = (id) => action(async () => {
    const made = await api(RA, `${playbookPath(id)}/clone`, { method: "POST", body: {} });
    location.hash = `#/templates/${encodeURIComponent(made.playbook_id)}`;
  });
  fill(view,
    h("h1", {}, "Templates"),
    h("h2", {}, "The org's clones"),
    clones.length
      ? h("table", { "data-test": "clones" }, h("tr", {}, ["Clone", "From template", "Owner", "Created", ""].map((t) => h("th", {}, t))),
        clones.map((c) => h("tr", { "data-clone": c.playbook_id },
          h("td", {}, h("a", { href: `#/templates/${encodeURIComponent(c.playbook_id)}` }, c.playbook_id)),
          h("td", {}, `${c.template_id} v${c.template_version}`),
          h("td", {}, c.owner),
          h("td", { class: "muted small" }, when(c.created_at)),
          h("td", {}, c.update_to ? h("span", { class: "badge waiting", "data-test": "update-waiting" }, `template v${c.update_to} waiting`) : null))))
      : h("p", { class: "muted" }, "The org has no clone yet: clone a template below to make it the org's own."),
    h("h2", {}, "Library templates (protected: clone to change)"),
    h("table", { "data-test": "templates" }, h("tr", {}, ["Template", "Version", "Category", ""].map((t) => h("th", {}, t))),
      [...newest.values()].map((m) => h("tr", { "data-template": m.playbook_id },
        h("td", {}, h("strong", {}, m.name), h("div", { class: "muted small" }, m.description)),
        h("td", {}, `v${m.version}`),
        h("td", {}, m.tags?.category ?? ""),
        h("td", {}, allowed(may, "write", h("button", { onclick: cloneOf(m.playbook_id), "data-test": "clone" }, "Clone")))))),
  );
}

function compareVersions(a, b) {
  const parts = (v) => String(v).split(".").map((p) => Number.parseInt(p, 10) || 0);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0);
  return 0;
}

// -- one clone ------------------------------------------------------------------------------------

async function cloneDetail(view, id) {
  const [clone, proposals, audit, may] = await Promise.all([
    api(RA, playbookPath(id)),
    api(RA, `${playbookPath(id)}/proposals`),
    api(RA, `${playbookPath(id)}/audit`),
    permissions(RA),
  ]);
  const write = may.has("write");
  const again = () => cloneDetail(view, id);
  const send = async (path, body) => {
    const got = await api(RA, path, { method: "POST", body });
    await again();
    return got;
  };
  const current = clone.current;
  fill(view,
    h("p", {}, h("a", { href: "#/templates" }, "← Templates")),
    h("h1", { "data-test": "clone-name" }, current.name || id),
    h("p", { class: "muted", "data-test": "lineage" },
      clone.lineage
        ? `${id} · cloned from ${clone.lineage.template_id} v${clone.lineage.template_version} by ${clone.lineage.created_by} · owner ${clone.owner}`
        : `${id} · not a clone of a library template · owner ${clone.owner ?? "unknown"}`),
    templateUpdate(clone, write, send),
    h("h2", {}, "Versions"),
    h("table", { "data-test": "versions" }, h("tr", {}, ["Version", "Status", "Created", ""].map((t) => h("th", {}, t))),
      clone.versions.map((v) => h("tr", { "data-version": v.version },
        h("td", {}, v.version === current.version ? h("strong", {}, `${v.version} (current)`) : v.version),
        h("td", {}, badge(v.status)),
        h("td", { class: "muted small" }, when(v.created_at)),
        h("td", {}, write && v.version !== current.version
          ? h("button", { "data-test": "restore", onclick: action(async () => {
            const made = await send(`${playbookPath(id)}/rollback`, { version: v.version });
            flash(`Version ${v.version} restored as ${made.version} (${made.status})`, "note");
          }) }, "Restore as new version")
          : null)))),
    proposalList(id, proposals, write, send),
    h("h2", {}, "Audit (append-only)"),
    audit.length
      ? h("table", { "data-test": "audit" }, h("tr", {}, ["When", "Who", "What", "From", "Version"].map((t) => h("th", {}, t))),
        audit.map((a) => h("tr", { "data-audit": a.action },
          h("td", { class: "muted small" }, when(a.at)), h("td", {}, a.actor), h("td", {}, a.action),
          h("td", { class: "small" }, a.from_ref), h("td", {}, a.version ?? ""))))
      : h("p", { class: "muted" }, "Nothing recorded yet."),
  );
}

function templateUpdate(clone, write, send) {
  const update = clone.template_update;
  if (!update) return null;
  const decide = (how) => action(async () => {
    const got = await send(`${playbookPath(clone.playbook_id)}/template-update`, { action: how });
    flash(how === "take"
      ? `Taken as version ${got.version}: ${got.taken.length} field(s) from the template, ${got.kept.length} of the org's kept`
      : `Template v${got.template_version} dismissed`, "note");
  });
  return h("div", { class: "card", "data-test": "template-update" },
    h("strong", {}, `The template ${update.template_id} moved from v${update.from_version} to v${update.to_version}`),
    h("table", { "data-test": "diff" }, h("tr", {}, ["Field", "Change", "From", "To"].map((t) => h("th", {}, t))),
      update.diff.map((d) => h("tr", { "data-path": d.path },
        h("td", { class: "small" }, d.path), h("td", {}, d.op),
        h("td", { class: "small" }, show(d.from)), h("td", { class: "small" }, show(d.to))))),
    write ? h("div", { class: "row" },
      h("button", { class: "primary", onclick: decide("take"), "data-test": "take-update" }, "Take (the org's edits win)"),
      h("button", { onclick: decide("dismiss"), "data-test": "dismiss-update" }, "Dismiss this version")) : null);
}

function proposalList(id, proposals, write, send) {
  const refresh = action(async () => {
    const made = await send(`${playbookPath(id)}/proposals/refresh`);
    flash(`${made.length} proposal(s) from the last 7 and 30 days of outcomes`, "note");
  });
  return [
    h("h2", {}, "Proposals learnt from outcomes"),
    write ? h("p", {}, h("button", { onclick: refresh, "data-test": "refresh-proposals" }, "Look at recent outcomes")) : null,
    proposals.length
      ? h("div", { "data-test": "proposals" }, proposals.map((p) => proposalCard(p, write, send)))
      : h("p", { class: "muted" }, "No proposal: nothing in the outcomes asks for a change."),
  ];
}

function proposalCard(p, write, send) {
  const reason = h("input", { class: "grow", "data-test": "reject-reason", placeholder: "why not (required to reject)" });
  const reject = action(async () => {
    if (!reason.value.trim()) throw new Error("a rejection needs a reason");
    await send(`/api/proposals/${encodeURIComponent(p.id)}/reject`, { reason: reason.value.trim() });
  });
  const approve = action(async () => {
    const got = await send(`/api/proposals/${encodeURIComponent(p.id)}/approve`);
    flash(`Applied as version ${got.applied_version}`, "note");
  });
  return h("div", { class: "card", "data-proposal": p.id },
    h("div", { class: "row" }, h("strong", { class: "grow" }, p.summary), badge(p.status)),
    h("div", { class: "muted small" }, `${p.kind} · on version ${p.base_version} · ${when(p.created_at)}`),
    h("details", {}, h("summary", {}, "Evidence and change"), pretty({ evidence: p.evidence, change: p.change })),
    p.status !== "open"
      ? h("div", { class: "small", "data-test": "decision" },
        `${p.status} by ${p.decided_by ?? "?"}`, p.reason ? `: ${p.reason}` : "", p.applied_version ? ` (version ${p.applied_version})` : "")
      : write ? h("div", { class: "row" },
        h("button", { class: "primary", onclick: approve, "data-test": "approve-proposal" }, "Approve"),
        reason, h("button", { class: "danger", onclick: reject, "data-test": "reject-proposal" }, "Reject"))
        : null);
}

const show = (v) => (v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v));
