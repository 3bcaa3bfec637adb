// New-run form: cfg-options rows (add/remove), the spec's line gutter, and marking the lines the
// live validation (#spec-errors, swapped in by htmx) reports.
(function () {
  "use strict";
  const text = document.getElementById("spec-text");
  const gutter = document.getElementById("spec-gutter");
  const rows = document.getElementById("cfg-rows");
  const template = document.getElementById("cfg-row-template");

  function addRow(value) {
    const row = template.content.firstElementChild.cloneNode(true);
    if (value) row.querySelector("input").value = value;
    rows.appendChild(row);
    row.querySelector("input").focus();
  }
  document.getElementById("cfg-add").addEventListener("click", () => addRow(""));
  rows.addEventListener("click", (ev) => {
    if (!ev.target.classList.contains("cfg-remove")) return;
    ev.target.closest(".cfg-row").remove();
    rows.dispatchEvent(new Event("change", { bubbles: true }));  // re-validate without the row
  });

  function renumber() {
    const n = Math.max(12, text.value.split("\n").length + 1);
    if (gutter.children.length === n) return;
    const marked = new Set([...gutter.querySelectorAll(".bad")].map((li) => li.dataset.line));
    gutter.innerHTML = "";
    for (let i = 1; i <= n; i++) {
      const li = document.createElement("li");
      li.dataset.line = String(i);
      li.textContent = String(i);
      if (marked.has(String(i))) li.classList.add("bad");
      gutter.appendChild(li);
    }
  }
  text.addEventListener("input", renumber);
  text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });

  function selectLine(line) {
    const lines = text.value.split("\n");
    if (line < 1 || line > lines.length) return;
    let start = 0;
    for (let i = 0; i < line - 1; i++) start += lines[i].length + 1;
    text.focus();
    text.setSelectionRange(start, start + lines[line - 1].length);
    const lineHeight = text.scrollHeight / Math.max(lines.length, 1);
    text.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }

  function markErrors() {
    gutter.querySelectorAll(".bad").forEach((li) => { li.classList.remove("bad"); li.removeAttribute("title"); });
    text.classList.remove("has-errors");
    document.querySelectorAll("#spec-errors .spec-error").forEach((item) => {
      const line = item.dataset.line, file = item.dataset.file;
      if (!line || (file && file !== "<spec>")) return;  // a library or cfg-options problem: no textarea line
      const li = gutter.querySelector(`li[data-line="${line}"]`);
      if (li) { li.classList.add("bad"); li.title = item.textContent.trim(); }
      text.classList.add("has-errors");
      item.classList.add("jump");
      item.addEventListener("click", () => selectLine(Number(line)));
    });
  }
  document.body.addEventListener("htmx:afterSettle", markErrors);
  renumber();
  markErrors();
})();
