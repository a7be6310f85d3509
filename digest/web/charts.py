"""Charts drawn on the server as inline SVG: the last days' digests as stacked bars, sparklines.

No script and no style attribute (the Content-Security-Policy allows neither):
shapes carry a class, and the page's stylesheet colours them for light and
dark mode. Every label is escaped; each bar and point has a <title> the
browser shows on hover and a screen reader reads.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from digest.dashboard.figures import Day

# (series key, legend label, CSS class), bottom of the stack first.
SERIES = (("sent", "Sent", "c-sent"),
          ("skipped:no new papers", "Skipped: no new papers", "c-none"),
          ("skipped:nothing relevant", "Skipped: nothing relevant", "c-irrelevant"),
          ("skipped:other", "Skipped: other reason", "c-skip"),
          ("failed", "Failed", "c-failed"),
          ("suppressed", "Suppressed", "c-suppressed"))
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 230, 46, 26, 12


def day_values(day: Day) -> dict[str, int]:
    """The chart's series for one day: sent, each skip reason, failed, suppressed."""
    values = {"sent": day.count("sent"), "failed": day.count("failed"), "suppressed": day.count("suppressed")}
    values.update({f"skipped:{kind}": day.skips.get(kind, 0) for kind in ("no new papers", "nothing relevant",
                                                                          "other")})
    return values


def _nice_max(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^n at or above `value` (at least 1): the top of the y axis."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def bar_chart(days: list[Day]) -> Markup:
    """Stacked bars, one per edition date, oldest on the left; a y axis with three gridlines."""
    values = [day_values(d) for d in days]
    top = _nice_max(max((sum(v.values()) for v in values), default=0))
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="Digests per edition date, last {len(days)} days">']
    for n in range(3):  # gridlines at 0, half and the top; the half is labelled when it is a whole number
        y = TOP + plot_h - plot_h * n / 2
        label = f"{top * n // 2}" if top * n % 2 == 0 else ""
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for i, (day, v) in enumerate(zip(days, values)):
        x, base = LEFT + i * slot + slot * 0.15, TOP + plot_h
        for key, label, css in SERIES:
            if not v[key]:
                continue
            h = plot_h * v[key] / top
            base -= h
            parts.append(f'<rect class="{css}" x="{x:.1f}" y="{base:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}">'
                         f'<title>{escape(day.date.isoformat())}: {v[key]} {escape(label.lower())}</title></rect>')
        if i % 5 == (len(days) - 1) % 5:  # every fifth date, ending on the last
            parts.append(f'<text class="axis" x="{x + slot * 0.35:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                         f'{day.date:%d %b}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(counts: list[int], first_label: str = "", width: int = 150, height: int = 28) -> Markup:
    """A line of daily counts, oldest on the left, with the last day marked; empty days sit on the baseline."""
    top = max(max(counts, default=0), 1)
    step = (width - 4) / max(len(counts) - 1, 1)
    points = [(2 + i * step, height - 3 - (height - 6) * c / top) for i, c in enumerate(counts)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    total = sum(counts)
    title = f"{total} new papers in {len(counts)} days" + (f" since {first_label}" if first_label else "")
    parts = [f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line class="grid" x1="2" x2="{width - 2}" y1="{height - 3}" y2="{height - 3}"/>']
    if points:
        parts.append(f'<polyline class="spark-line" points="{line}"/>')
        x, y = points[-1]
        parts.append(f'<circle class="spark-dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
