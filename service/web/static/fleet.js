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
        el("dd", { class: "nowrap" }, `${fmtNumber(r.value)} ${UNITS[r.sensor] || ""}`)])),
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

  filter.addEventListener("change", render);
  load();
  // Readings change all the time: refresh every 10 s, and at once when a finding or an order changes.
  setInterval(load, 10000);
  liveEvents((event) => { if (event && event.type !== "readings") load(); }, { pollMs: 10000 });
})();
