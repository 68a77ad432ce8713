// One work order: its facts and SLA, the evidence chart, the actions, comments and history.
"use strict";

(() => {
  const {
    actOnOrder, api, el, fmtCountdown, fmtTime, liveEvents, readingLimits, readings, serverNow, showError, syncClock,
    UNITS, words,
  } = Faultline;
  const orderId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  let order = null;
  let stepsOf = { role: "", steps: {} };

  /** The API's SLA status in words: how much of each target is used (in the policy's business time). */
  function slaText(sla) {
    if (!sla) return "—";
    const part = (name, t) => (t ? `${name} ${t.met_at ? "met" : `${Math.round(t.percent)} % used`}${t.breached ? " (breached)" : ""}` : null);
    const parts = [part("response", sla.response), part("resolution", sla.resolution)].filter(Boolean);
    return parts.join(" · ") + (sla.paused ? " — clock stopped while on hold" : "");
  }

  /** The two SLA clocks, large: time left to respond and to resolve, and how much of each is used. */
  function clock(label, due, met, target) {
    const used = target && !met ? ` · ${Math.round(target.percent)} % used` : "";
    const state = met ? el("span", { class: "badge ok" }, `met ${fmtTime(met)}`)
      : due ? el("span", { class: "countdown big", dataset: { due: new Date(due).getTime() } }) : el("span", { class: "muted" }, "no target");
    return el("div", { class: "clock" }, el("div", { class: "clock-label" }, label), state,
              el("div", { class: "muted small" }, due ? `due ${fmtTime(due)}${used}` : ""));
  }

  function renderClocks() {
    const responded = order.acknowledged_at || order.resolved_at;
    document.getElementById("clocks").replaceChildren(
      clock("Respond", order.response_due, responded, order.sla?.response),
      clock("Resolve", order.resolution_due, order.resolved_at, order.sla?.resolution));
  }

  function renderFacts() {
    document.getElementById("order-title").textContent = `${order.number} · ${order.asset} · ${words(order.fault_mode)}`;
    document.title = `${order.number} · Faultline`;
    const hold = order.status === "on_hold" && order.holds?.length ? order.holds[order.holds.length - 1] : null;
    document.getElementById("facts-list").replaceChildren(
      el("dt", {}, "Status"), el("dd", {}, el("span", { class: `badge ${order.status}`, id: "order-status" }, words(order.status)),
                                 hold ? ` (${words(hold.reason)}${hold.parts?.length ? `: ${hold.parts.join(", ")}` : ""} since ${fmtTime(hold.start)}; SLA clock stopped)` : ""),
      el("dt", {}, "Priority"), el("dd", {}, el("span", { class: `badge ${order.priority}` }, order.priority), ` ${words(order.service_type)}`),
      el("dt", {}, "Asset"), el("dd", {}, el("a", { href: `/assets/${encodeURIComponent(order.asset)}` }, order.asset), ` at ${order.site}`),
      el("dt", {}, "Assignee"), el("dd", {}, order.assignee || "nobody yet"),
      el("dt", {}, "Opened"), el("dd", {}, fmtTime(order.opened_at)),
      el("dt", {}, "SLA"), el("dd", { id: "sla-state" }, slaText(order.sla)),
      el("dt", {}, "Outcome"), el("dd", {}, order.outcome ? `${words(order.outcome)} ${order.outcome_notes || ""}` : "—"));
    tick();
  }

  // The steps ticketing would let this token take now: those its role may not take stay visible but
  // marked, with the reason, so the engineer knows whom to ask; those the status rules out are hidden.
  function renderActions(steps) {
    document.getElementById("actions").hidden = false;
    document.getElementById("more-actions").hidden = false;
    const shown = (action) => steps[action] && steps[action].refused_by !== "status";
    const refused = [];
    for (const button of document.querySelectorAll("button[data-action]")) {
      const step = steps[button.dataset.action];
      button.hidden = !shown(button.dataset.action);
      const byRole = step && step.refused_by === "role";
      button.classList.toggle("not-allowed", byRole);
      button.title = byRole ? step.reason : "";
      if (byRole) refused.push(step.reason);
    }
    document.getElementById("hold-row").hidden = !shown("hold");
    document.getElementById("resolve-row").hidden = !shown("resolve");
    document.getElementById("engineer").hidden = !shown("assign");
    const note = document.getElementById("not-allowed");
    note.hidden = !refused.length;
    note.textContent = refused.length ? `Not for your role (${stepsOf.role}): ${refused.join("; ")}` : "";
  }

  /** The engineers of the order's site, least loaded first, as the assign list. */
  async function loadEngineers() {
    const select = document.getElementById("engineer");
    try {
      const engineers = await api("/engineers", { query: { site: order.site } });
      engineers.sort((a, b) => a.open_orders - b.open_orders || a.name.localeCompare(b.name));
      select.replaceChildren(...engineers.map((e) => el("option", { value: e.name, selected: e.name === order.assignee },
        `${e.name} (${words(e.role)}, ${e.open_orders} open)`)));
    } catch (err) {
      select.replaceChildren(el("option", { value: "" }, "engineers not available"));
    }
  }

  function tick() {
    const paused = order && order.status === "on_hold";
    for (const span of document.querySelectorAll(".countdown")) {
      if (!span.dataset.due) continue;
      span.classList.toggle("paused", paused);
      if (paused) { span.textContent = "paused (on hold)"; continue; }
      const left = (Number(span.dataset.due) - serverNow()) / 1000;
      span.textContent = fmtCountdown(left);
      span.classList.toggle("overdue", left < 0);
      span.classList.toggle("soon", left >= 0 && left < 3600);
    }
  }

  async function renderEvidenceChart() {
    const box = document.getElementById("evidence-chart");
    const first = order.evidence?.[0];
    if (!first) { box.textContent = "This order has no findings attached."; return; }
    const starts = order.evidence.map((e) => new Date(e.readings?.window_start || e.started_at).getTime());
    const ends = order.evidence.map((e) => new Date(e.readings?.window_end || e.ended_at || e.received_at).getTime());
    const a = Math.min(...starts), b = Math.max(...ends);
    const margin = Math.max((b - a) * 0.5, 15 * 60e3); // context before and after the window
    try {
      const { points } = await readings(order.asset, first.sensor, a - margin, b + margin);
      Charts.line(box, {
        series: [{ name: first.sensor, points }],
        thresholds: readingLimits(first.thresholds), // the limits when the finding was made
        marks: order.evidence.map((e, i) => ({ start: starts[i], end: ends[i], label: i ? "" : words(e.severity) })),
        unit: UNITS[first.sensor] || first.sensor, label: `${first.sensor} of ${order.asset} around the finding`,
      });
    } catch (err) {
      box.textContent = `Readings not available: ${err.message}`;
    }
  }

  function renderEvidence() {
    const rows = (order.evidence || []).map((e) => el("tr", {},
      el("td", {}, fmtTime(e.started_at)), el("td", {}, e.sensor), el("td", {}, el("span", { class: `badge ${e.severity}` }, e.severity)),
      el("td", {}, `${e.detector} ${e.detector_version}`), el("td", {}, e.rule),
      el("td", { class: "hide-narrow" }, summary(e.readings))));
    document.getElementById("evidence").replaceChildren(el("table", {},
      el("thead", {}, el("tr", {}, ["Started", "Sensor", "Severity", "Detector", "Rule", "Readings"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)));
  }

  function summary(readings) {
    return ["min", "mean", "max", "n"].filter((k) => readings?.[k] !== undefined)
      .map((k) => `${k} ${typeof readings[k] === "number" ? +readings[k].toFixed(2) : readings[k]}`).join(", ");
  }

  function renderComments() {
    const list = order.comments || [];
    const files = (i) => (order.attachments || []).filter((a) => a.comment === i + 1).map((a) => ` [file: ${a.name}]`).join("");
    document.getElementById("comments").replaceChildren(list.length
      ? el("table", {}, el("tbody", {}, list.map((c, i) => el("tr", {}, el("td", {}, `#${i + 1} ${fmtTime(c.at)}`),
        el("td", {}, c.author), el("td", {}, c.text, files(i))))))
      : el("p", { class: "muted" }, "No comments."));
  }

  /** Parts needed and used; a needed part gets a button to record it as fitted. */
  function renderParts() {
    const list = order.parts || [];
    const canUse = stepsOf.steps.use_part?.allowed;
    document.getElementById("parts").replaceChildren(list.length
      ? el("table", {}, el("thead", {}, el("tr", {}, ["Part", "Qty", "Description", "State", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, list.map((p) => el("tr", { dataset: { part: p.number, state: p.state } },
          el("td", { class: "nowrap" }, p.number), el("td", { class: "num" }, String(+p.quantity.toFixed(3))),
          el("td", {}, p.description), el("td", {}, el("span", { class: `badge ${p.state === "used" ? "ok" : "P2"}` }, p.state)),
          el("td", {}, p.state === "needed" && canUse
            ? el("button", { type: "button", class: "secondary", onclick: () => useP(p.number) }, "Fitted") : null)))))
      : el("p", { class: "muted" }, "No parts yet."));
    document.getElementById("part-form").hidden = !stepsOf.steps.add_part?.allowed;
  }

  async function useP(number) {
    if (await actOnOrder(order, "use_part", { number })) await load();
  }

  const KB = 1024;
  const fmtBytes = (n) => (n >= KB * KB ? `${(n / KB / KB).toFixed(1)} MB` : `${Math.ceil(n / KB)} kB`);
  const thumbs = new Map(); // attachment id -> object URL of its thumbnail (fetched with the token)

  async function blobUrl(path) {
    const response = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${Faultline.token()}` } });
    if (!response.ok) throw new Error(`${response.status}`);
    return URL.createObjectURL(await response.blob());
  }

  async function open(a) {
    window.open(await blobUrl(`/work-orders/${orderId}/attachments/${a.id}`), "_blank");
  }

  /** Photos as thumbnails, videos and documents as named tiles; each opens the file. */
  function renderAttachments() {
    const list = order.attachments || [];
    const box = document.getElementById("attachments");
    box.replaceChildren(...list.map((a) => {
      const img = el("img", { alt: a.name, class: "thumb" });
      const tile = el("button", { type: "button", class: `tile ${a.kind}`, dataset: { attachmentId: a.id },
                                  title: `${a.name} · ${fmtBytes(a.size)} · sha256 ${a.sha256.slice(0, 12)}…`,
                                  onclick: () => open(a).catch((err) => showError(err, a.name)) },
        a.thumbnail_key ? img : el("span", { class: "tile-kind" }, a.kind),
        el("span", { class: "tile-name" }, `${a.comment ? `#${a.comment} · ` : ""}${a.name}`));
      if (a.thumbnail_key) {
        const cached = thumbs.get(a.id);
        if (cached) img.src = cached;
        else blobUrl(`/work-orders/${orderId}/attachments/${a.id}/thumbnail`)
          .then((url) => { thumbs.set(a.id, url); img.src = url; }).catch(() => { img.alt = `${a.name} (no preview)`; });
      }
      return tile;
    }));
    if (!list.length) box.replaceChildren(el("p", { class: "muted" }, "No photos or files yet."));
    const to = document.getElementById("attach-to");
    const chosen = to.value;
    to.replaceChildren(el("option", { value: "" }, "to the order"),
      ...(order.comments || []).map((c, i) => el("option", { value: i + 1 }, `to comment ${i + 1}: ${c.text.slice(0, 30)}`)));
    to.value = chosen;
  }

  /** Send the chosen file as the request body; the server reads its type from the bytes. */
  async function upload(file) {
    const state = document.getElementById("attach-state");
    state.textContent = `Sending ${file.name} (${fmtBytes(file.size)})…`;
    const query = new URLSearchParams({ name: file.name });
    const comment = document.getElementById("attach-to").value;
    if (comment) query.set("comment", comment);
    try {
      const response = await fetch(`/api/v1/work-orders/${orderId}/attachments?${query}`, {
        method: "POST", body: file, headers: { Authorization: `Bearer ${Faultline.token()}` } });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Faultline.ApiError(response.status, body.detail || response.statusText);
      state.textContent = `${file.name} attached.`;
      await load();
    } catch (err) {
      state.textContent = "";
      showError(err, `Attaching ${file.name}`);
    }
  }

  /** The service report, once the order is resolved: fetched with the token, then saved or shown. */
  function renderReport() {
    document.getElementById("report").hidden = !["resolved", "closed"].includes(order.status);
  }

  async function fetchReport(kind) {
    try {
      const url = await blobUrl(`/work-orders/${orderId}/report.${kind}`);
      if (kind === "html") { window.open(url, "_blank"); return; }
      const link = el("a", { href: url, download: `${order.number}-service-report.pdf` });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (err) {
      showError(err, "Service report");
    }
  }

  document.getElementById("report-pdf").addEventListener("click", () => fetchReport("pdf"));
  document.getElementById("report-html").addEventListener("click", () => fetchReport("html"));

  document.getElementById("attach-file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) upload(file).finally(() => { event.target.value = ""; });
  });

  async function renderHistory() {
    try {
      const entries = await api(`/work-orders/${orderId}/audit`);
      document.getElementById("history").replaceChildren(el("table", {},
        el("thead", {}, el("tr", {}, ["When", "Who", "What"].map((h) => el("th", {}, h)))),
        el("tbody", {}, entries.map((e) => el("tr", {}, el("td", {}, fmtTime(e.at)), el("td", {}, e.actor),
                                                    el("td", {}, words(e.action)))))));
    } catch (err) {
      document.getElementById("history").textContent = `History not available: ${err.message}`;
    }
  }

  async function load() {
    let fetched, steps;
    try {
      [fetched, steps] = await Promise.all([api(`/work-orders/${orderId}`), api(`/work-orders/${orderId}/steps`)]);
    } catch (err) {
      showError(err, `Work order ${orderId}`);
      return;
    }
    // a button and the event stream may both ask; an answer overtaken by a newer one is dropped
    if (order && fetched.version < order.version) return;
    order = fetched;
    stepsOf = steps;
    syncClock(order.sla);
    renderClocks();
    renderFacts();
    renderActions(steps.steps);
    renderEvidence();
    renderComments();
    renderAttachments();
    renderParts();
    renderReport();
    renderHistory();
    renderEvidenceChart();
    loadEngineers();
  }

  // What each button sends besides the action itself.
  const ARGUMENTS = {
    hold: () => ({ reason: document.getElementById("hold-reason").value }),
    resolve: () => ({ outcome: document.getElementById("outcome").value,
                      notes: document.getElementById("outcome-notes").value }),
    comment: () => ({ text: document.getElementById("comment-text").value }),
    add_part: () => ({ number: document.getElementById("part-number").value,
                       quantity: Number(document.getElementById("part-quantity").value) || 1,
                       description: document.getElementById("part-description").value }),
    assign: () => ({ engineer: document.getElementById("engineer").value }),
  };

  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", async () => {
      const action = button.dataset.action;
      button.disabled = true;
      const changed = await actOnOrder(order, action, (ARGUMENTS[action] || (() => ({})))());
      button.disabled = false;
      if (changed) {
        if (action === "comment") document.getElementById("comment-text").value = "";
        if (action === "add_part") for (const id of ["part-number", "part-description"]) document.getElementById(id).value = "";
        await load();
      }
    });
  }

  setInterval(tick, 1000);
  load();
  liveEvents((event) => {
    if (!event || (event.type === "work_order" && String(event.data.id) === String(orderId))) load();
  });
})();
