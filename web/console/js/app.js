// The console's shell: sign-in with a dev token and a hash router over the pages.
import { token } from "./api.js";
import { h, errorBox, clearFlash } from "./ui.js";
import { playbooksPage } from "./pages/playbooks.js";
import { exceptionsPage } from "./pages/exceptions.js";
import { searchPage } from "./pages/search.js";
import { runsPage } from "./pages/runs.js";
import { catalogPage } from "./pages/catalog.js";
import { insightsPage } from "./pages/insights.js";
import { goalsPage } from "./pages/goals.js";
import { templatesPage } from "./pages/templates.js";

const PAGES = {
  catalog: catalogPage,
  runs: runsPage,
  playbooks: playbooksPage,
  insights: insightsPage,
  exceptions: exceptionsPage,
  search: searchPage,
  goals: goalsPage,
  templates: templatesPage,
};

function signIn(view) {
  const input = h("textarea", { id: "token", "data-test": "token", placeholder: "eyJhbGciOi…", rows: 4 });
  const submit = (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    token.set(input.value);
    route();
  };
  view.replaceChildren(
    h(
      "form",
      { class: "card", onsubmit: submit },
      h("h1", {}, "Sign in"),
      h("p", { class: "muted" }, "Paste a dev token: ", h("code", {}, "playbooks token --org ORG"),
        " (or the one `make dev` prints). It stays in this tab only."),
      input,
      h("p", {}, h("button", { class: "primary", type: "submit", "data-test": "sign-in" }, "Sign in")),
    ),
  );
}

function header() {
  const claims = token.claims();
  const who = document.getElementById("who");
  if (!claims) return who.replaceChildren();
  const out = () => {
    token.clear();
    route();
  };
  who.replaceChildren(
    `${claims.sub || "?"} @ ${token.org() || "?"} `,
    h("button", { onclick: out, "data-test": "sign-out" }, "Sign out"),
  );
}

async function route() {
  const view = document.getElementById("view");
  delete view.dataset.ready;
  clearFlash();
  header();
  // "#/runs?status=failed": the part after "?" is the page's own filters, not a path segment.
  const [name = "playbooks", ...rest] = location.hash.replace(/^#\/?/, "").split("?")[0].split("/").filter(Boolean);
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === name);
  if (!token.get()) return signIn(view);
  const page = PAGES[name];
  view.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    if (!page) throw new Error(`no page ${name}`);
    await page(view, rest.map(decodeURIComponent));
  } catch (err) {
    view.replaceChildren(errorBox(err));
  }
  view.dataset.ready = name;
}

window.addEventListener("hashchange", route);
route();
