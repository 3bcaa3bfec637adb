// Run page: curves (uPlot: drag to zoom, double-click to reset, smoothing, overlay of another run),
// the log tail (follow, pause, search) and the status badge, all fed by one EventSource.
(function () {
  "use strict";
  const root = document.getElementById("live");
  if (!root) return;
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
  const curvesEl = document.getElementById("curves");
  const smoothingEl = document.getElementById("smoothing");
  const overlayEl = document.getElementById("overlay-run");
  const curves = new Map();   // "mode/name" -> {steps: [], values: []}
  const overlay = new Map();  // same, for the overlaid run
  const charts = new Map();   // "mode/name" -> {plot, el}
  let overlayName = "";

  function key(mode, name) { return mode + "/" + name; }
  function label(k) { const [mode, name] = k.split("/"); return mode === "train" ? name : mode + " " + name; }
  function order(a, b) {  // loss first, then lr, then the rest alphabetically
    const rank = (k) => (k === "train/loss" ? 0 : k === "train/lr" ? 1 : k.startsWith("val/") ? 2 : 3);
    return rank(a) - rank(b) || a.localeCompare(b);
  }

  function put(store, mode, name, step, value) {
    const k = key(mode, name);
    if (!store.has(k)) store.set(k, { steps: [], values: [] });
    const s = store.get(k);
    let i = s.steps.length;
    while (i > 0 && s.steps[i - 1] > step) i--;
    if (i > 0 && s.steps[i - 1] === step) { s.values[i - 1] = value; return k; }
    s.steps.splice(i, 0, step); s.values.splice(i, 0, value);
    return k;
  }

  function smooth(values) {  // exponential moving average, as TensorBoard's slider
    const w = Number(smoothingEl.value);
    if (!w) return values.slice();
    const out = []; let last = null;
    for (const v of values) { last = last === null ? v : last * w + (1 - w) * v; out.push(last); }
    return out;
  }

  function data(k) {
    const own = curves.get(k) || { steps: [], values: [] };
    const other = overlay.get(k);
    if (!other) return [own.steps, smooth(own.values)];
    // uPlot wants one x array: merge the steps, null where a run has no point
    const xs = [...new Set([...own.steps, ...other.steps])].sort((a, b) => a - b);
    const at = (c, sm) => { const m = new Map(c.steps.map((s, i) => [s, sm[i]])); return xs.map((x) => (m.has(x) ? m.get(x) : null)); };
    return [xs, at(own, smooth(own.values)), at(other, smooth(other.values))];
  }

  function build(k) {
    const el = document.createElement("div");
    el.className = "chart";
    el.dataset.curve = k;
    el.innerHTML = "<h3></h3><div></div>";
    el.querySelector("h3").textContent = label(k);
    const keys = [...charts.keys(), k].sort(order);
    const next = keys[keys.indexOf(k) + 1];
    curvesEl.insertBefore(el, next ? charts.get(next).el : null);
    const empty = document.getElementById("curves-empty");
    if (empty) empty.remove();
    const series = [{ label: "step" }, { label: "this run", stroke: k === "train/lr" ? "#2457d6" : k.startsWith("val/") ? "#2e7d32" : "#c2410c", width: 1.5, points: { show: k.startsWith("val/") }, spanGaps: true }];
    if (overlay.has(k)) series.push({ label: overlayName, stroke: "#8b5cf6", width: 1.2, dash: [4, 3], points: { show: k.startsWith("val/") }, spanGaps: true });
    const plot = new uPlot({
      width: Math.max(260, el.clientWidth - 20 || 360), height: 200,
      scales: { x: { time: false } },
      cursor: { drag: { x: true, y: false } },  // drag selects a range to zoom into; double-click resets
      axes: [{ label: "iteration" }, {}],
      series: series,
    }, data(k), el.lastElementChild);
    charts.set(k, { plot: plot, el: el });
  }

  function redraw(k) {
    const c = charts.get(k);
    const wantOverlay = overlay.has(k);
    if (c && (c.plot.series.length === 3) !== wantOverlay) { c.plot.destroy(); c.el.remove(); charts.delete(k); }
    if (!charts.has(k)) build(k);
    else charts.get(k).plot.setData(data(k));
  }
  function redrawAll() { for (const k of new Set([...curves.keys()])) redraw(k); }

  async function load(url, store) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) return;
    for (const p of await r.json()) put(store, p.mode, p.name, p.step, p.value);
  }

  smoothingEl.addEventListener("input", () => { document.getElementById("smoothing-value").textContent = smoothingEl.value; redrawAll(); });
  overlayEl.addEventListener("change", async () => {
    overlay.clear();
    overlayName = overlayEl.value ? overlayEl.options[overlayEl.selectedIndex].text : "";
    if (overlayEl.value) await load(`/api/runs/${overlayEl.value}/metrics?max_points=2000`, overlay);
    redrawAll();
  });

  // --- log: follow (scroll to the end), pause (hold new lines), search (show matching lines) ---
  const logEl = document.getElementById("log");
  const follow = document.getElementById("follow");
  const pause = document.getElementById("log-pause");
  const search = document.getElementById("log-search");
  const matches = document.getElementById("log-matches");
  let lines = [], held = [];
  const MAX_LINES = 20000;
  function renderLog() {
    const q = search.value.trim().toLowerCase();
    const shown = q ? lines.filter((l) => l.toLowerCase().includes(q)) : lines;
    logEl.textContent = shown.join("\n");
    matches.textContent = q ? `${shown.length} matching line(s)` : (held.length ? `${held.length} new line(s) held` : "");
    if (follow.checked) logEl.scrollTop = logEl.scrollHeight;
  }
  function addLines(newLines) {
    if (pause.checked) { held.push(...newLines); matches.textContent = `${held.length} new line(s) held`; return; }
    lines.push(...newLines);
    if (lines.length > MAX_LINES) lines = lines.slice(-MAX_LINES);
    renderLog();
  }
  pause.addEventListener("change", () => { if (!pause.checked && held.length) { const h = held; held = []; addLines(h); } });
  search.addEventListener("input", renderLog);
  follow.addEventListener("change", renderLog);

  const statusEl = document.getElementById("run-status");
  const reasonEl = document.getElementById("run-reason");
  const bestEl = document.getElementById("run-best");
  const cancelForm = document.getElementById("cancel-form");

  async function start() {
    await load(root.dataset.metricsUrl, curves);  // the history, downsampled; the stream adds new points
    redrawAll();
    // The stream starts after the points the page already drew (downsampled) and at the log's tail.
    const es = new EventSource(root.dataset.eventsUrl + "?last=" + encodeURIComponent(root.dataset.lastEvent || "0-0"));
    es.addEventListener("metrics", (ev) => {
      const touched = new Set();
      for (const [mode, name, step, , value] of JSON.parse(ev.data)) touched.add(put(curves, mode, name, step, value));
      touched.forEach((k) => redraw(k));
    });
    es.addEventListener("logs", (ev) => addLines(JSON.parse(ev.data)));
    es.addEventListener("status", (ev) => {
      const s = JSON.parse(ev.data);
      statusEl.textContent = s.status;
      statusEl.className = "status " + s.status;
      reasonEl.textContent = s.reason || "";
      // the run's primary metric (its spec's facts: top-1, or mAP for a multi-label spec)
      const primary = root.dataset.primaryMetric;
      if (s.best && s.best[primary] !== undefined) bestEl.textContent = "best " + root.dataset.primaryLabel + " " + s.best[primary].toFixed(2);
      if (cancelForm && TERMINAL.has(s.status)) cancelForm.hidden = true;
      if (window.htmx) {
        htmx.ajax("GET", root.dataset.checkpointsUrl, { target: "#checkpoints", swap: "innerHTML" });
        htmx.ajax("GET", root.dataset.timelineUrl, { target: "#timeline", swap: "innerHTML" });
      }
    });
    es.addEventListener("end", () => es.close());
    window.addEventListener("resize", () => {
      charts.forEach((c) => c.plot.setSize({ width: Math.max(260, c.el.clientWidth - 20), height: 200 }));
    });
  }
  if (window.uPlot) start(); else window.addEventListener("load", start);
})();
