/* The portals' charts, drawn again with uPlot (static/vendor/uplot/, from npm: platform/vendor.py).
   Each chart the server drew (billing/charts.py: <figure class="chart" data-chart="ID">, an SVG, a
   table, its figures in <script type="application/json" id="ID-data">) becomes a canvas with axes
   and their units, in the brand's primary colour (--primary, set by the theme), with the value under
   the pointer in a tooltip. Colours and positions are set through the CSSOM, which the portals'
   Content-Security-Policy allows (it forbids style attributes and inline scripts). Without scripts,
   or without uPlot, the server's SVG stays. */
(function () {
  "use strict";
  if (!window.uPlot || !window.JSON) { return; }

  var root = getComputedStyle(document.documentElement);
  var primary = root.getPropertyValue("--primary").trim() || "#1f4e79";
  var grid = root.getPropertyValue("--line").trim() || "#d9dde5";
  var text = getComputedStyle(document.body).color;

  function number(value) {
    return (Math.round(value * 10) / 10).toLocaleString(document.documentElement.lang || undefined);
  }

  function tooltip(data) {
    var tip;
    return {
      hooks: {
        init: function (u) {
          tip = document.createElement("div");
          tip.className = "chart-tip";
          tip.setAttribute("role", "status");
          tip.hidden = true;
          u.over.appendChild(tip);
        },
        setCursor: function (u) {
          var i = u.cursor.idx;
          var value = i == null ? null : data.values[i];
          if (value == null) { tip.hidden = true; return; }
          tip.textContent = data.labels[i] + ": " + number(value) + " " + data.unit;
          tip.hidden = false;
          var half = tip.offsetWidth / 2;  // kept inside the plot, so a phone's page never scrolls sideways
          var x = Math.min(Math.max(u.valToPos(i, "x"), half), u.over.clientWidth - half);
          var y = u.valToPos(value, "y");
          tip.style.transform = "translate(" + x + "px, " + y + "px) translate(-50%, -130%)";
        }
      }
    };
  }

  function draw(figure) {
    var source = document.getElementById(figure.getAttribute("data-chart") + "-data");
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    var bars = data.kind === "bar";
    var count = data.values.length;
    var xs = data.values.map(function (_, i) { return i; });
    var highest = Math.max.apply(null, data.values.filter(function (v) { return v != null; }).concat([0]));
    var whole = data.values.every(function (v) { return v == null || v % 1 === 0; });  // counts: 0, 1, 2...
    // The value axis from 0 to its fixed top, else a round number above the highest value.
    var top = data.top || uPlot.rangeNum(0, highest || 1, 0.1, true)[1];
    var svg = figure.querySelector("svg");
    var holder = document.createElement("div");
    holder.className = "chart-canvas";
    holder.setAttribute("role", "img");
    var described = svg && svg.querySelector("desc");  // the server's title and summary of the chart
    holder.setAttribute("aria-label", data.title + " (" + data.unit + ")" + (described ? ": " + described.textContent : ""));
    figure.insertBefore(holder, figure.firstChild);
    var height = bars ? 240 : 200;

    function width() { return Math.max(holder.clientWidth || figure.clientWidth, 200); }

    function tickIndices(u) {  // about one label per 48 px, always the first one
      var room = Math.max(2, Math.floor(u.bbox.width / (window.devicePixelRatio || 1) / 48));
      var every = Math.max(1, Math.ceil(count / room));
      var ticks = [];
      for (var i = 0; i < count; i += every) { ticks.push(i); }
      return ticks;
    }

    var options = {
      width: width(),
      height: height,
      legend: { show: false },
      cursor: { y: false, drag: { x: false, y: false }, points: { size: 8, fill: primary } },
      scales: {
        x: { time: false, range: bars ? [-0.5, count - 0.5] : [0, Math.max(count - 1, 1)] },
        y: { range: [0, top] }
      },
      axes: [
        {
          label: data.axis, stroke: text, grid: { show: false }, ticks: { stroke: grid },
          splits: tickIndices,
          values: function (u, splits) { return splits.map(function (i) { return data.ticks[i] || ""; }); }
        },
        {
          label: data.unit, stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid },
          incrs: whole ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000, 100000] : undefined,
          values: function (u, splits) { return splits.map(number); }
        }
      ],
      series: [
        {},
        bars ? {
          label: data.title, fill: primary, stroke: primary, width: 0, points: { show: false },
          paths: uPlot.paths.bars({ size: [0.8, 64] })
        } : {
          label: data.title, stroke: primary, width: 2, spanGaps: false,
          points: { show: count <= 48, size: 5, fill: primary }
        }
      ],
      plugins: [tooltip(data)]
    };
    var chart = new uPlot(options, [xs, data.values], holder);
    figure.classList.add("drawn");  // static/ocx.css hides the server's SVG
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (width() !== chart.width) { chart.setSize({ width: width(), height: height }); }
      }).observe(figure);
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("figure.chart[data-chart]"), function (figure) {
    try { draw(figure); } catch (error) {  // the server's chart stays
      figure.classList.remove("drawn");
      Array.prototype.forEach.call(figure.querySelectorAll(".chart-canvas"), function (c) { c.remove(); });
      if (window.console) { console.warn("chart not drawn", figure.getAttribute("data-chart"), error); }
    }
  });
})();
