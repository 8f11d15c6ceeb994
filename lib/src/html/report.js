"use strict";
// Fills the results table from the page's data and sorts it by any column:
// a click sorts ascending, a second click descending. Numbers sort as
// numbers, before text; empty cells always last.
(function () {
  const data = JSON.parse(document.getElementById("exp-data").textContent);
  const limit = data.limit;
  const table = document.getElementById("results");
  const body = table.tBodies[0];
  const note = document.getElementById("results-note");
  const headers = Array.from(table.tHead.rows[0].cells);
  const order = data.rows.map(function (_, i) { return i; });
  let sorted = null;
  const collator = new Intl.Collator(undefined, { numeric: true });

  // Fractions shown to 6 significant digits (the cell's title has them all).
  function text(value) {
    if (value === null) return "";
    if (typeof value === "number" && !Number.isInteger(value)) return String(Number(value.toPrecision(6)));
    return String(value);
  }

  function compare(a, b) {
    const emptyA = a === null || a === "", emptyB = b === null || b === "";
    if (emptyA || emptyB) return emptyA === emptyB ? 0 : emptyA ? 1 : -1;
    const numberA = typeof a === "number", numberB = typeof b === "number";
    if (numberA && numberB) return a - b;
    if (numberA !== numberB) return numberA ? -1 : 1;
    return collator.compare(String(a), String(b));
  }

  function render() {
    const shown = Math.min(limit, order.length);
    const rows = document.createDocumentFragment();
    for (let i = 0; i < shown; i++) {
      const row = data.rows[order[i]];
      const tr = document.createElement("tr");
      for (let c = 0; c < row.length; c++) {
        const td = document.createElement("td");
        td.textContent = text(row[c]);
        if (typeof row[c] === "number") {
          td.className = "number";
          if (td.textContent !== String(row[c])) td.title = String(row[c]);
        }
        if (c === data.status) td.className = "status-" + row[c];
        tr.appendChild(td);
      }
      rows.appendChild(tr);
    }
    body.replaceChildren(rows);
    let said = order.length + " configs";
    if (shown < order.length) said = "the first " + shown + " of " + order.length + " configs";
    if (sorted) {
      said += ", sorted by " + data.columns[sorted.column] + (sorted.descending ? ", descending" : ", ascending");
    }
    note.textContent = "Showing " + said + ". Click a column's header to sort by it.";
  }

  function sortBy(column) {
    const descending = sorted !== null && sorted.column === column && !sorted.descending;
    order.sort(function (a, b) {
      const x = data.rows[a][column], y = data.rows[b][column];
      const emptyX = x === null || x === "", emptyY = y === null || y === "";
      if (emptyX || emptyY) return compare(x, y) || a - b;
      return (descending ? compare(y, x) : compare(x, y)) || a - b;
    });
    sorted = { column: column, descending: descending };
    headers.forEach(function (th, i) {
      th.setAttribute("aria-sort", i === column ? (descending ? "descending" : "ascending") : "none");
    });
    render();
  }

  headers.forEach(function (th, i) {
    th.addEventListener("click", function () { sortBy(i); });
  });
  render();
})();
