// The overview's charts: jobs finished (succeeded, failed) and the failure
// rate per time bucket, for all queues or one, over the last hour or day.
// Data comes as JSON from the dashboard (numbers and queue names); queue
// names reach the page as text only (textContent), never as markup. uPlot
// draws on a canvas; it sets styles through the DOM, which the dashboard's
// Content-Security-Policy (no inline style or script) allows.
(function () {
  "use strict";
  var section = document.getElementById("charts");
  if (!section || typeof window.uPlot !== "function") {
    return;
  }
  var every = Number(section.dataset.every) || 5000;
  var rangeSelect = document.getElementById("chart-range");
  var queueSelect = document.getElementById("chart-queue");
  var totals = document.getElementById("chart-totals");
  var throughputBox = document.getElementById("throughput-chart");
  var failureBox = document.getElementById("failure-chart");
  var last = null; // the last JSON answer
  var charts = [];
  var timer = null;

  function color(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function axes(unit) {
    var text = color("--muted");
    var line = color("--line");
    return [
      { stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } },
      {
        stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 },
        size: 60, values: function (u, splits) {
          // jobs are counted whole: no tick at 0.5 job
          return splits.map(function (v) { return Number.isInteger(v) ? v + unit : ""; });
        }
      }
    ];
  }

  function width(box) {
    return Math.max(240, box.clientWidth || section.clientWidth || 300);
  }

  function height() {
    return window.innerWidth < 600 ? 160 : 220;
  }

  function build() {
    charts.forEach(function (c) { c.destroy(); });
    var ok = color("--ok");
    var bad = color("--bad");
    section.dataset.axisColor = color("--muted");
    charts = [
      new window.uPlot({
        width: width(throughputBox), height: height(),
        scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
        axes: axes(""),
        series: [
          {},
          { label: "succeeded", stroke: ok, width: 2, points: { show: false } },
          { label: "failed", stroke: bad, width: 2, points: { show: false } }
        ]
      }, [[], [], []], throughputBox),
      new window.uPlot({
        width: width(failureBox), height: height(),
        scales: { x: { time: true }, y: { range: [0, 100] } },
        axes: axes(" %"),
        series: [
          {},
          // a bucket without jobs has no rate (a gap); a lone value shows as a point
          { label: "failure rate", stroke: bad, width: 2, spanGaps: false, points: { show: true, size: 5 } }
        ]
      }, [[], []], failureBox)
    ];
    if (last) {
      draw();
    }
  }

  function queueOptions(names) {
    var known = {};
    Array.prototype.forEach.call(queueSelect.options, function (o) { known[o.value] = true; });
    names.forEach(function (name) {
      if (!known[name]) {
        var option = document.createElement("option");
        option.value = name;
        option.textContent = name;
        queueSelect.appendChild(option);
      }
    });
  }

  function draw() {
    var names = Object.keys(last.queues).sort();
    queueOptions(names);
    var chosen = queueSelect.value;
    var xs = [];
    var succeeded = [];
    var failed = [];
    var rate = [];
    var total = { succeeded: 0, failed: 0 };
    for (var i = 0; i < last.buckets; i++) {
      xs.push(last.start + i * last.step);
      var s = 0;
      var f = 0;
      names.forEach(function (name) {
        if (!chosen || chosen === name) {
          s += last.queues[name].succeeded[i];
          f += last.queues[name].failed[i];
        }
      });
      succeeded.push(s);
      failed.push(f);
      rate.push(s + f > 0 ? Math.round((1000 * f) / (s + f)) / 10 : null);
      total.succeeded += s;
      total.failed += f;
    }
    charts[0].setData([xs, succeeded, failed]);
    charts[1].setData([xs, rate]);
    totals.textContent = total.succeeded + " succeeded, " + total.failed + " failed";
    section.dataset.range = last.range;
    section.dataset.queue = chosen;
    section.dataset.succeeded = String(total.succeeded);
    section.dataset.failed = String(total.failed);
    section.dataset.draws = String((Number(section.dataset.draws) || 0) + 1);
  }

  function refresh() {
    window.clearTimeout(timer);
    var url = section.dataset.source + "?range=" + encodeURIComponent(rangeSelect.value);
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        last = data;
        draw();
        section.classList.remove("stale");
      })
      .catch(function () {
        section.classList.add("stale");
      })
      .finally(function () {
        timer = window.setTimeout(refresh, every);
      });
  }

  rangeSelect.addEventListener("change", refresh);
  queueSelect.addEventListener("change", function () {
    if (last) {
      draw();
    }
  });
  window.addEventListener("resize", function () {
    charts[0].setSize({ width: width(throughputBox), height: height() });
    charts[1].setSize({ width: width(failureBox), height: height() });
  });
  // colours follow the system's light or dark mode, also when it changes
  if (window.matchMedia) {
    var dark = window.matchMedia("(prefers-color-scheme: dark)");
    if (dark.addEventListener) {
      dark.addEventListener("change", build);
    }
  }
  build();
  refresh();
})();
