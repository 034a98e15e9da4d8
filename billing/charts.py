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
