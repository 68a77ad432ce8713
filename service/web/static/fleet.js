// Fleet overview: one card per asset with its status and latest readings.
"use strict";

(() => {
  const { api, ASSET_STATUS_TEXT, assetStatus, el, fmtNumber, fmtTime, liveEvents, showError, UNITS, words } = Faultline;
  const box = document.getElementById("fleet");
  const filter = document.getElementById("status-filter");
  let assets = [];


  const URGENCY = { work_order: 0, finding: 1, ok: 2 };
  const byUrgency = (a, b) => URGENCY[assetStatus(a)] - URGENCY[assetStatus(b)] || a.asset.localeCompare(b.asset);

  function card(asset) {
    const status = assetStatus(asset);
    const readings = asset.latest.filter((r) => r.sensor !== "accel");
    const newest = readings.reduce((t, r) => (r.ts > t ? r.ts : t), "");
    const orders = asset.open_work_orders;
    return el("a", { class: "card asset-card", href: `/assets/${encodeURIComponent(asset.asset)}`,
                     dataset: { asset: asset.asset, status } },
      el("h3", {}, asset.asset, " ", el("span", { class: `badge ${status}` },
                                        status === "work_order" && orders > 1 ? `${orders} work orders open` : ASSET_STATUS_TEXT[status])),
      el("p", { class: "muted" }, [asset.site, asset.criticality && `criticality ${asset.criticality}`,
                                   asset.asset_class].filter(Boolean).join(" · ")),
      el("dl", { class: "facts" }, readings.flatMap((r) => [
        el("dt", {}, words(r.sensor)),
        el("dd", { class: "nowrap", dataset: { sensor: r.sensor } }, `${fmtNumber(r.value)} ${UNITS[r.sensor] || ""}`)])),
      el("p", { class: "muted small" }, newest ? `last reading ${fmtTime(newest)}` : "no readings yet"));
  }

  function render() {
    const shown = filter.value ? assets.filter((a) => assetStatus(a) === filter.value) : assets;
    box.replaceChildren(...[...shown].sort(byUrgency).map(card));
    if (!shown.length) box.append(el("p", { class: "muted" }, assets.length ? "No asset matches." : "No assets yet."));
  }

  async function load() {
    try {
      assets = await api("/assets");
      render();
    } catch (err) {
      showError(err, "Loading the fleet");
    }
  }

  /** Newest readings from the event stream, written into the cards (at most one redraw a second). */
  let redraw = null;
  function takeReadings(readings) {
    for (const r of readings) {
      const asset = assets.find((a) => a.asset === r.asset);
      if (!asset) continue;
      const known = asset.latest.find((x) => x.sensor === r.sensor);
      if (known) Object.assign(known, { ts: r.ts, value: r.value });
      else asset.latest.push({ sensor: r.sensor, ts: r.ts, value: r.value });
    }
    redraw ||= setTimeout(() => { redraw = null; render(); }, 1000);
  }

  filter.addEventListener("change", render);
  load();
  // Readings arrive on the event stream; a finding or an order change reloads the statuses at once,
  // and everything is reloaded every 30 s (every 10 s while the stream is down).
  setInterval(load, 30000);
  liveEvents((event) => {
    if (!event) load();
    else if (event.type === "readings") takeReadings(event.data.readings);
    else load();
  }, { pollMs: 10000 });
})();
