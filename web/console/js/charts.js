// Pictures in plain SVG (no library, no build step): the step timeline of a run and runs per day.
// Every label goes in as a text node, like the rest of the console.

const NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== undefined && value !== null) el.setAttribute(key, value);
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const ms = (value) => (value ? new Date(value).getTime() : NaN);

export function duration(millis) {
  if (!Number.isFinite(millis) || millis < 0) return "";
  if (millis < 1000) return `${Math.round(millis)} ms`;
  const s = millis / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// One row per step from the trace: its start, end, status, attempts and the time it waited for people
// (from the step's first `waiting` record to its end, for a step a human completed). The step still
// open (waiting or running) ends "now".
export function timelineRows(trace, run, now = Date.now()) {
  const waitingSince = new Map();
  const rows = [];
  for (const record of trace) {
    if (record.event === "waiting" && record.step_id && !waitingSince.has(record.step_id)) waitingSince.set(record.step_id, ms(record.at));
    if (record.event === "step_result" && record.result) {
      const r = record.result;
      const start = ms(r.started_at);
      const end = ms(r.ended_at);
      const waitFrom = waitingSince.get(r.step_id);
      const waited = r.actor === "human" && Number.isFinite(waitFrom) ? Math.max(0, end - Math.max(waitFrom, start)) : 0;
      rows.push({ step: r.step_id, status: r.status, start, end, attempts: r.attempts ?? 1, actor: r.actor, waited, error: r.error });
      waitingSince.delete(r.step_id);
    }
  }
  const open = run && !["passed", "failed", "planned", "cancelled", "rejected"].includes(run.status);
  if (open && run.current_step && !rows.some((r) => r.step === run.current_step && r.status === "passed")) {
    const from = waitingSince.get(run.current_step);
    const lastEnd = rows.length ? rows[rows.length - 1].end : ms(run.created_at);
    const start = Number.isFinite(lastEnd) ? lastEnd : from;
    rows.push({
      step: run.current_step,
      status: run.status,
      start,
      end: now,
      attempts: 0,
      actor: run.status === "waiting" ? "human" : "engine",
      waited: Number.isFinite(from) ? Math.max(0, now - from) : 0,
      open: true,
    });
  }
  return rows;
}

// The Gantt-like strip: a lane per step, the bar from its start to its end, the part spent waiting for
// people hatched, attempts and duration at the right.
export function stepTimeline(trace, run) {
  const rows = timelineRows(trace, run);
  if (!rows.length) return null;
  const t0 = Math.min(...rows.map((r) => r.start).filter(Number.isFinite));
  const t1 = Math.max(t0 + 1, ...rows.map((r) => r.end).filter(Number.isFinite));
  const label = 150;
  const right = 170;
  const width = 760;
  const lane = 26;
  const plot = width - label - right;
  const x = (t) => label + (Number.isFinite(t) ? ((t - t0) / (t1 - t0)) * plot : 0);
  const height = rows.length * lane + 28;
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    svg("g", {},
      svg("line", { x1: label + f * plot, x2: label + f * plot, y1: 0, y2: rows.length * lane, class: "grid" }),
      svg("text", { x: label + f * plot, y: rows.length * lane + 16, "text-anchor": "middle", class: "axis" }, `+${duration(f * (t1 - t0)) || "0 ms"}`)),
  );
  const lanes = rows.map((r, i) => {
    const y = i * lane + 5;
    const bx = x(r.start);
    const bw = Math.max(3, x(r.end) - bx);
    const took = r.end - r.start;
    const parts = [r.step, r.status, `started ${new Date(r.start).toLocaleTimeString()}`, `took ${duration(took)}`,
      `attempts ${r.attempts}`, r.waited ? `waited for people ${duration(r.waited)}` : null, r.error].filter(Boolean);
    const wx = r.waited ? x(r.end) - Math.min(bw, (r.waited / (t1 - t0)) * plot) : null;
    return svg("g", { "data-step": r.step, "data-status": r.status, "data-attempts": r.attempts, "data-waited-ms": Math.round(r.waited), class: `lane ${r.open ? "open" : ""}` },
      svg("title", {}, parts.join(" · ")),
      svg("text", { x: label - 8, y: y + 13, "text-anchor": "end", class: "step" }, r.step.length > 20 ? `${r.step.slice(0, 19)}…` : r.step),
      svg("rect", { x: bx, y, width: bw, height: lane - 10, rx: 3, class: `bar ${r.status}` }),
      r.waited ? svg("rect", { x: wx, y, width: x(r.end) - wx, height: lane - 10, rx: 3, class: "wait", "data-test": "wait" }) : null,
      svg("text", { x: label + plot + 8, y: y + 13, class: "axis" },
        `${duration(took)}${r.attempts > 1 ? ` · ${r.attempts} attempts` : ""}${r.waited ? ` · waited ${duration(r.waited)}` : ""}`),
    );
  });
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", class: "chart timeline-chart", "data-test": "step-timeline", role: "img",
    "aria-label": "Step timeline" },
  svg("defs", {}, svg("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
    svg("rect", { width: 6, height: 6, fill: "#fff1cc" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#d69e2e", "stroke-width": 3 }))),
  grid, lanes);
}

export const STATUS_COLOURS = {
  success: "#127a3d", passed: "#127a3d", completed: "#127a3d",
  failed: "#b42318", rejected: "#b42318",
  skipped: "#98a2b3", cancelled: "#667085", planned: "#c7ccd6",
  pending: "#d69e2e", waiting: "#d69e2e", running: "#2f5bd3",
};

// Stacked bars, one per day: days = [{day: "2026-12-03", counts: {status: n}}], oldest first.
export function dayChart(days, statuses) {
  const width = 760;
  const height = 220;
  const left = 34;
  const bottom = 34;
  const top = 10;
  const plotH = height - bottom - top;
  const totals = days.map((d) => statuses.reduce((n, s) => n + (d.counts[s] || 0), 0));
  const max = Math.max(1, ...totals);
  const step = (width - left - 10) / Math.max(1, days.length);
  const bw = Math.max(3, step * 0.7);
  const y = (n) => top + plotH - (n / max) * plotH;
  const ticks = [...new Set([0, Math.ceil(max / 2), max])];
  const labelEvery = Math.ceil(days.length / 10);
  return svg("svg", { viewBox: `0 0 ${width} ${height + 22}`, width: "100%", class: "chart", "data-test": "day-chart", role: "img", "aria-label": "Runs per day by status" },
    ticks.map((t) => svg("g", {}, svg("line", { x1: left, x2: width - 10, y1: y(t), y2: y(t), class: "grid" }),
      svg("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end", class: "axis" }, t))),
    days.map((d, i) => {
      let acc = 0;
      const bx = left + i * step + (step - bw) / 2;
      return svg("g", { "data-day": d.day, "data-total": totals[i] },
        svg("title", {}, `${d.day}: ${statuses.filter((s) => d.counts[s]).map((s) => `${d.counts[s]} ${s}`).join(", ") || "no runs"}`),
        statuses.map((s) => {
          const n = d.counts[s] || 0;
          if (!n) return null;
          const rect = svg("rect", { x: bx, y: y(acc + n), width: bw, height: y(acc) - y(acc + n), fill: STATUS_COLOURS[s] || "#2f5bd3", "data-status": s, "data-count": n });
          acc += n;
          return rect;
        }),
        i % labelEvery === 0 ? svg("text", { x: bx + bw / 2, y: height - bottom + 16, "text-anchor": "middle", class: "axis" }, d.day.slice(5)) : null);
    }),
    statuses.map((s, i) => svg("g", {},
      svg("rect", { x: left + i * 110, y: height + 6, width: 10, height: 10, fill: STATUS_COLOURS[s] || "#2f5bd3" }),
      svg("text", { x: left + i * 110 + 14, y: height + 15, class: "axis" }, s))),
  );
}
