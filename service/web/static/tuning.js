// Tuning: the detector configuration in force, a proposal edited as a form (or JSON), its backtest
// preview against the configuration in force, then apply; every version listed, with roll back.
"use strict";

(() => {
  const { api, el, fmtTime, fmtNumber, showError, showMessage, clearMessage, words } = Faultline;
  const proposalBox = document.getElementById("proposal");
  const preview = document.getElementById("preview");
  let proposal = null;      // the configuration being edited (plain JSON)
  let backtested = null;    // the version number the preview shows

  // ---- the configuration as a form -------------------------------------------------------------
  // Only numbers and on/off switches are offered here; everything else is in the JSON below.
  function numberInput(holder, key, label, onChange = () => {}) {
    return el("span", { class: "field" }, el("label", {}, label),
      el("input", { type: "number", step: "any", value: holder[key], "data-key": key, style: "width:6.5rem",
                    oninput: (e) => { holder[key] = e.target.value === "" ? null : Number(e.target.value); onChange(); syncJson(); } }));
  }

  function checkRow(className, checkName, check) {
    const params = Object.entries(check.params || {}).filter(([, v]) => typeof v === "number");
    const rule = check.rule || {};
    return el("tr", { dataset: { check: `${className}.${checkName}` } },
      el("td", {}, el("strong", {}, checkName), el("div", { class: "muted" }, `${words(check.sensor)} · ${check.detector}`)),
      el("td", {}, el("div", { class: "row" }, params.map(([k]) => numberInput(check.params, k, k)))),
      el("td", {}, el("div", { class: "row" },
        typeof rule.alarm === "number" ? numberInput(rule, "alarm", "alarm") : null,
        typeof rule.clear === "number" ? numberInput(rule, "clear", "clear") : null,
        typeof rule.min_duration === "number" ? numberInput(rule, "min_duration", "min s") : null)),
      el("td", {}, el("label", {}, el("input", { type: "checkbox", checked: check.enabled !== false,
        onchange: (e) => { check.enabled = e.target.checked; syncJson(); } }), " on")));
  }

  function renderForm() {
    const form = document.getElementById("proposal-form");
    const zones = Object.entries(proposal.iso_20816_zones || {});
    const rows = Object.entries(proposal.classes || {}).flatMap(([className, cls]) => {
      const checks = Object.entries(cls.checks || {});
      return checks.length ? [el("tr", {}, el("th", { colspan: 4 }, `class ${className}`)),
                              ...checks.map(([name, check]) => checkRow(className, name, check))] : [];
    });
    form.replaceChildren(...[
      zones.length ? el("div", { class: "card" }, el("h3", {}, "ISO 20816 zone limits (mm/s RMS)"),
        ...zones.map(([group, z]) => el("div", { class: "row", style: "margin-bottom:0.4rem" },
          el("span", { style: "min-width:7rem" }, group),
          numberInput(z, "ab", "A/B"), numberInput(z, "bc", "B/C"), numberInput(z, "cd", "C/D")))) : null,
      el("table", {}, el("thead", {}, el("tr", {}, ["Check", "Detector parameters", "Alert rule", ""].map((h) => el("th", {}, h)))),
         el("tbody", {}, rows))].filter(Boolean));
  }

  function syncJson() {
    proposalBox.value = JSON.stringify(proposal, null, 2);
    preview.hidden = true; // a preview belongs to the configuration it was run on
  }

  proposalBox.addEventListener("change", () => {
    try {
      proposal = JSON.parse(proposalBox.value);
      renderForm();
      preview.hidden = true;
      clearMessage();
    } catch (err) {
      showMessage(`The configuration is not valid JSON: ${err.message}`, "error");
    }
  });

  // ---- what is in force, and the versions ------------------------------------------------------
  async function loadCurrent() {
    try {
      const detectors = await api("/detectors");
      const v = detectors.current;
      document.getElementById("current").replaceChildren(el("dl", { class: "facts" },
        el("dt", {}, "Version"), el("dd", { id: "current-version" }, `v${v.number}`),
        el("dt", {}, "Applied"), el("dd", {}, `${fmtTime(v.applied_at)} by ${v.author}`),
        el("dt", {}, "Note"), el("dd", {}, v.note || "—"),
        el("dt", {}, "Checks"), el("dd", {}, detectors.checks.join(", ")),
        el("dt", {}, "Shadow mode"), el("dd", { id: "shadow-state" }, detectors.shadow
          ? [`v${detectors.shadow} runs beside it `, el("button", { type: "button", class: "secondary", onclick: stopShadow }, "Stop shadow mode")]
          : "off")));
      proposal = structuredClone(v.config);
      renderForm();
      syncJson();
      await loadShadowFindings(detectors.shadow);
    } catch (err) {
      showError(err, "Loading the detector configuration");
    }
  }

  async function loadShadowFindings(shadow) {
    const box = document.getElementById("shadow-findings");
    if (!shadow) { box.replaceChildren(); return; }
    const findings = await api("/findings", { query: { shadow: true, limit: 20 } });
    box.replaceChildren(el("h4", {}, `What v${shadow} would have reported (newest first)`), findings.length
      ? el("ul", {}, findings.map((f) => el("li", {}, `${fmtTime(f.started_at)} ${f.asset} · ${words(f.sensor)} · `,
                                             `${words(f.fault_mode)} (${f.severity}, rule ${f.rule})`)))
      : el("p", { class: "muted" }, "Nothing yet."));
  }

  async function loadVersions() {
    try {
      const versions = await api("/detectors/versions");
      document.getElementById("versions").replaceChildren(el("table", {},
        el("thead", {}, el("tr", {}, ["Version", "Status", "Note", "By", "Created", "Applied"].map((h) => el("th", {}, h)))),
        el("tbody", {}, [...versions].reverse().map((v) => el("tr", { dataset: { version: v.number } },
          el("td", {}, `v${v.number}`), el("td", {}, el("span", { class: `badge ${v.status === "applied" ? "ok" : ""}` }, v.status)),
          el("td", {}, v.note || "—"), el("td", {}, v.author), el("td", {}, fmtTime(v.created_at)),
          el("td", {}, fmtTime(v.applied_at)))))),
        el("div", { class: "actions", style: "margin-top:0.6rem" },
          el("button", { type: "button", class: "secondary", id: "rollback", onclick: rollback }, "Roll back to the previous version")));
    } catch (err) {
      showError(err, "Loading the versions");
    }
  }

  // ---- propose, backtest, apply ----------------------------------------------------------------
  function comparison(result) {
    const { current: now, proposed: next } = result;
    const line = (key, label, a, b, digits = 0) => {
      const change = b - a;
      // fewer findings, orders and SLA hours is not always better (a missed fault is worse): no colours
      return el("tr", { dataset: { measure: key } }, el("td", {}, label), el("td", { class: "num" }, fmtNumber(a, digits)),
                el("td", { class: "num" }, fmtNumber(b, digits)),
                el("td", { class: "num" }, `${change > 0 ? "+" : ""}${fmtNumber(change, digits)}`));
    };
    const modes = [...new Set([...Object.keys(now.findings_by_fault_mode), ...Object.keys(next.findings_by_fault_mode)])];
    return el("table", { class: "compare", id: "backtest-table" },
      el("thead", {}, el("tr", {}, el("th", {}, ""), el("th", { class: "num" }, `in force (${now.config_version})`),
                         el("th", { class: "num" }, `proposed (${next.config_version})`), el("th", { class: "num" }, "change"))),
      el("tbody", {},
        line("findings", "Findings", now.findings, next.findings),
        ...modes.map((m) => line(m, `· ${words(m)}`, now.findings_by_fault_mode[m] || 0, next.findings_by_fault_mode[m] || 0)),
        line("work_orders", "Work orders", now.work_order_count, next.work_order_count),
        line("sla_hours", "SLA hours committed", now.sla_hours, next.sla_hours, 1)));
  }

  function orderList(title, orders) {
    if (!orders.length) return null;
    return el("div", {}, el("h4", {}, title), el("ul", {}, orders.map((o) =>
      el("li", {}, `${o.priority} ${o.asset} · ${words(o.fault_mode)} (opened ${fmtTime(o.opened_at)}, ${o.findings} finding${o.findings === 1 ? "" : "s"})`))));
  }

  async function runBacktest() {
    clearMessage();
    const button = document.getElementById("backtest");
    button.disabled = true;
    button.textContent = "Running…";
    try {
      const config = JSON.parse(proposalBox.value);
      const version = await api("/detectors/proposals", { method: "POST",
        body: { config, note: document.getElementById("note").value } });
      const end = new Date(), start = new Date(end.getTime() - Number(document.getElementById("backtest-hours").value) * 3600e3);
      const result = await api(`/detectors/proposals/${version.number}/backtest`, { method: "POST",
        body: { start: start.toISOString(), end: end.toISOString() } });
      backtested = version.number;
      document.getElementById("preview-body").replaceChildren(...[
        el("p", { class: "muted" }, `${result.readings.toLocaleString()} stored readings of ${result.series} series, `,
           `${fmtTime(result.start)} to ${fmtTime(result.end)}, replayed through both configurations.`),
        comparison(result),
        orderList("Work orders only the proposal would open", result.only_proposed),
        orderList("Work orders only the configuration in force opens", result.only_current)].filter(Boolean));
      document.getElementById("apply").textContent = `Apply v${version.number}`;
      preview.hidden = false;
      loadVersions();
    } catch (err) {
      showError(err, "Backtest");
    } finally {
      button.disabled = false;
      button.textContent = "Run backtest";
    }
  }

  async function apply() {
    clearMessage();
    try {
      const v = await api(`/detectors/proposals/${backtested}/apply`, { method: "POST" });
      showMessage(`v${v.number} is now in force.`, "ok");
      preview.hidden = true;
      await Promise.all([loadCurrent(), loadVersions()]);
    } catch (err) {
      showError(err, `Applying v${backtested}`);
    }
  }

  async function startShadow() {
    clearMessage();
    try {
      await api(`/detectors/proposals/${backtested}/shadow`, { method: "POST" });
      showMessage(`v${backtested} now runs in shadow mode; it opens no work orders.`, "ok");
      preview.hidden = true;
      await Promise.all([loadCurrent(), loadVersions()]);
    } catch (err) {
      showError(err, `Shadow mode for v${backtested}`);
    }
  }

  async function stopShadow() {
    clearMessage();
    try {
      await api("/detectors/shadow", { method: "DELETE" });
      showMessage("Shadow mode stopped.", "ok");
      await Promise.all([loadCurrent(), loadVersions()]);
    } catch (err) {
      showError(err, "Stopping shadow mode");
    }
  }

  async function rollback() {
    clearMessage();
    try {
      const v = await api("/detectors/rollback", { method: "POST" });
      showMessage(`Rolled back: v${v.number} is in force again.`, "ok");
      await Promise.all([loadCurrent(), loadVersions()]);
    } catch (err) {
      showError(err, "Roll back");
    }
  }

  document.getElementById("backtest").addEventListener("click", runBacktest);
  document.getElementById("apply").addEventListener("click", apply);
  document.getElementById("shadow").addEventListener("click", startShadow);
  loadCurrent();
  loadVersions();
})();
