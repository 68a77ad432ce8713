// The work-order queue: ordered by the next SLA deadline, counting down every second, kept live.
"use strict";

(() => {
  const { actOnOrder, api, el, fmtCountdown, fmtTime, liveEvents, serverNow, showError, syncClock, words } = Faultline;
  const body = document.querySelector("#queue tbody");
  const show = document.getElementById("show");
  let orders = [];

  const DONE = new Set(["resolved", "closed"]);

  /** The target an order is racing now — the response until acknowledged, then the resolution —
   *  as `{verb, due}` (due in epoch ms), or null when it has none left. */
  function racing(order) {
    if (DONE.has(order.status)) return null;
    if (order.status === "open" && order.response_due) return { verb: "respond", due: Date.parse(order.response_due) };
    return order.resolution_due ? { verb: "resolve", due: Date.parse(order.resolution_due) } : null;
  }

  function byTimeLeft(a, b) {
    const da = racing(a)?.due ?? Infinity, db = racing(b)?.due ?? Infinity;
    return da - db || a.id - b.id;
  }

  function countdownCell(order) {
    if (order.status === "on_hold") return el("td", { class: "num countdown paused c-left", dataset: { due: "" } }, "on hold");
    return el("td", { class: "num countdown c-left", dataset: { due: racing(order)?.due ?? "" } });
  }

  function tick() {
    const now = serverNow();
    for (const cell of body.querySelectorAll("td.countdown")) {
      if (!cell.dataset.due) { if (!cell.textContent) cell.textContent = "—"; continue; }
      const left = (Number(cell.dataset.due) - now) / 1000;
      cell.textContent = fmtCountdown(left);
      cell.classList.toggle("overdue", left < 0);
      cell.classList.toggle("soon", left >= 0 && left < 3600);
    }
  }

  function row(order) {
    const target = racing(order);
    const acknowledge = order.status === "open"
      ? el("button", { type: "button", class: "secondary", onclick: () => act(order, "acknowledge") }, "Acknowledge")
      : null;
    return el("tr", { dataset: { orderId: order.id, status: order.status } },
      el("td", { class: "nowrap c-number" }, el("a", { href: `/work-orders/${order.id}` }, order.number)),
      el("td", { class: "c-priority" }, el("span", { class: `badge ${order.priority}` }, order.priority)),
      el("td", { class: "nowrap c-asset" }, el("a", { href: `/assets/${encodeURIComponent(order.asset)}` }, order.asset)),
      el("td", { class: "c-fault" }, words(order.fault_mode)),
      el("td", { class: "c-status" }, el("span", { class: `badge ${order.status}` }, words(order.status))),
      el("td", { class: "hide-narrow" }, order.assignee || "—"),
      el("td", { class: "hide-narrow" }, target ? `${target.verb} by ${fmtTime(target.due)}` : "—"),
      countdownCell(order),
      el("td", { class: "c-act" }, acknowledge));
  }

  function render() {
    const shown = show.value === "all" ? orders : orders.filter((o) => !DONE.has(o.status));
    body.replaceChildren(...[...shown].sort(byTimeLeft).map(row));
    if (!shown.length) body.append(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No work orders.")));
    tick();
  }

  let asked = 0;

  async function load() {
    const mine = ++asked;
    try {
      const data = await api("/work-orders");
      if (mine !== asked) return; // a newer answer is on its way (button and event stream both ask)
      orders = data;
      syncClock(orders.find((o) => o.sla)?.sla);
      render();
    } catch (err) {
      showError(err, "Loading work orders");
    }
  }

  async function act(order, action) {
    if (await actOnOrder(order, action)) await load();
  }

  show.addEventListener("change", render);
  setInterval(tick, 1000);
  load();
  // Any change to an order (or a poll while the event stream is down) reloads the queue.
  liveEvents((event) => { if (!event || event.type === "work_order") load(); });
})();
