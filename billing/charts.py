"""Charts drawn by the server as inline SVG, which the browser turns into interactive ones.

Each chart is readable without any script: an SVG with a title, a description, axes with their
units and each bar's or point's label and value as a tooltip (a screen reader and print read it
too), the figures as a table under it, and its data as JSON in a `<script type="application/json">`
(allowed by the portals' Content-Security-Policy, which forbids inline scripts and styles).
static/charts.js draws the same data with uPlot (static/vendor/, fetched from npm by
platform/vendor.py) in the brand's primary colour, with values on hover, and hides the SVG. A
period without any figure shows one small line saying so, not a blank chart."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join, json_script
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_noop

WIDTH, HEIGHT, AXIS, LEFT, TOP = 720, 180, 34, 44, 24  # (TOP: room for the unit above the value axis)
NO_CALLS = gettext_noop("No calls in this period.")  # (translated where it is shown)


def chart_data(*, chart_id: str, kind: str, title: str, unit: str, axis: str,
               points: list[tuple[str, str, float | None]], top: float | None = None) -> SafeString:  # fmt: skip
    """The chart's figures for static/charts.js, as a JSON script element `<chart_id>-data`: the
    labels (tooltips), the short labels (the time axis), the values (None: no figure), the value
    axis' unit and top (None: the highest value)."""
    data = {"kind": kind, "title": title, "unit": unit, "axis": axis, "top": top,
            "labels": [label for label, _, _ in points], "ticks": [short for _, short, _ in points],
            "values": [value for _, _, value in points]}  # fmt: skip
    return json_script(data, f"{chart_id}-data")


def chart_empty(*, chart_id: str, title: str = "", empty: str) -> SafeString:
    """One small line instead of a blank chart (or instead of several: no title)."""
    if not title:
        return format_html('<p class="chart-empty" id="{}">{}</p>', chart_id, empty)
    return format_html('<p class="chart-empty" id="{}"><strong>{}</strong>: {}</p>', chart_id, title, empty)


def _value_axis(values: tuple[float, ...], y, *, left: int, right: int, unit: str) -> SafeString:
    """The value axis: each value's label and grid line, the unit above the labels."""
    lines = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="12" text-anchor="end">{}</text>'
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}" stroke="#d9dde5" stroke-width="1"/>',
        ((left - 4, f"{y(v) + 4:.1f}", f"{round(v, 1):g}", left, right, f"{y(v):.1f}", f"{y(v):.1f}") for v in values),
    )  # fmt: skip
    return format_html('{}<text class="unit" x="{}" y="10" font-size="11" text-anchor="end">{}</text>',
                       lines, left - 4, unit)  # fmt: skip


def bar_chart(*, chart_id: str, title: str, points: list[tuple[str, str, float]], unit: str, axis: str = "",
              empty: str | None = None) -> SafeString:  # fmt: skip
    """One bar per (label, short axis label, value), from 0 to the largest value; the value axis shows
    0, half and the top with the unit, the time axis the short labels (`axis` names it). With no
    value above 0 the chart is one line saying `empty` (default: no calls in this period)."""
    if not any(value for _, _, value in points):
        empty = gettext(NO_CALLS) if empty is None else empty
        return chart_empty(chart_id=chart_id, title=title, empty=empty)
    top = max(value for _, _, value in points)
    step = (WIDTH - LEFT) / len(points)

    def y(value: float) -> float:
        return TOP + HEIGHT - value / top * HEIGHT

    bars = format_html_join(
        "",
        '<g class="bar"><rect x="{}" y="{}" width="{}" height="{}"><title>{}: {} {}</title></rect>'
        '<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text></g>',
        (
            (
                f"{LEFT + i * step + step * 0.1:.1f}",
                f"{y(value):.1f}",
                f"{step * 0.8:.1f}",
                f"{value / top * HEIGHT:.1f}",
                label,
                value,
                unit,
                f"{LEFT + i * step + step / 2:.1f}",
                TOP + HEIGHT + 14,
                short if len(points) <= 31 or i % 7 == 0 else "",
            )
            for i, (label, short, value) in enumerate(points)
        ),
    )
    total = sum(value for _, _, value in points)
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", ((label, value) for label, _, value in points))
    return format_html(
        '<figure class="chart bars" data-chart="{}"><svg id="{}" role="img" aria-labelledby="{}-title {}-desc" '
        'viewBox="0 0 {} {}" width="100%" fill="currentColor">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}{}'
        '<text class="unit" x="{}" y="{}" font-size="11" text-anchor="end">{}</text></svg>'
        "<figcaption>{} ({})</figcaption>{}"
        '<details class="chart-figures"><summary>{}</summary><div class="table-scroll">'
        '<table id="{}-table"><thead><tr><th>{}</th><th>{} ({})</th></tr></thead><tbody>{}</tbody></table>'
        "</div></details></figure>",
        chart_id, chart_id, chart_id, chart_id, WIDTH, TOP + HEIGHT + AXIS,
        chart_id, title, chart_id,
        gettext("%(bars)s bars; total %(total)s %(unit)s, highest %(top)s %(unit)s.")
        % {"bars": len(points), "total": round(total, 2), "unit": unit, "top": top},
        _value_axis((0, top / 2, top), y, left=LEFT, right=WIDTH, unit=unit), bars,
        WIDTH, TOP + HEIGHT + AXIS - 2, axis,
        title, gettext("highest %(top)s %(unit)s") % {"top": top, "unit": unit},
        chart_data(chart_id=chart_id, kind="bar", title=title, unit=unit, axis=axis, points=points),
        gettext("The figures"), chart_id, axis or gettext("When"), title, unit, rows,
    )  # fmt: skip


# A line chart is drawn smaller than a bar chart (shown two abreast): its text stays readable.
LINE_WIDTH, LINE_HEIGHT, PAD, FONT = 480, 160, 12, 12


def line_chart(*, chart_id: str, title: str, points: list[tuple[str, str, float | None]], unit: str,
               top: float | None = None, empty: str | None = None, axis: str = "") -> SafeString:  # fmt: skip
    """A line over time, one point per (label, short axis label, value; None: no figure then, a gap),
    from 0 to `top` (default: the highest value). The value axis shows 0, half and the top with the
    unit; the time axis the first, middle and last short labels (`axis` names it); each point its
    label and value as a tooltip. With no value at all the chart is one line saying `empty`. The line
    is in the portal's primary colour (static/ocx.css)."""
    values = [value for _, _, value in points if value is not None]
    if not values:
        empty = gettext("No figures yet.") if empty is None else empty
        return chart_empty(chart_id=chart_id, title=f"{title} ({unit})", empty=empty)
    height, width = LINE_HEIGHT, LINE_WIDTH - LEFT - 6  # (room for the last point)
    scale = top or max(values) or 1
    step = width / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return LEFT + (i * step if len(points) > 1 else width / 2)

    def y(value: float) -> float:  # (the top value's label stays inside the picture)
        return TOP + height - min(value, scale) / scale * (height - PAD)

    lines, run = [], []
    for i, (_, _, value) in enumerate(points):
        if value is None:
            if run:
                lines.append(run)
            run = []
        else:
            run.append(f"{x(i):.1f},{y(value):.1f}")
    if run:
        lines.append(run)
    paths = format_html_join("", '<polyline points="{}" fill="none" stroke="currentColor" stroke-width="2"/>',
                             ((" ".join(r),) for r in lines))  # fmt: skip
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="2.5"><title>{}: {} {}</title></circle>',
        ((f"{x(i):.1f}", f"{y(v):.1f}", label, round(v, 1), unit) for i, (label, _, v) in enumerate(points)
         if v is not None),
    )  # fmt: skip
    ticks = sorted({0, (len(points) - 1) // 2, len(points) - 1})
    anchors = {0: "start", len(points) - 1: "end"} if len(points) > 1 else {}
    times = format_html_join("", '<text x="{}" y="{}" font-size="{}" text-anchor="{}">{}</text>',
                             ((f"{x(i):.1f}", TOP + height + 16, FONT, anchors.get(i, "middle"), points[i][1])
                              for i in ticks))  # fmt: skip
    summary = gettext(
        "%(points)s points; lowest %(low)s %(unit)s, highest %(high)s %(unit)s, last %(last)s %(unit)s."
    ) % {"points": len(values), "low": round(min(values), 1), "high": round(max(values), 1),
         "last": round(values[-1], 1), "unit": unit}  # fmt: skip
    return format_html(
        '<figure class="chart" data-chart="{}"><svg id="{}" role="img" aria-labelledby="{}-title {}-desc" '
        'viewBox="0 0 {} {}" width="100%" fill="currentColor">'
        '<title id="{}-title">{} ({})</title><desc id="{}-desc">{}</desc>{}{}<g class="line">{}{}</g></svg>'
        "<figcaption>{} ({}): {}</figcaption>{}</figure>",
        chart_id, chart_id, chart_id, chart_id, LINE_WIDTH, TOP + LINE_HEIGHT + AXIS - 10,
        chart_id, title, unit, chart_id, summary,
        _value_axis((0, scale / 2, scale), y, left=LEFT, right=LINE_WIDTH, unit=unit), times, paths, dots,
        title, unit, summary,
        chart_data(chart_id=chart_id, kind="line", title=title, unit=unit, axis=axis, points=points, top=top),
    )  # fmt: skip
