"""The inline style and script of the leaderboard page (see :mod:`zshbench.html_report`).

The script only reorders and shows elements already on the page: it sorts a board's measured
rows by a column's ``data-sort`` values, toggles the paper's rows, and shows a cell's records
by cloning the hidden block the page holds. It never parses or builds markup from text, so a
record's text can never become markup through it.
"""

PAGE_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:72em}
h1{font-size:1.4em}h2{font-size:1.2em;margin:1.4em 0 .2em}
.caption,.note,.hint{color:#555;margin:.2em 0}.hint{font-size:.85em}
table.board{border-collapse:collapse;margin:.4em 0}
table.board th,table.board td{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:right}
table.board th[scope=row]{text-align:left}
table.board thead th button{font:inherit;font-weight:bold;background:none;border:0;cursor:pointer}
table.board thead th[aria-sort=descending] button::after{content:" \\25BC"}
table.board thead th[aria-sort=ascending] button::after{content:" \\25B2"}
td.cell{cursor:pointer;white-space:nowrap}td.cell:hover{background:#eef4ff}
td.cell .n{display:block;font-size:.75em;color:#777}td.cell .n.short{color:#b35900}
tr.chance td,tr.chance th{color:#777;font-style:italic}
tr.paper td,tr.paper th{color:#666;background:#f6f6f6}
sup.overlap{color:#b00}
table.rec{border-collapse:collapse;font-size:.8em}
table.rec td,table.rec th{border:1px solid #ddd;padding:.15em .4em;text-align:left;
vertical-align:top;word-break:break-all}
.figures{display:flex;flex-wrap:wrap;gap:.5em}
svg.chart{font-size:10px;background:#fff}svg.chart .t{font-size:12px;font-weight:bold}
"""

PAGE_SCRIPT = """
(function () {
  "use strict";
  function key(cell, type) {
    var raw = cell ? cell.getAttribute("data-sort") : null;
    if (type === "text") { return raw === null ? "" : raw; }
    return raw === null || raw === "" ? null : parseFloat(raw);
  }
  function sortBoard(table, col, type, th) {
    var body = table.querySelector("tbody.measured");
    var rows = Array.prototype.slice.call(body.rows);
    var descending = th.getAttribute("aria-sort") !== "descending";
    if (type === "text") { descending = th.getAttribute("aria-sort") === "ascending"; }
    rows.sort(function (a, b) {
      var x = key(a.cells[col], type), y = key(b.cells[col], type);
      if (x === y) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      var order = x < y ? -1 : 1;
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  document.querySelectorAll("table.board").forEach(function (table) {
    table.tHead.querySelectorAll("th").forEach(function (th) {
      th.addEventListener("click", function () {
        sortBoard(table, parseInt(th.getAttribute("data-col"), 10),
                  th.getAttribute("data-type"), th);
      });
    });
    var shown = table.parentNode.querySelector(".shown-records");
    table.querySelectorAll("td.cell").forEach(function (cell) {
      function show() {
        var block = cell.querySelector(".records").cloneNode(true);
        block.hidden = false;
        while (shown.firstChild) { shown.removeChild(shown.firstChild); }
        shown.appendChild(block);
      }
      cell.addEventListener("click", show);
      cell.addEventListener("keydown", function (e) { if (e.key === "Enter") { show(); } });
    });
  });
  document.querySelectorAll("input[data-paper]").forEach(function (box) {
    box.addEventListener("change", function () {
      var section = document.getElementById(box.getAttribute("data-paper"));
      section.querySelector("tbody.paper-rows").hidden = !box.checked;
    });
  });
})();
"""
