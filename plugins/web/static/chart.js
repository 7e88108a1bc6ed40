/* A small line chart on a <canvas>: time on x (the last 24 h), one or more series on y.
 * No library: a few dozen lines of canvas 2D drawing. Gaps (null values) break the line;
 * fail-safe minutes are shaded red. Exposes window.drawChart(canvas, options).
 */
"use strict";

(function () {
  const DAY_S = 24 * 3600;

  function niceRange(lo, hi, fixed) {
    if (fixed) return fixed;
    if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
    if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
    const pad = (hi - lo) * 0.08;
    return [lo - pad, hi + pad];
  }

  function hhmm(epochS) {
    const d = new Date(epochS * 1000);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  /* options: {t: [epoch s], now: epoch s, failsafe: [bool], unit, decimals, range: [lo, hi] | null,
   *           series: [{label, color, values: [number|null]}]} */
  function drawChart(canvas, options) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 320;
    const height = canvas.clientHeight || 150;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const left = 46, right = 8, top = 8, bottom = 18;
    const plotW = Math.max(10, width - left - right), plotH = Math.max(10, height - top - bottom);
    const t1 = options.now, t0 = t1 - DAY_S;
    let lo = Infinity, hi = -Infinity;
    for (const s of options.series) {
      s.values.forEach(function (v, i) {
        if (v !== null && options.t[i] >= t0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      });
    }
    const [y0, y1] = niceRange(lo, hi, options.range);
    const x = function (t) { return left + ((t - t0) / DAY_S) * plotW; };
    const y = function (v) { return top + (1 - (v - y0) / (y1 - y0)) * plotH; };

    ctx.fillStyle = "rgba(185, 28, 28, 0.18)";
    const step = plotW / 1440;
    options.t.forEach(function (t, i) {
      if (options.failsafe[i] && t >= t0) ctx.fillRect(x(t), top, Math.max(1, step), plotH);
    });

    ctx.strokeStyle = "#e5e7eb";
    ctx.fillStyle = "#6b7280";
    ctx.lineWidth = 1;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const tick = (y1 - y0) / 3;
    const decimals = Math.max(options.decimals, Math.min(3, Math.ceil(-Math.log10(tick))));
    for (let k = 0; k <= 3; k++) {
      const v = y0 + tick * k;
      ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(left + plotW, y(v)); ctx.stroke();
      ctx.fillText(v.toFixed(decimals) + " " + options.unit, left - 3, y(v));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let h = 0; h <= 24; h += 6) {
      const t = t0 + h * 3600;
      ctx.beginPath(); ctx.moveTo(x(t), top); ctx.lineTo(x(t), top + plotH); ctx.stroke();
      ctx.fillText(h === 24 ? "now" : hhmm(t), Math.min(Math.max(x(t), left + 14), left + plotW - 14),
        top + plotH + 3);
    }

    ctx.lineWidth = 1.6;
    for (const s of options.series) {
      ctx.strokeStyle = s.color;
      ctx.beginPath();
      let drawing = false;
      s.values.forEach(function (v, i) {
        const t = options.t[i];
        if (v === null || t < t0) { drawing = false; return; }
        const gap = i > 0 && t - options.t[i - 1] > 90;  // minutes without cycles: no line across
        if (!drawing || gap) ctx.moveTo(x(t), y(v)); else ctx.lineTo(x(t), y(v));
        drawing = true;
      });
      ctx.stroke();
      const last = s.values.length ? s.values[s.values.length - 1] : null;
      if (s.values.length === 1 && last !== null) {  // a single point: show it as a dot
        ctx.fillStyle = s.color;
        ctx.fillRect(x(options.t[0]) - 2, y(last) - 2, 4, 4);
      }
    }
  }

  window.drawChart = drawChart;
})();
