// Draws every figure of the page (each a <script type="application/json" data-chart="KEY"> beside its
// <div id="chart-KEY">), then writes what plotly drew into the element #chart-totals: for each chart,
// each trace's (or table column's) sum and count of numbers, read back from plotly's own full data
// (gd._fullData: the traces after plotly applied its defaults, what the SVG is made from). The tests
// compare those with sums over the marts; a person can read them too (they are hidden).
(function () {
  "use strict";

  function numbers(values) {
    var flat = [];
    (function walk(value) {
      if (value === null || value === undefined) return;
      if (typeof value === "number") {
        if (isFinite(value)) flat.push(value);
      } else if (typeof value !== "string" && typeof value.length === "number") {
        for (var i = 0; i < value.length; i++) walk(value[i]);
      }
    })(values);
    var sum = 0;
    for (var i = 0; i < flat.length; i++) sum += flat[i];
    return { sum: sum, count: flat.length };
  }

  function plain(text) {
    return String(text).replace(/<[^>]*>/g, "");
  }

  function traceTotals(trace) {
    switch (trace.type) {
      case "table": // a column each, named by its header
        var columns = {};
        trace.cells.values.forEach(function (column, i) {
          columns[plain(trace.header.values[i])] = numbers(column);
        });
        return columns;
      case "heatmap":
        return one(trace, trace.z);
      case "indicator":
        return one(trace, [trace.value]);
      case "funnel":
      case "bar":
        return one(trace, trace.orientation === "h" ? trace.x : trace.y);
      default:
        return one(trace, trace.y);
    }
  }

  function one(trace, values) {
    var totals = {};
    totals[trace.name] = numbers(values);
    return totals;
  }

  var specs = document.querySelectorAll("script[type='application/json'][data-chart]");
  var drawn = Array.prototype.map.call(specs, function (spec) {
    var figure = JSON.parse(spec.textContent);
    var gd = document.getElementById("chart-" + spec.dataset.chart);
    return Plotly.newPlot(gd, figure.data, figure.layout, { displaylogo: false, responsive: true });
  });
  Promise.all(drawn)
    .then(function (plots) {
      var totals = {};
      plots.forEach(function (gd) {
        var traces = {};
        gd._fullData.forEach(function (trace) {
          Object.assign(traces, traceTotals(trace));
        });
        totals[gd.id.replace(/^chart-/, "")] = { title: plain(gd.layout.title.text), traces: traces };
      });
      document.getElementById("chart-totals").textContent = JSON.stringify(totals);
      document.body.setAttribute("data-charts-drawn", String(plots.length));
    })
    .catch(function (error) {
      document.body.setAttribute("data-chart-error", String(error));
    });
})();
