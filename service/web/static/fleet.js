// Fleet overview: one card per asset with its status and latest readings.
"use strict";

(() => {
  const { api, el, fmtNumber, fmtTime, liveEvents, showError, words } = Faultline;
  const box = document.getElementById("fleet");
  const filter = document.getElementById("status-filter");
  const UNITS = { vibration_rms: "mm/s", bearing_temp: "°C", motor_current: "A" };
  const STATUS_TEXT = { ok: "ok", finding: "finding", work_order: "work order open" };
  let assets = [];

  /** Latest readings as [[sensor, {ts, value}]], whichever shape the API gives them in. */
  function latestOf(asset) {
    const latest = asset.latest || asset.latest_readings || {};
    if (Array.isArray(latest)) return latest.map((r) => [r.sensor, r]);
    return Object.entries(latest).map(([sensor, r]) => [sensor, typeof r === "number" ? { value: r } : r]);
  }

  function card(asset) {
    const status = asset.status || "ok";
    const readings = latestOf(asset).filter(([sensor]) => sensor !== "accel");
    return el("a", { class: "card asset-card", href: `/assets/${encodeURIComponent(asset.asset)}`,
                     dataset: { asset: asset.asset, status }, style: "text-decoration:none;color:inherit" },
      el("h3", {}, asset.asset, " ", el("span", { class: `badge ${status}` }, STATUS_TEXT[status] || words(status))),
      el("p", { class: "muted", style: "margin:0 0 0.4rem" }, [asset.site, asset.criticality && `criticality ${asset.criticality}`,
                                                               asset.asset_class].filter(Boolean).join(" · ")),
      el("dl", { class: "facts" }, readings.flatMap(([sensor, r]) => [
        el("dt", {}, words(sensor)),
        el("dd", { title: fmtTime(r.ts) }, `${fmtNumber(r.value)} ${UNITS[sensor] || ""}`)])),
      readings.length ? null : el("p", { class: "muted" }, "no readings yet"));
  }

  function render() {
    const shown = filter.value ? assets.filter((a) => (a.status || "ok") === filter.value) : assets;
    box.replaceChildren(...shown.map(card));
    if (!shown.length) box.append(el("p", { class: "muted" }, assets.length ? "No asset matches." : "No assets yet."));
  }

  async function load() {
    try {
      const data = await api("/assets");
      assets = Array.isArray(data) ? data : data.items || [];
      render();
    } catch (err) {
      showError(err, "Loading the fleet");
    }
  }

  filter.addEventListener("change", render);
  load();
  // Readings change all the time: refresh on order and finding events, and every 10 s regardless.
  setInterval(load, 10000);
  liveEvents((event) => { if (event) load(); }, { pollMs: 10000 });
})();
