// Small inline-SVG charts: a time-series line chart (thresholds, marked spans) and a bar chart.
"use strict";

const Charts = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = ["#1f6fb2", "#c2571a", "#2e8b57", "#8a4fb3", "#a0522d"];

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** About `count` round tick values covering [lo, hi]. */
  function niceTicks(lo, hi, count = 5) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / count;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
    return ticks;
  }

  const MINUTE = 60e3, HOUR = 3600e3, DAY = 86400e3;
  const TIME_STEPS = [MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR,
                      12 * HOUR, DAY, 2 * DAY, 7 * DAY];

  /** Tick instants on whole minutes, hours or days of local time, about `count` of them. */
  function timeTicks(t0, t1, count = 6) {
    const step = TIME_STEPS.find((s) => (t1 - t0) / s <= count) || 7 * DAY;
    // align to local wall-clock time: midnight for days, the hour otherwise
    const offset = new Date(t0).getTimezoneOffset() * MINUTE;
    const first = Math.ceil((t0 - offset) / step) * step + offset;
    const ticks = [];
    for (let t = first; t <= t1; t += step) ticks.push(t);
    return ticks;
  }

  const hourMinute = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const dayMonth = new Intl.DateTimeFormat(undefined, { day: "2-digit", month: "short" });

  function timeLabel(ms, spanMs) {
    return (spanMs > 2 * DAY ? dayMonth : hourMinute).format(new Date(ms));
  }

  /**
   * A line chart of readings over time.
   *
   * spec.series: [{name, points: [[epoch ms, value], ...]}]
   * spec.thresholds: [{value, label}] drawn as dashed horizontal lines
   * spec.marks: [{start, end, label}] (epoch ms; end may be null = until the last reading) shaded spans
   * spec.unit: the y-axis unit
   */
  function line(container, spec) {
    const width = 760, height = spec.height || 260;
    const margin = { top: 14, right: 16, bottom: 28, left: 52 };
    const series = (spec.series || []).filter((s) => s.points.length);
    const thresholds = spec.thresholds || [];
    const marks = spec.marks || [];
    container.replaceChildren();
    if (!series.length) {
      container.append(Object.assign(document.createElement("p"), { className: "muted", textContent: "No readings in this range." }));
      return;
    }
    const all = series.flatMap((s) => s.points);
    let t0 = Math.min(...all.map((p) => p[0])), t1 = Math.max(...all.map((p) => p[0]));
    if (spec.range) [t0, t1] = spec.range;
    if (t1 === t0) t1 = t0 + 1000;
    const values = all.map((p) => p[1]).concat(thresholds.map((t) => t.value)).filter(Number.isFinite);
    let v0 = Math.min(...values), v1 = Math.max(...values);
    const padding = (v1 - v0) * 0.08 || Math.abs(v1) * 0.1 || 1;
    v0 -= padding; v1 += padding;

    const plotW = width - margin.left - margin.right, plotH = height - margin.top - margin.bottom;
    const x = (t) => margin.left + ((t - t0) / (t1 - t0)) * plotW;
    const y = (v) => margin.top + (1 - (v - v0) / (v1 - v0)) * plotH;

    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
                              "aria-label": spec.label || series.map((s) => s.name).join(", ") });
    let labelled = 0;
    for (const m of marks) {
      const a = Math.max(x(m.start), margin.left), b = Math.min(x(m.end ?? t1), width - margin.right);
      if (b <= a) continue;
      root.append(svg("rect", { x: a, y: margin.top, width: b - a, height: plotH, class: "mark" }));
      // labels take turns on three lines so that marks starting together stay readable
      if (m.label) {
        const line = labelled++ % 3;
        root.append(svg("text", { x: a + 3, y: margin.top + 12 + 14 * line, class: "mark-label" }, m.label));
      }
    }
    for (const v of niceTicks(v0, v1)) {
      root.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v), class: "grid" }));
      root.append(svg("text", { x: margin.left - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, v));
    }
    for (const t of timeTicks(t0, t1)) {
      root.append(svg("text", { x: x(t), y: height - 8, class: "tick", "text-anchor": "middle" }, timeLabel(t, t1 - t0)));
    }
    if (spec.unit) root.append(svg("text", { x: 4, y: margin.top + 4, class: "tick" }, spec.unit));
    for (const th of thresholds) {
      root.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(th.value), y2: y(th.value), class: "threshold" }));
      root.append(svg("text", { x: width - margin.right - 4, y: y(th.value) - 4, class: "threshold-label", "text-anchor": "end" },
                      `${th.label} ${th.value}`));
    }
    series.forEach((s, i) => {
      const d = s.points.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
      root.append(svg("path", { d, class: "series", stroke: s.color || COLORS[i % COLORS.length] }));
    });
    container.append(root);
    if (series.length > 1) container.append(legend(series.map((s, i) => [s.name, s.color || COLORS[i % COLORS.length]])));
  }

  function legend(entries) {
    const box = document.createElement("div");
    box.className = "legend";
    for (const [name, color] of entries) {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = color;
      item.append(swatch, name);
      box.append(item);
    }
    return box;
  }

  /**
   * Horizontal bars: spec.bars = [{label, value, text}] with value in [0, spec.max]; `text` is what
   * is written beside the bar (defaults to the value). spec.target draws a dashed target line.
   */
  function bars(container, spec) {
    const rowH = 30, labelW = spec.labelWidth || 170, width = 760, right = 90;
    const items = spec.bars || [];
    container.replaceChildren();
    if (!items.length) {
      container.append(Object.assign(document.createElement("p"), { className: "muted", textContent: "Nothing to show yet." }));
      return;
    }
    const max = spec.max ?? Math.max(...items.map((b) => b.value ?? 0), 1e-9);
    const height = items.length * rowH + 8;
    const plotW = width - labelW - right;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart bars", role: "img",
                              "aria-label": spec.label || "bar chart" });
    items.forEach((b, i) => {
      const top = 4 + i * rowH;
      root.append(svg("text", { x: labelW - 8, y: top + 19, class: "bar-label", "text-anchor": "end" }, b.label));
      const w = b.value === null || b.value === undefined ? 0 : Math.max(1, (b.value / max) * plotW);
      root.append(svg("rect", { x: labelW, y: top + 4, width: w, height: rowH - 10, rx: 3,
                                class: `bar ${b.kind || ""}` }));
      root.append(svg("text", { x: labelW + w + 6, y: top + 19, class: "bar-value" }, b.text ?? String(b.value ?? "—")));
    });
    if (spec.target !== undefined) {
      const tx = labelW + (spec.target / max) * plotW;
      root.append(svg("line", { x1: tx, x2: tx, y1: 0, y2: height, class: "threshold" }));
    }
    container.append(root);
  }

  /**
   * Vertical columns over periods: spec.labels (one per column), spec.values (null = no data, drawn
   * as a gap), spec.format(value) for the text above each column, spec.max (default the largest).
   */
  function columns(container, spec) {
    // narrow, so that its text stays legible in a card a third of the page wide
    const width = 360, height = spec.height || 170;
    const margin = { top: 20, right: 4, bottom: 22, left: 4 };
    const values = spec.values || [];
    container.replaceChildren();
    const known = values.filter((v) => v !== null && v !== undefined);
    if (!known.length) {
      container.append(Object.assign(document.createElement("p"), { className: "muted", textContent: "No data in this period yet." }));
      return;
    }
    const max = spec.max ?? Math.max(...known, 1e-9);
    const slot = (width - margin.left - margin.right) / values.length;
    const plotH = height - margin.top - margin.bottom;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart columns", role: "img",
                              "aria-label": spec.label || "column chart" });
    root.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: margin.top + plotH, y2: margin.top + plotH, class: "grid" }));
    values.forEach((v, i) => {
      const x = margin.left + i * slot + slot * 0.15, w = slot * 0.7;
      root.append(svg("text", { x: x + w / 2, y: height - 8, class: "tick", "text-anchor": "middle" }, spec.labels[i]));
      if (v === null || v === undefined) {
        root.append(svg("text", { x: x + w / 2, y: margin.top + plotH - 4, class: "tick", "text-anchor": "middle" }, "—"));
        return;
      }
      const h = Math.max(1, (v / max) * plotH);
      root.append(svg("rect", { x, y: margin.top + plotH - h, width: w, height: h, rx: 2, class: `bar ${spec.kind ? spec.kind(v) : ""}` }));
      root.append(svg("text", { x: x + w / 2, y: margin.top + plotH - h - 5, class: "bar-value", "text-anchor": "middle" },
                      spec.format ? spec.format(v) : String(v)));
    });
    container.append(root);
  }

  return { line, bars, columns };
})();
