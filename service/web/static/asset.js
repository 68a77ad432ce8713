// One asset: a chart per sensor over the chosen range, with the limits in force and findings shaded.
"use strict";

(() => {
  const { api, ASSET_STATUS_TEXT, assetStatus, el, fmtNumber, fmtTime, readings, showError, UNITS, words } = Faultline;
  const name = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  const range = document.getElementById("range");
  const SENSORS = ["vibration_rms", "bearing_temp", "motor_current"];

  document.getElementById("asset-title").textContent = name;
  document.title = `${name} · Faultline`;

  function renderFacts(asset) {
    const facts = [["Site", asset.site], ["Status", ASSET_STATUS_TEXT[assetStatus(asset)] + (asset.worst_severity ? ` (finding: ${asset.worst_severity})` : "")],
                   ["Open work orders", String(asset.open_work_orders)], ["Class", asset.asset_class],
                   ["Criticality", asset.criticality]].filter(([, v]) => v);
    document.getElementById("asset-facts").replaceChildren(
      el("dl", { class: "facts" }, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  }

  /** Shaded spans on a sensor's chart: the detectors' findings and the evidence of work orders. */
  function marksFor(sensor, findings, orders) {
    const ms = (t) => (t ? new Date(t).getTime() : null);
    return [
      ...findings.filter((f) => f.sensor === sensor).map((f) => ({ start: ms(f.started_at), end: ms(f.ended_at),
                                                                   label: words(f.fault_mode) })),
      ...orders.flatMap((o) => o.evidence.filter((e) => e.sensor === sensor).map((e, i) => ({
        start: ms(e.readings.window_start || e.started_at), end: ms(e.readings.window_end || e.ended_at),
        label: i ? "" : `${o.number} ${words(o.fault_mode)}` }))),
    ];
  }

  async function renderCharts(asset, findings, orders) {
    const end = Date.now(), start = end - Number(range.value) * 1000;
    const sent = asset.latest.map((r) => r.sensor).filter((s) => s !== "accel");
    const sensors = sent.length ? sent : SENSORS;
    const box = document.getElementById("charts");
    box.replaceChildren();
    for (const sensor of sensors) {
      const chart = el("div", { class: "chart-box", dataset: { sensor } });
      box.append(el("div", { class: "card" }, el("h3", {}, words(sensor), " ", el("span", { class: "muted" }, UNITS[sensor] || "")), chart));
      try {
        const { points, limits } = await readings(name, sensor, start, end);
        Charts.line(chart, { series: [{ name: sensor, points }], thresholds: limits, marks: marksFor(sensor, findings, orders),
                             unit: UNITS[sensor], range: [start, end], label: `${sensor} of ${name}` });
      } catch (err) {
        chart.textContent = `Readings not available: ${err.message}`;
      }
    }
  }

  function renderOrders(orders) {
    document.getElementById("orders").replaceChildren(orders.length
      ? el("ul", {}, orders.map((o) => el("li", {}, el("a", { href: `/work-orders/${o.id}` }, o.number), " ",
          el("span", { class: `badge ${o.priority}` }, o.priority), ` ${words(o.fault_mode)} · ${words(o.status)}`)))
      : el("p", { class: "muted" }, "No open work orders."));
  }

  function renderFindings(findings) {
    const box = document.getElementById("findings");
    if (!findings.length) { box.replaceChildren(el("p", { class: "muted" }, "No findings for this asset.")); return; }
    box.replaceChildren(el("table", {},
      el("thead", {}, el("tr", {}, ["Started", "Ended", "Sensor", "Fault", "Severity", "Detector / rule", "Peak"].map((h) => el("th", {}, h)))),
      el("tbody", {}, findings.map((f) => el("tr", {},
        el("td", {}, fmtTime(f.started_at)), el("td", {}, f.ended_at ? fmtTime(f.ended_at) : "active"),
        el("td", {}, words(f.sensor)), el("td", {}, words(f.fault_mode)),
        el("td", {}, el("span", { class: `badge ${f.severity}` }, f.severity)),
        el("td", {}, `${f.detector} / ${f.rule}`), el("td", { class: "num" }, fmtNumber(f.evidence?.max)))))));
  }

  async function load() {
    let asset, findings, orders;
    try {
      [asset, findings, orders] = await Promise.all([
        api(`/assets/${encodeURIComponent(name)}`), api("/findings", { query: { asset: name, limit: 200 } }),
        api("/work-orders", { query: { asset: name } })]);
      orders = orders.filter((o) => o.status !== "closed"); // as the asset's open_work_orders counts them
    } catch (err) {
      showError(err, `Asset ${name}`);
      return;
    }
    renderFacts(asset);
    renderOrders(orders);
    renderFindings(findings);
    await renderCharts(asset, findings, orders);
  }

  range.addEventListener("change", load);
  document.getElementById("reload").addEventListener("click", load);
  load();
})();
