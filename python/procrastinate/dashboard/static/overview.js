// Refreshes the overview's counts without reloading the page. The server
// renders (and escapes) the table's rows; this only swaps them in, then
// marks the table with the time of the refresh.
(function () {
  "use strict";
  var table = document.getElementById("queue-counts");
  if (!table) {
    return;
  }
  var every = Number(table.dataset.every) || 2000;

  function refresh() {
    fetch(table.dataset.source, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        table.innerHTML = html;
        table.dataset.refreshedAt = String(Date.now());
        table.classList.remove("stale");
      })
      .catch(function () {
        // the server may be restarting: show the counts as old, try again later
        table.classList.add("stale");
      })
      .finally(function () {
        window.setTimeout(refresh, every);
      });
  }

  window.setTimeout(refresh, every);
})();
