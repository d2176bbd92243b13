(function () {
  "use strict";
  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var key = cell.getAttribute("data-sort");
    return key !== null ? key : cell.textContent.trim();
  }
  function compare(a, b, numeric) {
    if (numeric) {
      var x = parseFloat(String(a).replace(/,/g, "")), y = parseFloat(String(b).replace(/,/g, ""));
      var xn = isNaN(x), yn = isNaN(y);
      if (xn || yn) { return xn === yn ? 0 : (xn ? 1 : -1); }
      return x - y;
    }
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }
  function makeSortable(table, onSorted) {
    var head = table.tHead;
    if (!head || !table.tBodies.length) { return; }
    var ths = head.rows[0].cells;
    Array.prototype.forEach.call(ths, function (th, index) {
      if (th.hasAttribute("data-nosort")) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(ths, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var numeric = th.classList.contains("num");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.forEach(function (row, i) { row._order = i; });
        rows.sort(function (a, b) {
          var c = compare(cellValue(a, index), cellValue(b, index), numeric);
          if (!ascending) { c = -c; }
          return c !== 0 ? c : a._order - b._order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
        if (onSorted) { onSorted(); }
      });
    });
  }
  function issueTable() {
    var table = document.getElementById("issues-table");
    var controls = document.getElementById("issue-controls");
    if (!table || !controls) { return; }
    controls.hidden = false;
    var filter = document.getElementById("issue-filter");
    var klass = document.getElementById("issue-class");
    var sizeSelect = document.getElementById("issue-page-size");
    var info = document.getElementById("page-info");
    var prev = document.getElementById("prev-page");
    var next = document.getElementById("next-page");
    var page = 0;
    function pageSize() { return parseInt(sizeSelect.value, 10) || 0; }
    function update() {
      var query = filter.value.trim().toLowerCase();
      var wanted = klass.value;
      var rows = table.tBodies[0].rows;
      var shown = [];
      Array.prototype.forEach.call(rows, function (row) {
        var ok = (!wanted || row.getAttribute("data-given") === wanted) &&
                 (!query || row.textContent.toLowerCase().indexOf(query) !== -1);
        row.classList.toggle("filtered-out", !ok);
        if (ok) { shown.push(row); }
      });
      var size = pageSize() || shown.length || 1;
      var pages = Math.max(1, Math.ceil(shown.length / size));
      if (page >= pages) { page = pages - 1; }
      if (page < 0) { page = 0; }
      shown.forEach(function (row, i) {
        row.classList.toggle("paged-out", i < page * size || i >= (page + 1) * size);
      });
      Array.prototype.forEach.call(rows, function (row) {
        if (row.classList.contains("filtered-out")) { row.classList.remove("paged-out"); }
      });
      var first = shown.length ? page * size + 1 : 0;
      var last = Math.min((page + 1) * size, shown.length);
      info.textContent = "Rows " + first + "\u2013" + last + " of " + shown.length +
        " (page " + (page + 1) + " of " + pages + ")";
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }
    filter.addEventListener("input", function () { page = 0; update(); });
    klass.addEventListener("change", function () { page = 0; update(); });
    sizeSelect.addEventListener("change", function () { page = 0; update(); });
    prev.addEventListener("click", function () { page -= 1; update(); });
    next.addEventListener("click", function () { page += 1; update(); });
    makeSortable(table, update);
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) { row.classList.remove("later"); });
    update();
  }
  // Printing (or saving as PDF) shows the collapsed tables too.
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  });
  issueTable();
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (table.id !== "issues-table") { makeSortable(table, null); }
  });
}());
