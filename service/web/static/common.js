// Shared by every page: the API token, calls to /api/v1, messages, formatting, live events.
"use strict";

const Faultline = (() => {
  const TOKEN_KEY = "faultline.token";
  const API = "/api/v1";

  /** Raised for an API answer that is not 2xx; `status` and `reason` come from the response. */
  class ApiError extends Error {
    constructor(status, reason) {
      super(`${status}: ${reason}`);
      this.status = status;
      this.reason = reason;
    }
  }

  const token = () => localStorage.getItem(TOKEN_KEY) || "";

  function authHeaders() {
    const t = token();
    return t ? { Authorization: `Bearer ${t}` } : {};
  }

  // FastAPI puts the reason in `detail`: a string, or a list of validation errors.
  function reasonOf(body, fallback) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    }
    if (detail && typeof detail === "object") return JSON.stringify(detail);
    return fallback;
  }

  /** Call the API: `api("/work-orders")`, `api("/work-orders/3/acknowledge", {method: "POST", body: {}})`. */
  async function api(path, { method = "GET", body, query } = {}) {
    let url = API + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v !== undefined && v !== null && v !== "") params.append(k, v);
      }
      if ([...params].length) url += `?${params}`;
    }
    const headers = { Accept: "application/json", ...authHeaders() };
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (!response.ok) throw new ApiError(response.status, reasonOf(data, response.statusText || text));
    return data;
  }

  const DONE_WORDS = { acknowledge: "acknowledged", start: "started", hold: "put on hold", resume: "resumed",
                       resolve: "resolved", close: "closed", reopen: "reopened", comment: "comment added",
                       assign: "assigned", add_part: "part added", use_part: "part recorded as fitted" };

  /** Run a lifecycle step on an order through the API; shows the outcome and returns the order. */
  async function actOnOrder(order, action, body = {}) {
    clearMessage();
    const name = order.number;
    try {
      const changed = await api(`/work-orders/${order.id}/${action}`, { method: "POST", body });
      showMessage(`${name}: ${DONE_WORDS[action] || action}`, "ok");
      return changed;
    } catch (err) {
      showError(err, `${name}: ${action}`);
      return null;
    }
  }

  // ---- messages ------------------------------------------------------------------------------
  function showMessage(text, kind = "info") {
    const box = document.getElementById("message");
    box.textContent = text;
    box.className = `message ${kind}`;
    box.hidden = false;
  }

  function clearMessage() {
    document.getElementById("message").hidden = true;
  }

  const STATUS_WORDS = { 401: "Not signed in", 403: "Not allowed", 404: "Not found", 409: "Conflict",
                         413: "Too large", 422: "Not accepted" };

  /** Show an error to the user; a 401 also points at the token field. */
  function showError(err, what) {
    const prefix = what ? `${what}: ` : "";
    if (err instanceof ApiError) {
      const word = STATUS_WORDS[err.status] || "Error";
      showMessage(`${prefix}${word} (${err.status}) — ${err.reason}`, "error");
      if (err.status === 401) document.getElementById("token-input").focus();
    } else {
      showMessage(`${prefix}${err.message || err}`, "error");
    }
  }

  // ---- DOM ------------------------------------------------------------------------------------
  /** `el("td", {class: "num"}, "4.2")`: an element with attributes and children (text or nodes). */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // ---- formatting -----------------------------------------------------------------------------
  // "Sat 21 Nov, 16:19": short enough for a table cell on a tablet; 24-hour clock as on the shop floor
  const timeFormat = new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });

  function fmtTime(value) {
    if (value === null || value === undefined || value === "") return "—";
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? String(value) : timeFormat.format(d);
  }

  const pad = (n) => String(n).padStart(2, "0");

  // Countdowns run on the server's clock: a tablet whose own clock is off by minutes would
  // otherwise show the wrong time left. The offset comes from the "now" in the API's SLA status.
  let clockOffsetMs = 0;
  const serverNow = () => Date.now() + clockOffsetMs;

  /** Take the server's time from an answer's SLA status (`sla.at`), if it has one. */
  function syncClock(sla) {
    const at = sla && Date.parse(sla.at);
    if (at) clockOffsetMs = at - Date.now();
  }

  /** Seconds as a countdown: "2 d 03:14:05", "00:09:59"; negative reads "overdue 00:01:30". */
  function fmtCountdown(seconds) {
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
    const overdue = seconds < 0;
    let s = Math.floor(Math.abs(seconds));
    const days = Math.floor(s / 86400);
    s %= 86400;
    const clock = `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
    const text = days ? `${days} d ${clock}` : clock;
    return overdue ? `overdue ${text}` : text;
  }

  /** Seconds as a short duration for KPIs: "42 min", "3.5 h", "2.1 d". */
  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
    if (seconds < 86400 * 2) return `${(seconds / 3600).toFixed(1)} h`;
    return `${(seconds / 86400).toFixed(1)} d`;
  }

  function fmtNumber(v, digits = 2) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    return Number(v).toFixed(digits);
  }

  /** What the engineer needs first about an asset: an open work order, else an active finding, else ok. */
  const assetStatus = (asset) => (asset.open_work_orders ? "work_order" : asset.status === "alarm" ? "finding" : "ok");
  const ASSET_STATUS_TEXT = { ok: "ok", finding: "finding", work_order: "work order open" };

  /** Units of the shared sensor names. */
  const UNITS = { vibration_rms: "mm/s", bearing_temp: "°C", motor_current: "A", accel: "m/s²" };

  const words = (s) => String(s ?? "").replaceAll("_", " ");

  // Detector parameters that are limits on the readings themselves (not on scores), worth drawing.
  const LIMIT_KEYS = { high: "high limit", low: "low limit", limit: "limit", ab: "zone A/B", bc: "zone B/C",
                       cd: "zone C/D" };

  /** The reading-scale limits in a finding's or a check's thresholds: [{label, value}]. */
  function readingLimits(thresholds) {
    const limits = [];
    for (const [key, label] of Object.entries(LIMIT_KEYS)) {
      const value = thresholds && thresholds[key];
      if (typeof value === "number" && Number.isFinite(value)) limits.push({ label, value });
    }
    return limits;
  }

  /**
   * Readings of one sensor between two instants (epoch ms), for a chart: `{points: [[ms, value], ...],
   * limits: [{label, value}]}` with the limits of every check on that sensor in force.
   */
  async function readings(asset, sensor, startMs, endMs) {
    const data = await api("/readings", { query: { asset, sensor, start: new Date(startMs).toISOString(),
                                                   end: new Date(endMs).toISOString() } });
    const points = data.ts.map((t, i) => [new Date(t).getTime(), data.value[i]]);
    const limits = Object.values(data.thresholds || {}).flatMap(readingLimits);
    return { points, limits, downsampled: data.downsampled };
  }

  // ---- live events ----------------------------------------------------------------------------
  /**
   * Call `onEvent(event)` for every server-sent event on /api/v1/events. The stream is read with
   * fetch (EventSource cannot send the bearer token). When the stream fails, `onEvent(null)` is
   * called every `pollMs` instead (polling), and the stream is tried again after a while.
   */
  function liveEvents(onEvent, { pollMs = 5000, retryMs = 15000 } = {}) {
    let pollTimer = null;
    const state = document.getElementById("live-state");
    const setState = (text, kind) => { if (state) { state.textContent = text; state.className = `live ${kind}`; } };

    function poll() {
      if (!pollTimer) {
        setState("polling", "polling");
        pollTimer = setInterval(() => onEvent(null), pollMs);
      }
      setTimeout(connect, retryMs); // and try the stream again now and then
    }

    async function connect() {
      try {
        const response = await fetch(`${API}/events`, { headers: { Accept: "text/event-stream", ...authHeaders() } });
        if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
        if (pollTimer) { // back from polling: catch up on what changed in between, once
          clearInterval(pollTimer);
          pollTimer = null;
          onEvent(null);
        }
        setState("live", "live");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const event = parseEvent(block);
            if (event) onEvent(event);
          }
        }
        throw new Error("events: stream ended");
      } catch (_) {
        poll();
      }
    }

    connect();
  }

  function parseEvent(block) {
    let type = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue; // keep-alive comment
      if (line.startsWith("event:")) type = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (!data.length) return null;
    let payload = data.join("\n");
    try { payload = JSON.parse(payload); } catch (_) { /* plain text event */ }
    return { type, data: payload };
  }

  // ---- token form -----------------------------------------------------------------------------
  function setupTokenForm() {
    const form = document.getElementById("token-form");
    const input = document.getElementById("token-input");
    const state = document.getElementById("token-state");
    const show = () => { state.textContent = token() ? "token saved" : "no token"; };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const value = input.value.trim();
      if (value) localStorage.setItem(TOKEN_KEY, value);
      else localStorage.removeItem(TOKEN_KEY);
      input.value = "";
      show();
      window.location.reload();
    });
    show();
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupTokenForm();
    document.getElementById("message").addEventListener("click", clearMessage);
  });

  return {
    actOnOrder, api, ApiError, ASSET_STATUS_TEXT, assetStatus, clearMessage, el, fmtCountdown, fmtDuration,
    fmtNumber, fmtTime, liveEvents, readingLimits, readings, serverNow, showError, showMessage, syncClock, token,
    UNITS, words,
  };
})();
