/* battery-gateway page: polls /api/state every period (at most 1 s apart) and /api/history every
 * 30 s, and shows them. Every string from the gateway goes in through textContent, never as HTML:
 * reasons, names and problems are plugin strings. Numbers get the decoders' precision.
 */
"use strict";

const $ = function (id) { return document.getElementById(id); };
const DASH = "\u2013";
let lastState = null;
let lastHistory = null;
let failingSince = null;

function num(v, decimals) {
  if (v === null || v === undefined) return null;
  let text = v.toFixed(decimals);
  if (/^-0(\.0+)?$/.test(text)) text = text.slice(1);  // no "-0.0"
  return text;
}

function val(v, decimals, unit) {
  const text = num(v, decimals);
  return text === null ? DASH : text + " " + unit;
}

function ago(s) {
  if (s === null || s === undefined) return DASH;
  if (s < 10) return s.toFixed(1) + " s ago";
  if (s < 120) return Math.round(s) + " s ago";
  if (s < 7200) return Math.round(s / 60) + " min ago";
  return (s / 3600).toFixed(1) + " h ago";
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function setText(id, text) { $(id).textContent = text; }

function fillList(id, items) {
  $(id).replaceChildren(...items.map(function (t) { return el("li", null, t); }));
}

function show(id, visible) { $(id).hidden = !visible; }

function flagsText(flags) {
  return flags.length ? flags.join(", ").replace(/_/g, " ") : "nothing (charge and discharge not requested)";
}

function direction(current) {
  if (current > 0.05) return "charging";
  if (current < -0.05) return "discharging";
  return "idle";
}

function renderBattery(state) {
  const r = state.reading;
  const packs = state.packs || [];
  setText("battery-title", packs.length > 1 ? "Bank (" + packs.length + " packs)" : "Battery");
  setText("v-voltage", r ? val(r.voltage_v, 2, "V") : DASH);
  setText("v-current", r ? val(r.current_a, 1, "A") : DASH);
  setText("v-direction", r ? "(" + direction(r.current_a) + ")" : "");
  setText("v-power", r ? val(r.power_w, 0, "W") : DASH);
  setText("v-soc", r ? val(r.soc_pct, 0, "%") : DASH);
  setText("v-soc-reported", val(state.reported_soc_pct, 0, "%"));
  setText("v-soh", r ? val(r.soh_pct, 0, "%") : DASH);
  let remaining = DASH;
  if (r && r.remaining_capacity_ah !== null) {
    remaining = val(r.remaining_capacity_ah, 1, "Ah");
    if (r.capacity_ah !== null) remaining += " of " + val(r.capacity_ah, 1, "Ah");
  }
  setText("v-remaining", remaining);
  setText("v-switches", r ? "charge " + (r.charge_enabled ? "on" : "OFF") + ", discharge " +
    (r.discharge_enabled ? "on" : "OFF") : DASH);
  setText("v-alarms", r && r.alarms.length ? "BMS alarms: " + r.alarms.join(", ").replace(/_/g, " ") :
    (r ? "no BMS alarm" : "no valid reading"));
}

function renderLimits(state) {
  const l = state.limits;
  setText("l-ccl", val(l.charge_current_a, 1, "A"));
  setText("l-dcl", val(l.discharge_current_a, 1, "A"));
  setText("l-cvl", l.charge_voltage_v === null ? "not sent" : val(l.charge_voltage_v, 2, "V"));
  setText("l-dvl", l.discharge_voltage_v === null ? "not sent" : val(l.discharge_voltage_v, 2, "V"));
  setText("l-flags", flagsText(l.flags));
  show("l-state-row", l.charge_state !== null);
  setText("l-state", l.charge_state || DASH);
  fillList("l-reasons", l.reasons);
}

function cellRows(r) {
  const cells = r.cell_voltages_v;
  const spread = Math.max(r.cell_delta_v, 0.01);
  const floor = r.min_cell_v - spread, top = r.max_cell_v + spread * 0.1;
  return cells.map(function (v, i) {
    const row = el("div", "cell");
    row.dataset.cell = String(i + 1);
    if (i + 1 === r.max_cell) row.classList.add("high");
    if (i + 1 === r.min_cell) row.classList.add("low");
    const bar = el("span", "bar"), fill = el("span", "fill");
    fill.style.width = Math.max(2, Math.min(100, ((v - floor) / (top - floor)) * 100)).toFixed(1) + "%";
    bar.append(fill);
    let mark = "";
    if (i + 1 === r.max_cell) mark = " \u25B2";
    if (i + 1 === r.min_cell) mark = " \u25BC";
    row.append(el("span", "n", String(i + 1)), bar, el("span", "v", val(v, 3, "V") + mark));
    return row;
  });
}

function renderCells(r) {
  if (!r || !r.cell_voltages_v.length) {
    setText("cells-summary", "no cell voltages");
    $("cells").replaceChildren();
    return;
  }
  setText("cells-summary", "highest " + val(r.max_cell_v, 3, "V") + " (cell " + r.max_cell + ", \u25B2), lowest " +
    val(r.min_cell_v, 3, "V") + " (cell " + r.min_cell + ", \u25BC), spread " + val(r.cell_delta_v, 3, "V"));
  $("cells").replaceChildren(...cellRows(r));
}

function renderTemps(r) {
  const items = [];
  if (r) {
    r.temperatures_c.forEach(function (t, i) { items.push("probe " + (i + 1) + ": " + val(t, 1, "\u00B0C")); });
    if (r.bms_temperature_c !== null) items.push("BMS (MOSFET): " + val(r.bms_temperature_c, 1, "\u00B0C"));
  }
  fillList("temps", items.length ? items : ["no temperature"]);
}

function renderMeter(m) {
  show("meter-card", m !== null && m !== undefined);
  if (!m) return;
  const way = m.grid_power_w > 0 ? " importing" : (m.grid_power_w < 0 ? " exporting" : "");
  setText("m-power", val(m.grid_power_w, 0, "W") + way);
  setText("m-age", m.age_s === null ? DASH : ago(m.age_s));
}

function packCard(p) {
  const card = el("section", "card pack" + (p.online ? "" : " offline-pack"));
  card.dataset.pack = p.name;
  card.append(el("h2", null, p.name + " (" + p.plugin + ") " + (p.online ? "online" : "OFFLINE")));
  const r = p.reading;
  const list = el("dl", "values");
  const add = function (label, text) {
    const row = el("div");
    row.append(el("dt", null, label), el("dd", null, text));
    list.append(row);
  };
  add("Voltage", r ? val(r.voltage_v, 2, "V") : DASH);
  add("Current", r ? val(r.current_a, 1, "A") : DASH);
  add("SOC", r ? val(r.soc_pct, 0, "%") : DASH);
  add("Cell spread", r && r.cell_delta_v !== null ? val(r.cell_delta_v, 3, "V") : DASH);
  add("Highest cell", r && r.max_cell_v !== null ? val(r.max_cell_v, 3, "V") : DASH);
  add("Lowest cell", r && r.min_cell_v !== null ? val(r.min_cell_v, 3, "V") : DASH);
  if (p.limits) {
    add("Its CCL", val(p.limits.charge_current_a, 1, "A"));
    add("Its DCL", val(p.limits.discharge_current_a, 1, "A"));
  }
  card.append(list);
  const reasons = el("ul", "reasons");
  (p.limits ? p.limits.reasons : []).forEach(function (t) { reasons.append(el("li", null, t)); });
  p.problems.forEach(function (q) { reasons.append(el("li", "bad", q.role + " " + q.plugin + ": " + q.message)); });
  card.append(reasons);
  return card;
}

function renderPacks(packs) {
  const many = packs && packs.length > 1;
  show("packs", many);
  $("packs").replaceChildren(...(many ? packs.map(packCard) : []));
}

function sinkBlock(s) {
  const block = el("div", "sink");
  block.dataset.sink = s.name;
  let head = s.name + " (" + s.plugin + "): " + (s.published ? s.frames_sent + " frames sent" : "NOT published");
  if (s.peer_seen_age_s !== null) head += ", inverter heard " + ago(s.peer_seen_age_s);
  block.append(el("h3", null, head));
  s.frames.forEach(function (f) {
    const row = el("div", "frame");
    row.append(el("span", "id", f.id), document.createTextNode(" " + (f.name || "")));
    row.append(el("div", "data", f.data || "(no data)"));
    if (f.summary) row.append(el("div", "summary", f.summary));
    block.append(row);
  });
  if (!s.frames.length) block.append(el("p", "small", "no frames reported by this sink"));
  return block;
}

function renderInverter(state) {
  const inv = state.inverter;
  setText("peer", inv.seen_age_s === null ? "The inverter has not been heard yet." :
    "The inverter was last heard " + ago(inv.seen_age_s) + ".");
  const sinks = state.sinks || [];
  const blocks = sinks.map(sinkBlock);
  if (!blocks.length) blocks.push(el("p", "small", "The sink (" + state.plugins.sink + ") reported no frames."));
  $("sinks").replaceChildren(...blocks);
  show("obedience", inv.limits_ignored || inv.warnings.length > 0);
  fillList("obedience-list", inv.warnings.length ? inv.warnings : ["the inverter ignores the limits it is sent"]);
}

function renderBanners(state) {
  const fs = state.failsafe;
  show("failsafe", fs !== null);
  document.body.classList.toggle("in-failsafe", fs !== null);
  if (fs) {
    setText("failsafe-fault", fs.fault.replace(/_/g, " "));
    fillList("failsafe-reasons", fs.reasons);
  }
  document.title = (fs ? "FAIL-SAFE \u00B7 " : "") + "battery-gateway";
  const problems = state.problems.map(function (p) { return p.role + " " + p.plugin + ": " + p.message; });
  show("problems", problems.length > 0);
  fillList("problems-list", problems);
}

function render(state) {
  lastState = state;
  document.body.dataset.cycle = String(state.cycle);
  if (state.waiting) {
    setText("status", "waiting for the first cycle");
    return;
  }
  const p = state.plugins;
  setText("status", "cycle " + state.cycle + " \u00B7 " + p.source + " \u2192 " + p.policy + " \u2192 " + p.sink +
    " \u00B7 " + (state.published ? "published" : "NOT published") + " \u00B7 updated " + ago(state.age_s));
  renderBanners(state);
  renderBattery(state);
  renderLimits(state);
  renderCells(state.reading);
  renderTemps(state.reading);
  renderMeter(state.meter);
  renderPacks(state.packs);
  renderInverter(state);
}

function offline(message) {
  show("offline", message !== null);
  setText("offline", message || "");
}

function pollInterval() {
  const period = lastState && lastState.period_s ? lastState.period_s : 1;
  return Math.max(250, Math.min(period, 1) * 1000);
}

async function pollState() {
  try {
    const response = await fetch("/api/state", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const state = await response.json();
    failingSince = null;
    render(state);
    const stale = Math.max(3 * state.period_s, 5);
    offline(!state.waiting && state.age_s > stale ? "No new cycle for " + Math.round(state.age_s) +
      " s: the gateway's loop is not running; this is the last cycle it finished." : null);
  } catch (error) {
    failingSince = failingSince || Date.now();
    if (Date.now() - failingSince > 3000) {
      offline("Cannot reach the gateway (" + error.message + ")" +
        (lastState ? ": the values below are from cycle " + lastState.cycle + "." : "."));
    }
  }
  setTimeout(pollState, pollInterval());
}

const CHARTS = [
  { title: "Voltage", unit: "V", decimals: 1, range: null,
    series: [{ key: "voltage_v", label: "pack voltage", color: "#111827" }] },
  { title: "Current and limits (DCL drawn below zero)", unit: "A", decimals: 0, range: null,
    series: [{ key: "current_a", label: "current", color: "#111827" },
      { key: "charge_current_a", label: "CCL", color: "#15803d" },
      { key: "discharge_current_a", label: "DCL", color: "#b45309", negate: true }] },
  { title: "SOC", unit: "%", decimals: 0, range: [0, 100],
    series: [{ key: "soc_pct", label: "SOC (BMS)", color: "#1d4ed8" }] },
  { title: "Cells", unit: "V", decimals: 2, range: null,
    series: [{ key: "max_cell_v", label: "highest cell", color: "#b91c1c" },
      { key: "min_cell_v", label: "lowest cell", color: "#1d4ed8" }] },
];

function drawHistory() {
  const h = lastHistory;
  if (!h || typeof window.drawChart !== "function") return;
  const holder = $("charts");
  if (!holder.children.length) {
    CHARTS.forEach(function (c) {
      holder.append(el("h3", null, c.title));
      const canvas = el("canvas", "chart");
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", c.title + ", last 24 hours");
      holder.append(canvas);
      const legend = el("p", "legend");
      c.series.forEach(function (s) {
        const item = el("span", null, s.label);
        item.style.setProperty("--swatch", s.color);
        legend.append(item);
      });
      holder.append(legend);
    });
  }
  const canvases = holder.querySelectorAll("canvas");
  CHARTS.forEach(function (c, i) {
    window.drawChart(canvases[i], {
      t: h.t, now: h.now, failsafe: h.failsafe, unit: c.unit, decimals: c.decimals, range: c.range,
      series: c.series.map(function (s) {
        const values = h[s.key].map(function (v) { return v === null ? null : (s.negate ? -v : v); });
        return { label: s.label, color: s.color, values: values };
      }),
    });
  });
  document.body.dataset.historyPoints = String(h.t.length);
}

async function pollHistory() {
  try {
    const response = await fetch("/api/history", { cache: "no-store" });
    if (response.ok) {
      lastHistory = await response.json();
      drawHistory();
    }
  } catch (error) {
    /* the state poll reports an unreachable gateway */
  }
  setTimeout(pollHistory, lastHistory && lastHistory.t.length > 1 ? 30000 : 5000);
}

window.addEventListener("resize", drawHistory);
pollState();
pollHistory();
