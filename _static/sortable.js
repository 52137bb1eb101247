// Tables with class "optim-sortable" (the scoreboard's claims): click a column's header to sort
// by it (again to reverse; numbers as numbers), type in the box above to keep only the rows
// that contain the text. No server, no library.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.optim-sortable").forEach((table) => {
    const body = table.tBodies[0];
    if (!body) return;
    const filter = document.createElement("input");
    filter.type = "search";
    filter.placeholder = "Filter the rows (chapter, claim, verdict, ...)";
    filter.className = "optim-filter";
    filter.style.cssText = "width: 100%; margin: 0.5em 0; padding: 0.3em;";
    table.parentNode.insertBefore(filter, table);
    filter.addEventListener("input", () => {
      const text = filter.value.toLowerCase();
      Array.from(body.rows).forEach((row) => {
        row.style.display = row.textContent.toLowerCase().includes(text) ? "" : "none";
      });
    });
    const value = (row, i) => {
      const cell = row.cells[i];
      const text = cell ? cell.textContent.trim() : "";
      const number = parseFloat(text);
      return Number.isNaN(number) || !/^[-+]?[\d.]/.test(text) ? text.toLowerCase() : number;
    };
    Array.from(table.tHead ? table.tHead.rows[0].cells : []).forEach((header, i) => {
      header.style.cursor = "pointer";
      header.title = "Sort by this column";
      header.addEventListener("click", () => {
        const ascending = header.dataset.order !== "ascending";
        header.dataset.order = ascending ? "ascending" : "descending";
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const x = value(a, i), y = value(b, i);
          const order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
          return ascending ? order : -order;
        });
        rows.forEach((row) => body.appendChild(row));
      });
    });
  });
});
