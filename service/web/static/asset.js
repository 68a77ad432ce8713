// One asset: a chart per sensor over the chosen range, with the limits in force and findings shaded.
"use strict";

(() => {
  const { api, el, fmtNumber, fmtTime, readingLimits, readingPoints, showError, words } = Faultline;
  const name = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  const range = document.getElementById("range");
  const SENSORS = ["vibration_rms", "bearing_temp", "motor_current"];
  const UNITS = { vibration_rms: "mm/s", bearing_temp: "°C", motor_current: "A" };

  document.getElementById("asset-title").textContent = name;
  document.title = `${name} · Faultline`;

  function renderFacts(asset) {
    const facts = [["Site", asset.site], ["Status", words(asset.status || "ok")], ["Class", asset.asset_class],
                   ["Criticality", asset.criticality]].filter(([, v]) => v);
    document.getElementById("asset-facts").replaceChildren(
      el("dl", { class: "facts" }, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  }

  /** The limits in force per sensor, from the asset's detector checks: {sensor: [{label, value}]}. */
  function limitsBySensor(asset) {
    const out = {};
    for (const check of asset.checks || asset.thresholds || []) {
      (out[check.sensor] ||= []).push(...readingLimits(check.params || check.thresholds || check));
    }
    return out;
  }

  async function renderCharts(asset, findings) {
    const end = Date.now(), start = end - Number(range.value) * 1000;
    const sensors = (asset.sensors || SENSORS).filter((s) => s !== "accel");
    const limits = limitsBySensor(asset);
    const box = document.getElementById("charts");
    box.replaceChildren();
    for (const sensor of sensors) {
      const chart = el("div", { class: "chart-box", dataset: { sensor } });
      box.append(el("div", { class: "card" }, el("h3", {}, words(sensor), " ", el("span", { class: "muted" }, UNITS[sensor] || "")), chart));
      try {
        const points = await readingPoints(name, sensor, start, end);
        const marks = findings.filter((f) => f.sensor === sensor).map((f) => ({
          start: new Date(f.started_at).getTime(), end: f.ended_at ? new Date(f.ended_at).getTime() : null,
          label: words(f.fault_mode) }));
        Charts.line(chart, { series: [{ name: sensor, points }], thresholds: limits[sensor] || [], marks,
                             unit: UNITS[sensor], range: [start, end], label: `${sensor} of ${name}` });
      } catch (err) {
        chart.textContent = `Readings not available: ${err.message}`;
      }
    }
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
    let asset, findings;
    try {
      asset = await api(`/assets/${encodeURIComponent(name)}`);
      const data = await api("/findings", { query: { asset: name, limit: 200 } });
      findings = Array.isArray(data) ? data : data.items || [];
    } catch (err) {
      showError(err, `Asset ${name}`);
      return;
    }
    renderFacts(asset);
    renderFindings(findings);
    await renderCharts(asset, findings);
  }

  range.addEventListener("change", load);
  document.getElementById("reload").addEventListener("click", load);
  load();
})();
