// Live run page: one EventSource feeds the charts (uPlot), the log tail and the status badge.
(function () {
  "use strict";
  const root = document.getElementById("live");
  if (!root) return;
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
  const series = { loss: [[], []], lr: [[], []], acc: [[], []] };
  const charts = {};

  function makeChart(key, label, color) {
    const el = document.getElementById("chart-" + key);
    const width = Math.max(240, el.clientWidth || 340);
    charts[key] = new uPlot({
      width: width, height: 190,
      scales: { x: { time: false } },
      axes: [{ label: "iteration" }, {}],
      series: [{ label: "iter" }, { label: label, stroke: color, width: 1.5, points: { show: key === "acc" } }],
    }, series[key], el);
  }

  function addPoint(key, step, value) {
    const s = series[key];
    // points arrive in id order, which is step order within a run; keep x sorted regardless
    let i = s[0].length;
    while (i > 0 && s[0][i - 1] > step) i--;
    if (i > 0 && s[0][i - 1] === step) { s[1][i - 1] = value; return; }
    s[0].splice(i, 0, step); s[1].splice(i, 0, value);
  }

  const logEl = document.getElementById("log");
  const follow = document.getElementById("follow");
  const statusEl = document.getElementById("run-status");
  const reasonEl = document.getElementById("run-reason");
  const bestEl = document.getElementById("run-best");
  const cancelForm = document.getElementById("cancel-form");

  function start() {
    makeChart("loss", "loss", "#c2410c");
    makeChart("lr", "lr", "#2457d6");
    makeChart("acc", "accuracy_top-1", "#2e7d32");
    const es = new EventSource(root.dataset.eventsUrl);
    es.addEventListener("metrics", (ev) => {
      const touched = new Set();
      for (const [mode, name, step, , value] of JSON.parse(ev.data)) {
        if (mode === "train" && name === "loss") { addPoint("loss", step, value); touched.add("loss"); }
        else if (mode === "train" && name === "lr") { addPoint("lr", step, value); touched.add("lr"); }
        else if (mode === "val" && name === "accuracy_top-1") { addPoint("acc", step, value); touched.add("acc"); }
      }
      touched.forEach((k) => charts[k].setData(series[k]));
    });
    es.addEventListener("logs", (ev) => {
      const lines = JSON.parse(ev.data);
      logEl.textContent += lines.join("\n") + "\n";
      if (logEl.textContent.length > 400000) logEl.textContent = logEl.textContent.slice(-300000);
      if (follow.checked) logEl.scrollTop = logEl.scrollHeight;
    });
    es.addEventListener("status", (ev) => {
      const s = JSON.parse(ev.data);
      statusEl.textContent = s.status;
      statusEl.className = "status " + s.status;
      reasonEl.textContent = s.reason || "";
      if (s.best && s.best["accuracy_top-1"] !== undefined) bestEl.textContent = "best top-1 " + s.best["accuracy_top-1"].toFixed(2);
      if (cancelForm && TERMINAL.has(s.status)) cancelForm.hidden = true;
      if (window.htmx) {
        htmx.ajax("GET", root.dataset.checkpointsUrl, { target: "#checkpoints", swap: "innerHTML" });
        htmx.ajax("GET", root.dataset.timelineUrl, { target: "#timeline", swap: "innerHTML" });
      }
    });
    es.addEventListener("end", () => es.close());
    window.addEventListener("resize", () => {
      for (const k in charts) {
        const el = document.getElementById("chart-" + k);
        charts[k].setSize({ width: Math.max(240, el.clientWidth), height: 190 });
      }
    });
  }
  if (window.uPlot) start(); else window.addEventListener("load", start);
})();
