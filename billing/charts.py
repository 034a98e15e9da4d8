"""Bar charts drawn by the server as inline SVG: no script, readable by a screen reader (the chart
has a title and a description, each bar its label and value as a tooltip) and in print."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, AXIS = 720, 180, 20


def bar_chart(*, chart_id: str, title: str, points: list[tuple[str, str, float]], unit: str) -> SafeString:
    """One bar per (label, short axis label, value), scaled to the largest; the tallest value is written on the axis."""
    top = max((value for _, _, value in points), default=0) or 1
    step = WIDTH / max(len(points), 1)
    bars = format_html_join(
        "",
        '<g class="bar"><rect x="{}" y="{}" width="{}" height="{}"><title>{}: {} {}</title></rect>'
        '<text x="{}" y="{}" font-size="9" text-anchor="middle">{}</text></g>',
        (
            (
                f"{i * step + step * 0.1:.1f}",
                f"{HEIGHT - value / top * HEIGHT:.1f}",
                f"{step * 0.8:.1f}",
                f"{value / top * HEIGHT:.1f}",
                label,
                value,
                unit,
                f"{i * step + step / 2:.1f}",
                HEIGHT + 14,
                short if len(points) <= 31 or i % 7 == 0 else "",
            )
            for i, (label, short, value) in enumerate(points)
        ),
    )
    total = sum(value for _, _, value in points)
    return format_html(
        '<figure class="chart"><svg id="{}" role="img" aria-labelledby="{}-title {}-desc" viewBox="0 0 {} {}" '
        'width="100%" preserveAspectRatio="none" fill="currentColor">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{} bars; total {} {}, highest {} {}.</desc>{}</svg>'
        "<figcaption>{} (highest {} {})</figcaption></figure>",
        chart_id, chart_id, chart_id, WIDTH, HEIGHT + AXIS,
        chart_id, title, chart_id, len(points), round(total, 2), unit, top if points else 0, unit, bars,
        title, top if points else 0, unit,
    )  # fmt: skip


# A line chart is drawn smaller than a bar chart (shown two abreast): its text stays readable.
LINE_WIDTH, LINE_HEIGHT, LEFT, PAD, FONT = 480, 160, 40, 12, 12


def line_chart(*, chart_id: str, title: str, points: list[tuple[str, str, float | None]], unit: str,
               top: float | None = None, empty: str = "No figures yet.") -> SafeString:  # fmt: skip
    """A line over time, one point per (label, short axis label, value; None: no figure then, a gap),
    from 0 to `top` (default: the highest value). The value axis shows 0, half and the top; the time
    axis the first, middle and last short labels; each point its label and value as a tooltip. With
    no value at all the chart says `empty`. The line is in the portal's primary colour (static/ocx.css)."""
    values = [value for _, _, value in points if value is not None]
    height, width = LINE_HEIGHT, LINE_WIDTH - LEFT - 6  # (room for the last point)
    scale = top or max(values, default=0) or 1
    step = width / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return LEFT + (i * step if len(points) > 1 else width / 2)

    def y(value: float) -> float:  # (the top value's label stays inside the picture)
        return height - min(value, scale) / scale * (height - PAD)

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
    axis = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="{}" text-anchor="end">{}</text>'
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#d9dde5" stroke-width="1"/>',
        ((LEFT - 4, f"{y(v) + 4:.1f}", FONT, f"{round(v, 1):g}", LEFT, LINE_WIDTH, f"{y(v):.1f}", f"{y(v):.1f}")
         for v in (0, scale / 2, scale)),
    )  # fmt: skip
    ticks = [] if not points else sorted({0, (len(points) - 1) // 2, len(points) - 1})
    anchors = {0: "start", len(points) - 1: "end"} if len(points) > 1 else {}
    times = format_html_join("", '<text x="{}" y="{}" font-size="{}" text-anchor="{}">{}</text>',
                             ((f"{x(i):.1f}", height + 16, FONT, anchors.get(i, "middle"), points[i][1])
                              for i in ticks))  # fmt: skip
    if values:
        summary = format_html("{} points; lowest {} {}, highest {} {}, last {} {}.", len(values),
                              round(min(values), 1), unit, round(max(values), 1), unit,
                              round(values[-1], 1), unit)  # fmt: skip
        note = format_html('<g class="line">{}{}</g>', paths, dots)
    else:
        summary = empty
        note = format_html('<text class="empty" x="{}" y="{}" font-size="{}" text-anchor="middle">{}</text>',
                           LEFT + width / 2, height / 2, FONT, empty.split(":")[0] + ".")  # fmt: skip
    return format_html(
        '<figure class="chart"><svg id="{}" role="img" aria-labelledby="{}-title {}-desc" viewBox="0 0 {} {}" '
        'width="100%" fill="currentColor">'
        '<title id="{}-title">{} ({})</title><desc id="{}-desc">{}</desc>{}{}{}</svg>'
        "<figcaption>{} ({}): {}</figcaption></figure>",
        chart_id, chart_id, chart_id, LINE_WIDTH, LINE_HEIGHT + AXIS,
        chart_id, title, unit, chart_id, summary, axis, times, note,
        title, unit, summary,
    )  # fmt: skip
