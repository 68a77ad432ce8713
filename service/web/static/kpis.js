// KPIs: headline figures for the period, weekly columns per KPI, false alarms per rule, the backlog.
"use strict";

(() => {
  const { api, el, fmtDuration, showError, words } = Faultline;
  const weeksSelect = document.getElementById("weeks");
  const WEEK = 7 * 86400e3;
  const pct = (v) => (v === null || v === undefined ? "—" : `${Number(v).toFixed(0)} %`);
  const hours = (h) => (h === null || h === undefined ? "—" : fmtDuration(h * 3600));
  // Shares where more is better: green from 90 %, amber from 75 %, red below.
  const shareKind = (v) => (v >= 90 ? "good" : v >= 75 ? "warn" : "bad");
  const weekLabel = new Intl.DateTimeFormat(undefined, { day: "2-digit", month: "short" });

  /** False alarms (incl. no fault found) per judged close-out over every rule, in percent. */
  function falseAlarmRate(k) {
    let bad = 0, judged = 0;
    for (const r of k.false_alarm_rate_by_rule || []) {
      const o = r.outcomes || {};
      bad += (o.false_alarm || 0) + (o.no_fault_found || 0);
      judged += (o.false_alarm || 0) + (o.no_fault_found || 0) + (o.fault_confirmed || 0);
    }
    return judged ? (100 * bad) / judged : null;
  }

  function headline(k) {
    const cards = [["Orders opened", k.orders_opened], ["MTTA", hours(k.mtta_hours)], ["MTTR", hours(k.mttr_hours)],
                   ["SLA resolution", pct(k.sla_resolution_compliance_pct)], ["First-time fix", pct(k.first_time_fix_rate_pct)],
                   ["Waiting for parts", k.parts_wait ? hours(k.parts_wait.hours) : "—"]];
    document.getElementById("headline").replaceChildren(...cards.map(([label, value]) =>
      el("div", { class: "card" }, el("div", { class: "muted" }, label), el("div", { class: "kpi-value" }, value))));
  }

  function weekly(weeks) {
    const labels = weeks.map((w) => weekLabel.format(w.start));
    const draw = (id, values, format, options = {}) =>
      Charts.columns(document.getElementById(id), { labels, values, format, label: id, ...options });
    const ks = weeks.map((w) => w.kpis);
    draw("mtta", ks.map((k) => k.mtta_hours), hours);
    draw("mttr", ks.map((k) => k.mttr_hours), hours);
    const share = { max: 100, kind: shareKind };
    draw("sla-response", ks.map((k) => k.sla_response_compliance_pct), pct, share);
    draw("sla-resolution", ks.map((k) => k.sla_resolution_compliance_pct), pct, share);
    draw("first-time-fix", ks.map((k) => k.first_time_fix_rate_pct), pct, share);
    draw("false-alarm", ks.map(falseAlarmRate), pct, { max: 100, kind: (v) => (v > 25 ? "bad" : "good") });
  }

  function whole(k) {
    headline(k);
    Charts.bars(document.getElementById("false-alarms"), {
      label: "false-alarm rate per detector rule, percent", max: 100, labelWidth: 320,
      bars: (k.false_alarm_rate_by_rule || []).map((r) => ({
        label: `${r.detector} / ${r.rule}`, value: r.false_alarm_rate_pct, text: pct(r.false_alarm_rate_pct),
        kind: r.false_alarm_rate_pct > 25 ? "bad" : "good" })),
    });
    const rows = Object.entries(k.backlog || {}).map(([priority, ages]) => ({
      label: priority, value: Object.values(ages).reduce((a, b) => a + b, 0),
      text: Object.entries(ages).filter(([, n]) => n).map(([age, n]) => `${n} × ${age}`).join(", ") || "0",
      kind: priority === "P1" ? "bad" : priority === "P2" ? "warn" : "" }));
    Charts.bars(document.getElementById("backlog"), { label: "unresolved orders by priority and age", bars: rows });
    const repeats = k.repeat_failures || [];
    document.getElementById("repeats").replaceChildren(repeats.length
      ? el("table", {}, el("thead", {}, el("tr", {}, ["Asset", "Occurrences", "Fault modes", ""].map((h) => el("th", {}, h)))),
          el("tbody", {}, repeats.map((r) => el("tr", {}, el("td", {}, r.asset), el("td", { class: "num" }, r.occurrences),
            el("td", {}, Object.entries(r.fault_modes).map(([m, n]) => `${words(m)} ${n}`).join(", ")),
            el("td", {}, r.needs_root_cause_analysis ? el("span", { class: "badge critical" }, "root-cause analysis") : "")))))
      : el("p", { class: "muted" }, "No repeat failures."));
  }

  async function load() {
    const end = Date.now(), count = Number(weeksSelect.value);
    const weeks = Array.from({ length: count }, (_, i) => ({ start: end - (count - i) * WEEK, end: end - (count - i - 1) * WEEK }));
    const period = (a, b) => api("/kpis", { query: { since: new Date(a).toISOString(), until: new Date(b).toISOString() } });
    try {
      const [all, ...perWeek] = await Promise.all([period(weeks[0].start, end), ...weeks.map((w) => period(w.start, w.end))]);
      whole(all);
      weekly(weeks.map((w, i) => ({ ...w, kpis: perWeek[i] })));
    } catch (err) {
      showError(err, "Loading KPIs");
    }
  }

  weeksSelect.addEventListener("change", load);
  load();
})();
