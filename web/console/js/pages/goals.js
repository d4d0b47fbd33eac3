// Goals (recommendation-agent): a goal in plain words -> the chosen runbook and its runners-up ->
// parameters read from the words (with where each came from) -> every missing one asked at once ->
// the dry-run plan -> confirm -> the run followed to its end. The service decides everything; this
// page only shows the goal as the API returns it and re-reads it while something is under way.
import { api, listOf, permissions } from "../api.js";
import { h, badge, action, errorBox, fill, when } from "../ui.js";

const RA = "recommendation-agent";
// Statuses that change without anyone here acting (a plan or a run is under way): re-read the goal.
const MOVING = ["planning", "confirmed", "running", "waiting"];
const POLL_MS = () => Number(window.PLAYBOOKS_POLL_MS) || 1000;

export async function goalsPage(view, [goalId]) {
  return goalId ? goalDetail(view, goalId) : goalList(view);
}

async function goalList(view) {
  const [page, may] = await Promise.all([api(RA, "/api/goals?limit=50"), permissions(RA)]);
  const text = h("input", { class: "grow", "data-test": "goal-text", placeholder: "e.g. Stop production RDS orders-db for the weekend" });
  const start = action(async (event) => {
    event.preventDefault();
    if (text.value.trim().length < 2) return text.focus();
    const goal = await api(RA, "/api/goals", { method: "POST", body: { text: text.value.trim() } });
    location.hash = `#/goals/${encodeURIComponent(goal.id)}`;
  });
  const goals = listOf(page, "items");
  view.replaceChildren(
    h("h1", {}, "Goals"),
    may.has("operate")
      ? h("form", { class: "row card", onsubmit: start }, text, h("button", { class: "primary", type: "submit", "data-test": "goal-start" }, "Start"))
      : h("p", { class: "muted" }, "Your role may read goals, not start them."),
    goals.length
      ? h(
          "table",
          { "data-test": "goals" },
          h("tr", {}, ["Goal", "Status", "Playbook", "Run", "Created"].map((t) => h("th", {}, t))),
          goals.map((g) =>
            h("tr", {},
              h("td", {}, h("a", { href: `#/goals/${encodeURIComponent(g.id)}` }, g.text)),
              h("td", {}, badge(g.status)),
              h("td", {}, g.playbook ? `${g.playbook.name} ${g.playbook.version}` : "—"),
              h("td", {}, g.run_id ? h("a", { href: `#/runs/${encodeURIComponent(g.run_id)}` }, g.run_status || "run") : "—"),
              h("td", { class: "muted" }, when(g.created_at))),
          ),
        )
      : h("p", { class: "muted" }, "No goals yet."),
  );
}

async function goalDetail(view, goalId) {
  const may = await permissions(RA);
  const body = h("div", { "data-test": "goal" });
  view.replaceChildren(h("p", {}, h("a", { href: "#/goals" }, "← Goals")), body);
  let timer = null;
  const load = async () => {
    clearTimeout(timer);
    let goal;
    try {
      goal = await api(RA, `/api/goals/${encodeURIComponent(goalId)}`);
    } catch (err) {
      return fill(body, errorBox(err));
    }
    fill(body, ...goalView(goal, may, load));
    // Re-read only while this page is shown and the goal still moves by itself.
    if (MOVING.includes(goal.status)) timer = setTimeout(() => body.isConnected && load(), POLL_MS());
  };
  await load();
}

function goalView(goal, may, reload) {
  return [
    h("h1", {}, goal.text, " ", badge(goal.status)),
    goal.reason ? h("div", { class: "warning", "data-test": "goal-reason" }, goal.reason) : null,
    (goal.warnings || []).map((w) => h("div", { class: "warning", "data-test": "goal-warning" }, w)),
    chosen(goal),
    parameters(goal.parameters || []),
    goal.status === "collecting" ? questions(goal, may, reload) : null,
    goal.plan ? plan(goal, may, reload) : null,
    goal.run_id ? run(goal) : null,
  ];
}

function chosen(goal) {
  const c = goal.playbook;
  const others = goal.runners_up || [];
  return h(
    "section",
    { class: "card", "data-test": "goal-playbook" },
    h("h2", {}, "Playbook"),
    c ? h("p", {}, h("strong", {}, c.name), ` ${c.playbook_id}@${c.version} · ${c.source} · confidence ${c.confidence}`) : h("p", { class: "muted" }, "Nothing runnable fits these words."),
    others.length
      ? h("details", {}, h("summary", {}, `Runners-up (${others.length})`),
          h("ul", { class: "plain" }, others.map((o) =>
            h("li", {}, `${o.name} ${o.playbook_id}@${o.version} `, o.runnable ? badge("runnable") : h("span", { class: "muted" }, `cannot run: ${o.why_not || "no runbook"}`)))))
      : null,
  );
}

function parameters(params) {
  if (!params.length) return null;
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Parameters"),
    h("table", { "data-test": "goal-parameters" },
      h("tr", {}, ["Name", "Value", "From", "Evidence"].map((t) => h("th", {}, t))),
      params.map((p) =>
        h("tr", {},
          h("td", {}, h("code", {}, p.name)),
          h("td", {}, p.value === null || p.value === undefined ? "—" : String(p.value)),
          h("td", {}, p.source),
          h("td", { class: "muted" }, p.evidence || ""))),
    ),
  );
}

// Every missing parameter at once: one round of answers completes the goal (the service checks each).
function questions(goal, may, reload) {
  const qs = goal.questions || [];
  if (!qs.length) return null;
  const inputs = {};
  const field = (q) => {
    let input;
    if (q.allowed?.length) {
      input = h("select", { "data-test": `answer-${q.name}` }, [q.required ? null : h("option", { value: "" }, "—"), ...q.allowed.map((v) => h("option", { value: v }, v))]);
    } else if (q.type === "boolean") {
      input = h("select", { "data-test": `answer-${q.name}` }, ["", "true", "false"].map((v) => h("option", { value: v }, v || "—")));
    } else {
      input = h("input", { "data-test": `answer-${q.name}`, type: q.secret ? "password" : q.type === "integer" || q.type === "number" ? "number" : "text", autocomplete: "off" });
    }
    if (q.default !== null && q.default !== undefined && !q.secret) input.value = String(q.default);
    inputs[q.name] = [q, input];
    return h("label", { class: "field" }, h("span", {}, h("code", {}, q.name), q.required ? " *" : ""), input, h("span", { class: "muted small" }, q.description || ""));
  };
  const send = action(async (event) => {
    event.preventDefault();
    const answers = {};
    for (const [name, [q, input]] of Object.entries(inputs)) {
      if (input.value === "") continue;
      answers[name] = q.type === "boolean" ? input.value === "true" : q.type === "integer" || q.type === "number" ? Number(input.value) : input.value;
    }
    await api(RA, `/api/goals/${encodeURIComponent(goal.id)}/answers`, { method: "POST", body: { answers } });
    await reload();
  });
  return h(
    "form",
    { class: "card", onsubmit: send, "data-test": "goal-questions" },
    h("h2", {}, "Still needed"),
    qs.map(field),
    may.has("operate") ? h("p", {}, h("button", { class: "primary", type: "submit", "data-test": "goal-answer" }, "Answer")) : h("p", { class: "muted" }, "Your role may not answer."),
  );
}

function plan(goal, may, reload) {
  const confirm = action(async () => {
    await api(RA, `/api/goals/${encodeURIComponent(goal.id)}/confirm`, { method: "POST", body: { mode: "real" } });
    await reload();
  });
  const steps = goal.plan || [];
  return h(
    "section",
    { class: "card", "data-test": "goal-plan" },
    h("h2", {}, "What the run would do"),
    h("ol", { class: "plain" }, steps.map((s) => {
      const { step_id, type, argv, verdict, title, ...rest } = s;
      return h("li", {}, h("code", {}, step_id), ` ${type} `, title ? `${title} ` : "",
        argv ? h("code", {}, argv.join(" ")) : null,
        verdict ? h("div", { class: "muted small" }, verdict) : null,
        Object.keys(rest).length ? h("div", { class: "muted small" }, JSON.stringify(rest)) : null);
    })),
    goal.status === "planned"
      ? may.has("run")
        ? h("p", {}, h("button", { class: "primary", onclick: confirm, "data-test": "goal-confirm" }, "Confirm and run"))
        : h("p", { class: "muted" }, "Someone whose role grants 'run' confirms it.")
      : null,
  );
}

function run(goal) {
  const artifacts = Array.isArray(goal.artifacts) ? goal.artifacts : goal.artifacts?.items || [];
  return h(
    "section",
    { class: "card", "data-test": "goal-run" },
    h("h2", {}, "Run"),
    h("p", {}, h("a", { href: `#/runs/${encodeURIComponent(goal.run_id)}` }, goal.run_id), " ", badge(goal.run_status || goal.status), goal.run_mode ? ` · ${goal.run_mode}` : "",
      goal.current_step ? ` · at ${goal.current_step}` : ""),
    goal.waiting_for?.length ? h("p", { class: "muted" }, `Waiting for: ${goal.waiting_for.map((w) => (typeof w === "string" ? w : JSON.stringify(w))).join(", ")}`) : null,
    artifacts.length
      ? h("ul", { class: "plain", "data-test": "goal-artifacts" }, artifacts.map((a) => h("li", {}, `${a.name}: ${a.signature} (${a.outcome || a.status || ""})`)))
      : null,
  );
}
