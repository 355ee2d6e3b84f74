// The dashboard page: one snapshot per server-sent event, drawn without any library.
"use strict";

const COLOURS = { published: "#3182ce", predicted: "#38a169", p50: "#38a169", p95: "#dd6b20", p99: "#c53030" };

function text(value) { return value === null || value === undefined ? "" : String(value); }

function cell(value, numeric) {
  const td = document.createElement("td");
  td.textContent = text(value);
  td.className = numeric ? "n" : "";
  return td;
}

function fillTable(id, rows) {
  const table = document.getElementById(id);
  table.replaceChildren(...rows.map((values) => {
    const tr = document.createElement("tr");
    values.forEach((v) => tr.appendChild(cell(v, typeof v === "number")));
    return tr;
  }));
}

function drawChart(id, points, series) {
  const canvas = document.getElementById(id);
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 44, bottom = 18;
  ctx.clearRect(0, 0, w, h);
  const values = points.flatMap((p) => series.map((s) => p[s.key])).filter((v) => v !== null);
  const top = Math.max(1, ...values) * 1.1;
  ctx.strokeStyle = "#e4e7eb"; ctx.fillStyle = "#616e7c"; ctx.font = "11px system-ui";
  for (let i = 0; i <= 4; i++) {
    const y = (h - bottom) * (1 - i / 4);
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w, y); ctx.stroke();
    ctx.fillText(Math.round((top * i) / 4), 2, Math.max(y, 10));
  }
  if (points.length < 2) return;
  const t0 = points[0].time, t1 = points[points.length - 1].time;
  ctx.fillText(`last ${Math.round(t1 - t0)} s`, left, h - 4);
  const x = (t) => left + ((w - left) * (t - t0)) / Math.max(t1 - t0, 1);
  const y = (v) => (h - bottom) * (1 - v / top);
  series.forEach((s) => {
    ctx.strokeStyle = s.colour; ctx.lineWidth = 1.5; ctx.beginPath();
    let pen = false;
    points.forEach((p) => {
      const v = p[s.key];
      if (v === null) { pen = false; return; }
      if (pen) ctx.lineTo(x(p.time), y(v)); else ctx.moveTo(x(p.time), y(v));
      pen = true;
    });
    ctx.stroke();
    ctx.fillStyle = s.colour; // dots too: a point with no neighbour draws no line
    points.forEach((p) => {
      if (p[s.key] !== null) ctx.fillRect(x(p.time) - 1.5, y(p[s.key]) - 1.5, 3, 3);
    });
  });
}

function tile(p) {
  const div = document.createElement("div");
  div.className = "tile" + (p.mistake ? " mistake" : "");
  div.title = `${text(p.source_file)} · model v${text(p.model_version)} · ${text(p.latency_ms)} ms` +
    (p.trace_id ? ` · trace ${p.trace_id}` : "");
  if (p.image) {
    const img = document.createElement("img");
    img.src = p.image; img.alt = text(p.predicted_class);
    div.appendChild(img);
  } else {
    const none = document.createElement("div");
    none.className = "none";
    div.appendChild(none);
  }
  const label = document.createElement("div");
  const confidence = p.confidence === null ? "" : ` ${(100 * p.confidence).toFixed(0)}%`;
  label.textContent = (p.error ? p.error : text(p.predicted_class)) + confidence;
  div.appendChild(label);
  return div;
}

function render(s) {
  Object.entries(s.totals).forEach(([k, v]) => {
    const el = document.getElementById(k);
    if (el) el.textContent = Math.round(v).toLocaleString("en");
  });
  const model = document.getElementById("model");
  const versions = s.model.in_use.length ? ` · in use v${s.model.in_use.join(", v")}` : "";
  model.textContent = `model server: ${s.model.state}${s.model.loaded.length ? " · " + s.model.loaded.join(", ") : ""}${versions}`;
  model.className = "badge " + (s.model.state === "up" ? "ok" : s.model.state === "down" ? "bad" : "");
  drawChart("throughput", s.timeline, [
    { key: "published_per_second", colour: COLOURS.published },
    { key: "predicted_per_second", colour: COLOURS.predicted },
  ]);
  drawChart("latency", s.timeline, [
    { key: "p50_ms", colour: COLOURS.p50 }, { key: "p95_ms", colour: COLOURS.p95 }, { key: "p99_ms", colour: COLOURS.p99 },
  ]);
  fillTable("processes", s.processes.map((p) => [p.role, p.url, p.up ? (p.ready === false ? "not ready" : "up") : "down"]));
  document.getElementById("lag-title").textContent = s.lag.kind;
  fillTable("lag", Object.entries(s.lag.partitions).map(([k, v]) => [k, v]));
  fillTable("classes", Object.entries(s.classes).map(([k, v]) => [k, v]));
  document.getElementById("gallery").replaceChildren(...s.gallery.map(tile));
  fillTable("dead-letters", s.dead_letters.map((d) => [d.reason, d.source_file || d.position]));
  fillTable("rejects", s.rejects.map((r) => [r.file, r.reason]));
}

function connect() {
  const badge = document.getElementById("connection");
  const events = new EventSource("/events");
  events.onopen = () => { badge.textContent = "live"; badge.className = "badge ok"; };
  events.onmessage = (event) => render(JSON.parse(event.data));
  events.onerror = () => { badge.textContent = "reconnecting…"; badge.className = "badge bad"; };
}

connect();
