// Dead letters: what ingest could not decode or store, with the reason; replay after a fix.
"use strict";

(() => {
  const { api, clearMessage, el, fmtTime, showError, showMessage } = Faultline;
  const box = document.getElementById("dead-letters");
  const stage = document.getElementById("stage");
  const PREVIEW = 160; // characters of the payload shown in the table; the whole text is in the tooltip

  function row(record) {
    const preview = record.payload.length > PREVIEW ? `${record.payload.slice(0, PREVIEW)}…` : record.payload;
    return el("tr", { dataset: { id: record.id } },
      el("td", { class: "nowrap" }, fmtTime(record.received_at)),
      el("td", {}, record.stage),
      el("td", {}, el("code", {}, record.topic)),
      el("td", {}, record.reason),
      el("td", { class: "hide-narrow" }, el("code", { title: record.payload }, preview),
         el("div", { class: "muted small" }, `${record.payload_bytes} bytes`)),
      el("td", {}, record.stage === "decode"
        ? el("button", { type: "button", class: "secondary", onclick: () => replay(record) }, "Replay")
        : null));
  }

  async function load() {
    try {
      const records = await api("/dead-letters", { query: { stage: stage.value, limit: 500 } });
      box.replaceChildren(records.length
        ? el("table", {}, el("thead", {}, el("tr", {}, ["Received", "Stage", "Topic", "Reason", "Payload", ""].map((h, i) =>
            el("th", { class: i === 4 ? "hide-narrow" : null }, h)))), el("tbody", {}, records.map(row)))
        : el("p", { class: "muted" }, "No dead letters."));
    } catch (err) {
      showError(err, "Loading dead letters");
    }
  }

  async function replay(record) {
    clearMessage();
    try {
      const result = await api(`/dead-letters/${record.id}/replay`, { method: "POST" });
      if (result.replayed) showMessage(`Dead letter ${record.id} replayed: ${result.detail}.`, "ok");
      else showMessage(`Dead letter ${record.id} still fails: ${result.detail}`, "error");
      await load();
    } catch (err) {
      showError(err, `Replaying dead letter ${record.id}`);
    }
  }

  stage.addEventListener("change", load);
  document.getElementById("reload").addEventListener("click", load);
  load();
})();
