// Small DOM helpers: elements are built with textContent, never from HTML strings.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function badge(status, text) {
  const s = String(status ?? "unknown").toLowerCase();
  return h("span", { class: `badge ${s}`, "data-test": "badge" }, text ?? s);
}

export function errorBox(err) {
  return h("div", { class: "error", "data-test": "error" }, err?.message || String(err));
}

export function flash(message, kind = "error") {
  const box = document.getElementById("flash");
  box.replaceChildren(h("div", { class: kind === "error" ? "error" : "note", "data-test": kind }, message));
}

export function clearFlash() {
  document.getElementById("flash").replaceChildren();
}

export function pretty(value) {
  return h("pre", {}, JSON.stringify(value, null, 2));
}

export function when(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString();
}

// Runs an async action from a button, disabling it meanwhile; errors go to the flash area.
export function action(fn) {
  return async (event) => {
    const button = event?.currentTarget;
    if (button) button.disabled = true;
    clearFlash();
    try {
      await fn(event);
    } catch (err) {
      flash(err.message || String(err));
    } finally {
      if (button && button.isConnected) button.disabled = false;
    }
  };
}

// Horizontal bars (pure CSS): rows of [label, value, class].
export function bars(rows) {
  const max = Math.max(1, ...rows.map((r) => r[1]));
  return h(
    "div",
    { class: "bars" },
    rows.map(([label, value, cls]) => [
      h("span", {}, label),
      h("div", {}, h("div", { class: `bar ${cls || ""}`, style: `width:${(100 * value) / max}%` })),
      h("span", { class: "muted" }, value),
    ]),
  );
}

export function openModal(...content) {
  const modal = document.getElementById("modal");
  const close = () => {
    modal.hidden = true;
    modal.replaceChildren();
  };
  const card = h(
    "div",
    { class: "card", "data-test": "modal" },
    h("div", { class: "row" }, h("span", { class: "grow" }), h("button", { onclick: close, "data-test": "close" }, "Close")),
    ...content,
  );
  modal.replaceChildren(card);
  modal.hidden = false;
  return { card, close };
}

// A control for something the signed-in user's permissions do not cover is not shown at all.
export function allowed(granted, permission, control) {
  return granted && !granted.has(permission) ? null : control;
}

// Replaces an element's children, leaving out the null/false of conditional parts (the DOM's own
// replaceChildren would show them as the text "null").
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}
