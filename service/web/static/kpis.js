// KPI charts: MTTA and MTTR, SLA compliance and first-time fix, false alarms per rule, the backlog.
"use strict";

(() => {
  const { api, el, fmtDuration, showError } = Faultline;
  const period = document.getElementById("period");
  const pct = (v) => (v === null || v === undefined ? "—" : `${Number(v).toFixed(0)} %`);
  // Shares where more is better get a green bar at 90 % or above, amber from 75 %, red below.
  const shareKind = (v) => (v === null || v === undefined ? "" : v >= 90 ? "good" : v >= 75 ? "warn" : "bad");

  function headline(k) {
    const cards = [["Orders opened", k.orders_opened], ["MTTA", fmtDuration(k.mtta_hours === null ? null : k.mtta_hours * 3600)],
                   ["MTTR", fmtDuration(k.mttr_hours === null ? null : k.mttr_hours * 3600)],
                   ["SLA resolution", pct(k.sla_resolution_compliance_pct)]];
    document.getElementById("headline").replaceChildren(...cards.map(([label, value]) =>
      el("div", { class: "card" }, el("div", { class: "muted" }, label), el("div", { class: "kpi-value", style: "font-size:1.8rem;font-weight:700" }, value))));
  }

  function render(k) {
    headline(k);
    const hours = (h) => (h === null || h === undefined ? null : h);
    Charts.bars(document.getElementById("times"), {
      label: "mean time to acknowledge and to resolve, hours",
      bars: [{ label: "MTTA", value: hours(k.mtta_hours), text: fmtDuration(k.mtta_hours === null ? null : k.mtta_hours * 3600) },
             { label: "MTTR", value: hours(k.mttr_hours), text: fmtDuration(k.mttr_hours === null ? null : k.mttr_hours * 3600) }],
    });
    Charts.bars(document.getElementById("shares"), {
      label: "SLA compliance and first-time fix, percent", max: 100,
      bars: [["SLA response", k.sla_response_compliance_pct], ["SLA resolution", k.sla_resolution_compliance_pct],
             ["First-time fix", k.first_time_fix_rate_pct]].map(([label, v]) => ({ label, value: v, text: pct(v), kind: shareKind(v) })),
    });
    Charts.bars(document.getElementById("false-alarms"), {
      label: "false-alarm rate per detector rule, percent", max: 100,
      bars: (k.false_alarm_rate_by_rule || []).map((r) => ({
        label: `${r.detector} / ${r.rule}`, value: r.false_alarm_rate_pct, text: pct(r.false_alarm_rate_pct),
        kind: r.false_alarm_rate_pct > 25 ? "bad" : "good" })),
    });
    const backlog = k.backlog || {};
    const rows = Object.entries(backlog).map(([priority, ages]) => ({
      label: priority, value: Object.values(ages).reduce((a, b) => a + b, 0),
      text: Object.entries(ages).filter(([, n]) => n).map(([age, n]) => `${n} ${age}`).join(", ") || "0",
      kind: priority === "P1" ? "bad" : priority === "P2" ? "warn" : "" }));
    Charts.bars(document.getElementById("backlog"), { label: "unresolved orders by priority", bars: rows });
  }

  async function load() {
    const end = new Date(), start = new Date(end.getTime() - Number(period.value) * 86400e3);
    try {
      render(await api("/kpis", { query: { since: start.toISOString(), until: end.toISOString() } }));
    } catch (err) {
      showError(err, "Loading KPIs");
    }
  }

  period.addEventListener("change", load);
  load();
})();
