// The work-order queue: ordered by the next SLA deadline, counting down every second, kept live.
"use strict";

(() => {
  const { actOnOrder, api, el, fmtCountdown, fmtTime, liveEvents, showError, words } = Faultline;
  const body = document.querySelector("#queue tbody");
  const show = document.getElementById("show");
  let orders = [];

  const DONE = new Set(["resolved", "closed"]);

  /** The deadline an order is racing now: the response until acknowledged, then the resolution. */
  function nextDeadline(order) {
    if (DONE.has(order.status)) return null;
    const due = order.status === "open" && order.response_due ? order.response_due : order.resolution_due;
    return due ? new Date(due).getTime() : null;
  }

  function byTimeLeft(a, b) {
    const da = nextDeadline(a), db = nextDeadline(b);
    if (da === null && db === null) return (a.id ?? 0) - (b.id ?? 0);
    if (da === null) return 1;
    if (db === null) return -1;
    return da - db;
  }

  function countdownCell(order) {
    const due = nextDeadline(order);
    const cell = el("td", { class: "num countdown", dataset: { due: due ?? "" } });
    if (order.status === "on_hold") {
      cell.classList.add("paused");
      cell.dataset.due = "";
      cell.textContent = "on hold";
    }
    return cell;
  }

  function tick() {
    const now = Date.now();
    for (const cell of body.querySelectorAll("td.countdown")) {
      if (!cell.dataset.due) { if (!cell.textContent) cell.textContent = "—"; continue; }
      const left = (Number(cell.dataset.due) - now) / 1000;
      cell.textContent = fmtCountdown(left);
      cell.classList.toggle("overdue", left < 0);
      cell.classList.toggle("soon", left >= 0 && left < 3600);
    }
  }

  function row(order) {
    const acknowledge = order.status === "open"
      ? el("button", { type: "button", class: "secondary", onclick: () => act(order, "acknowledge") }, "Acknowledge")
      : null;
    const due = order.status === "open" && order.response_due ? order.response_due : order.resolution_due;
    return el("tr", { dataset: { orderId: order.id, status: order.status } },
      el("td", { class: "nowrap" }, el("a", { href: `/work-orders/${order.id}` }, order.number)),
      el("td", {}, el("span", { class: `badge ${order.priority}` }, order.priority)),
      el("td", { class: "nowrap" }, el("a", { href: `/assets/${encodeURIComponent(order.asset)}` }, order.asset)),
      el("td", { class: "hide-narrow" }, words(order.fault_mode)),
      el("td", {}, el("span", { class: `badge ${order.status}` }, words(order.status))),
      el("td", { class: "hide-narrow" }, order.assignee || "—"),
      el("td", { class: "hide-narrow" }, DONE.has(order.status) ? "—" : `${order.status === "open" && order.response_due ? "respond" : "resolve"} by ${fmtTime(due)}`),
      countdownCell(order),
      el("td", {}, acknowledge));
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
  // Any change to an order (or a poll when the event stream is down) reloads the queue.
  liveEvents((event) => { if (!event || String(event.type).includes("order") || event.data?.order) load(); });
})();
