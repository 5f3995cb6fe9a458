"use strict";
// Small SVG charts drawn with DOM calls (no library, no inline styles: colours are classes).
// Charts.stacked(el, data), Charts.bars(el, items), Charts.gauge(fraction, big, small).
(function () {
  const NS = "http://www.w3.org/2000/svg";

  function node(name, attrs, text) {
    const el = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // The axis top: four equal steps of a round size (whole steps once they exceed one).
  function niceMax(value) {
    if (value <= 0) return 4;
    const raw = value / 4;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const factor of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
      const step = factor * power;
      if (raw <= step && (value < 1 || Number.isInteger(step))) return 4 * step;
    }
    return 40 * power;
  }

  function compact(value) {
    if (value >= 1e6) return (value / 1e6).toFixed(value >= 1e7 ? 0 : 1) + "M";
    if (value >= 1e3) return (value / 1e3).toFixed(value >= 1e4 ? 0 : 1) + "k";
    return Number.isInteger(value) ? String(value) : value.toFixed(1);
  }

  function empty(svg, width, height, message) {
    svg.appendChild(node("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, message));
  }

  // data: {labels: [...], series: [{name, cls, values: [...]}]}: one stacked bar per label.
  function stacked(container, data) {
    const width = 760, height = 250, left = 44, right = 8, top = 10, bottom = 26;
    const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
    const count = data.labels.length;
    const totals = data.labels.map((_, i) => data.series.reduce((sum, s) => sum + s.values[i], 0));
    const max = niceMax(Math.max(0, ...totals));
    const plotW = width - left - right, plotH = height - top - bottom;
    for (let i = 0; i <= 4; i++) {
      const y = top + plotH - (plotH * i) / 4;
      svg.appendChild(node("line", { x1: left, x2: width - right, y1: y, y2: y, class: i ? "grid" : "axis" }));
      svg.appendChild(node("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, compact((max * i) / 4)));
    }
    const slot = plotW / Math.max(1, count);
    const barW = Math.max(2, Math.min(38, slot * 0.7));
    const every = Math.ceil(count / 12);
    data.labels.forEach((label, i) => {
      const x = left + slot * i + (slot - barW) / 2;
      let y = top + plotH;
      for (const s of data.series) {
        const value = s.values[i];
        if (!value) continue;
        const h = Math.max(1, (plotH * value) / max);
        y -= h;
        const rect = node("rect", { x: x.toFixed(1), y: y.toFixed(1), width: barW.toFixed(1), height: h.toFixed(1), rx: 2, class: `bar ${s.cls}` });
        rect.appendChild(node("title", {}, `${label} · ${s.name}: ${compact(value)}`));
        svg.appendChild(rect);
      }
      if (i % every === 0) {
        svg.appendChild(node("text", { x: (left + slot * i + slot / 2).toFixed(1), y: height - 8, "text-anchor": "middle", class: "tick" }, label));
      }
    });
    if (!totals.some((t) => t > 0)) empty(svg, width, height - bottom, "Nothing recorded in this range yet");
    container.replaceChildren(svg);
  }

  // items: [{name, cls, value}], drawn as labelled horizontal bars, largest first.
  function bars(container, items, title) {
    const rowH = 30, width = 380, labelW = 0, top = 24;
    const shown = items.filter((item) => item.value > 0).sort((a, b) => b.value - a.value).slice(0, 8);
    const height = Math.max(120, top + shown.length * rowH + 6);
    const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
    svg.appendChild(node("text", { x: 0, y: 14, class: "tick" }, title));
    const max = Math.max(0, ...shown.map((item) => item.value));
    shown.forEach((item, i) => {
      const y = top + i * rowH;
      svg.appendChild(node("text", { x: labelW, y: y + 10, class: "label" }, item.name));
      const w = Math.max(2, ((width - 60) * item.value) / (max || 1));
      const rect = node("rect", { x: labelW, y: y + 15, width: w.toFixed(1), height: 9, rx: 3, class: `bar ${item.cls}` });
      rect.appendChild(node("title", {}, `${item.name}: ${compact(item.value)}`));
      svg.appendChild(rect);
      svg.appendChild(node("text", { x: (labelW + w + 6).toFixed(1), y: y + 23, class: "value" }, compact(item.value)));
    });
    if (!shown.length) empty(svg, width / 2, height, "No usage yet");
    container.replaceChildren(svg);
  }

  // A ring gauge: `fraction` (0..1) used, `big` in the middle, `small` below it.
  function gauge(fraction, big, small) {
    const size = 96, r = 38, c = 2 * Math.PI * r;
    const svg = node("svg", { viewBox: `0 0 ${size} ${size}`, width: size, height: size, role: "img" });
    const g = node("g", { transform: `rotate(-90 ${size / 2} ${size / 2})` });
    g.appendChild(node("circle", { cx: size / 2, cy: size / 2, r, fill: "none", "stroke-width": 10, class: "gauge-track" }));
    const used = Math.min(1, Math.max(0, fraction));
    const level = used >= 1 ? "out" : used >= 0.8 ? "low" : "";
    if (used > 0) g.appendChild(node("circle", {
      cx: size / 2, cy: size / 2, r, fill: "none", "stroke-width": 10, "stroke-linecap": "round",
      "stroke-dasharray": `${(c * used).toFixed(2)} ${c.toFixed(2)}`, class: `gauge-fill ${level}`,
    }));
    svg.appendChild(g);
    svg.appendChild(node("text", { x: size / 2, y: size / 2 + 3, "text-anchor": "middle", class: "gauge-text" }, big));
    svg.appendChild(node("text", { x: size / 2, y: size / 2 + 17, "text-anchor": "middle", class: "gauge-sub" }, small));
    return svg;
  }

  window.Charts = { stacked, bars, gauge, compact };
})();
