// Fleet overview: one card per asset with its status and latest readings.
"use strict";

(() => {
  const { api, ASSET_STATUS_TEXT, assetStatus, el, fmtNumber, fmtTime, liveEvents, showError, UNITS, words } = Faultline;
  const box = document.getElementById("fleet");
  const filter = document.getElementById("status-filter");
  let assets = [];


  function card(asset) {
    const status = assetStatus(asset);
    const readings = asset.latest.filter((r) => r.sensor !== "accel");
    return el("a", { class: "card asset-card", href: `/assets/${encodeURIComponent(asset.asset)}`,
                     dataset: { asset: asset.asset, status }, style: "text-decoration:none;color:inherit" },
      el("h3", {}, asset.asset, " ", el("span", { class: `badge ${status}` }, ASSET_STATUS_TEXT[status] || words(status))),
      el("p", { class: "muted", style: "margin:0 0 0.4rem" }, [asset.site, asset.criticality && `criticality ${asset.criticality}`,
                                                               asset.asset_class].filter(Boolean).join(" · ")),
      el("dl", { class: "facts" }, readings.flatMap((r) => [
        el("dt", {}, words(r.sensor)),
        el("dd", { title: fmtTime(r.ts) }, `${fmtNumber(r.value)} ${UNITS[r.sensor] || ""}`)])),
      readings.length ? null : el("p", { class: "muted" }, "no readings yet"));
  }

  function render() {
    const shown = filter.value ? assets.filter((a) => assetStatus(a) === filter.value) : assets;
    box.replaceChildren(...shown.map(card));
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
