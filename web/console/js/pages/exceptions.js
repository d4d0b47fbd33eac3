// Exception detail (exception-playbook): recommended playbook, its steps, actions, and the timeline.
import { api, listOf, token } from "../api.js";
import { h, badge, action, when, errorBox } from "../ui.js";

const EP = "exception-playbook";

export async function exceptionsPage(view, [exceptionId]) {
  const input = h("input", { "data-test": "exception-id", placeholder: "exception id", value: exceptionId || "", size: 40 });
  const go = (event) => {
    event.preventDefault();
    if (input.value.trim()) location.hash = `#/exceptions/${encodeURIComponent(input.value.trim())}`;
  };
  const picker = h("form", { class: "row", onsubmit: go }, input, h("button", { type: "submit" }, "Open"));
  if (!exceptionId) return view.replaceChildren(h("h1", {}, "Exceptions"), h("div", { class: "card" }, picker));
  const body = h("div", {});
  view.replaceChildren(h("h1", {}, "Exception"), picker, body);
  await exceptionDetail(body, exceptionId);
}

const isPlaybookEvent = (e) => /playbook|step/i.test(e.event_type ?? e.type ?? e.kind ?? "");

async function exceptionDetail(root, id) {
  const base = `/api/exceptions/${encodeURIComponent(id)}`;
  const reload = async () => {
    const [exc, playbook, events] = await Promise.all([
      api(EP, base),
      api(EP, `${base}/playbook`).catch((err) => err),
      api(EP, `${base}/events`).catch((err) => err),
    ]);
    const step = (order, verb) =>
      action(async (event) => {
        const notes = event.currentTarget.closest("li").querySelector("input")?.value || undefined;
        const body = { actor_type: "human", actor_id: token.claims()?.sub || "console", notes };
        await api(EP, `${base}/playbook/steps/${order}/${verb}`, { method: "POST", body });
        await reload();
      });
    const recalc = action(async () => {
      await api(EP, `${base}/playbook/recalculate`, { method: "POST" });
      await reload();
    });
    root.replaceChildren(
      h("div", { class: "card" },
        h("strong", {}, exc.title ?? exc.summary ?? exc.exception_type ?? id), " ", badge(exc.status),
        h("div", { class: "muted" }, [exc.domain, exc.exception_type, exc.severity && `severity ${exc.severity}`,
          exc.sla_deadline && `SLA ${when(exc.sla_deadline)}`].filter(Boolean).join(" · "))),
      h("div", { class: "grid2" },
        h("div", { class: "card", "data-test": "playbook-panel" },
          h("div", { class: "row" }, h("h2", { class: "grow" }, "Recommended Playbook"),
            h("button", { onclick: recalc, "data-test": "recalculate" }, "Recalculate playbook")),
          playbook instanceof Error ? errorBox(playbook) : playbookPanel(playbook, step)),
        h("div", {}, h("h2", {}, "Timeline"), events instanceof Error ? errorBox(events) : timeline(listOf(events, "events")))),
    );
  };
  await reload();
}

function playbookPanel(pb, step) {
  if (!pb || (!pb.playbook_id && !pb.name && !pb.steps)) return h("p", { class: "muted" }, pb?.reasoning ?? "No playbook matches this exception.");
  const current = pb.current_step ?? pb.current_step_order;
  const steps = pb.steps || [];
  return h("div", {},
    h("p", {}, h("strong", { "data-test": "playbook-name" }, pb.name ?? pb.playbook_name ?? pb.playbook_id), ` v${pb.version ?? "?"}`),
    pb.reasoning ? h("p", { class: "muted" }, typeof pb.reasoning === "string" ? pb.reasoning : JSON.stringify(pb.reasoning)) : null,
    h("ol", { class: "steps", "data-test": "steps" },
      steps.map((s) => {
        const order = s.step_order ?? s.order;
        const isCurrent = current !== undefined && current !== null && (current === order || current?.step_order === order);
        const open = s.status === "pending";
        return h("li", { class: isCurrent ? "current" : "", "data-step": order },
          badge(s.status), h("strong", {}, `${order}. ${s.title ?? s.name ?? s.action_type}`),
          h("span", { class: "muted grow" }, s.action_type ?? s.action?.type ?? ""),
          open && isCurrent ? [h("input", { placeholder: "notes", size: 12 }),
            h("button", { class: "primary", onclick: step(order, "complete"), "data-test": "complete" }, "Mark completed"),
            h("button", { onclick: step(order, "skip"), "data-test": "skip" }, "Skip")] : null);
      })),
  );
}

function timeline(events) {
  if (!events.length) return h("p", { class: "muted" }, "No events yet.");
  return h("ol", { class: "timeline", "data-test": "timeline" },
    events.map((e) => h("li", { class: isPlaybookEvent(e) ? "marked" : "" },
      h("span", { class: "what" }, e.event_type ?? e.type ?? e.kind ?? "event"),
      h("span", { class: "muted" }, "  ", when(e.created_at ?? e.at ?? e.occurred_at)),
      e.actor_id || e.actor ? h("div", { class: "muted" }, `by ${e.actor_type ?? ""} ${e.actor_id ?? e.actor}`) : null)));
}
