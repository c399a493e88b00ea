"""Server-side SVG charts: small, accessible (role="img" with a title and a description), no library.

Colours are set with SVG presentation attributes, which the CSP (`style-src 'self'`) allows.
Every chart is meant to sit next to a data table, so the numbers are never only in a picture.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

# Okabe-Ito hues, darkened where needed so each line keeps 3:1 contrast against white.
PALETTE = ("#0067a5", "#c04400", "#00775a", "#9c3f78", "#5a4a96")
DASHES = ("", "7 3", "2 3", "9 3 2 3", "4 4")
WIDTH, HEIGHT = 420, 220
LEFT, RIGHT, TOP, BOTTOM = 38, 14, 14, 34
AXIS = "#595959"
GRID = "#e3e3e3"


@dataclass
class Series:
    """One line of a line chart: a label and a value per day."""

    label: str
    points: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.points.values())


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def dash(i: int) -> str:
    return DASHES[i % len(DASHES)]


def day_range(days: Iterable[str], last: int = 30, today: dt.date | None = None) -> list[str]:
    """Every day from the first seen to today (at most `last` days), so quiet days read as zeros."""
    seen = sorted(days)
    if not seen:
        return []
    end = max(dt.date.fromisoformat(seen[-1]), today or dt.datetime.now(dt.UTC).date())
    start = max(dt.date.fromisoformat(seen[0]), end - dt.timedelta(days=last - 1))
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def nice_max(value: float) -> int:
    """A round axis maximum at or above `value` (1, 2, 5 x 10^n), at least 4 so ticks stay integers."""
    value = max(4, int(value))
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step * 4 >= value:
                return m * step * 4
        step *= 10


def _frame(title: str, desc: str, chart_id: str, body: list[str], top: int) -> Markup:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{chart_id}-title">{escape(title)}</title>',
             f'<desc id="{chart_id}-desc">{escape(desc)}</desc>']
    for i in range(5):
        value = top * i // 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID if i else AXIS}" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="13" '
                     f'fill="{AXIS}">{value}</text>')
    parts += body
    parts.append("</svg>")
    return Markup("".join(parts))


def _x_labels(days: Sequence[str], xs: Sequence[float]) -> list[str]:
    """Month-day labels for the first and last day, and the middle one when there is room."""
    if not days:
        return []
    picks = sorted({0, len(days) - 1} | ({len(days) // 2} if len(days) >= 5 else set()))
    out = []
    for i in picks:
        anchor = "middle" if len(days) == 1 else ("start" if i == 0 else "end" if i == len(days) - 1 else "middle")
        out.append(f'<text x="{xs[i]:.1f}" y="{HEIGHT - 12}" text-anchor="{anchor}" font-size="13" '
                   f'fill="{AXIS}">{escape(days[i][5:])}</text>')
    return out


def line_chart(series: Sequence[Series], days: Sequence[str], *, title: str, desc: str,
               chart_id: str) -> Markup:
    """One line per series over `days` (missing days are 0), each with its own colour and dash.

    With fewer than 3 days lines would only overlap, so each day becomes a group of bars instead (`draws_bars`;
    the legend then shows squares: `swatch(i, bars=True)`).
    """
    top = nice_max(max((v for s in series for v in s.points.values()), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(days)
    if draws_bars(days):
        return _grouped_columns(series, days, top, title=title, desc=desc, chart_id=chart_id)
    xs = [LEFT + plot_w / 2] if n == 1 else [LEFT + plot_w * i / max(n - 1, 1) for i in range(n)]
    body = _x_labels(days, xs)
    for i, s in enumerate(series):
        # Earlier lines are drawn wider, so artifacts matched by the same searches (identical lines)
        # still show every colour as nested stripes instead of hiding one another.
        width = 2 + 1.5 * (len(series) - 1 - i)
        ys = [TOP + plot_h - plot_h * s.points.get(d, 0) / top for d in days]
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        dash_attr = f' stroke-dasharray="{dash(i)}"' if dash(i) else ""
        body.append(f'<g class="series"><polyline points="{pts}" fill="none" stroke="{color(i)}" '
                    f'stroke-width="{width:g}" stroke-linejoin="round"{dash_attr}/>')
        for x, y, d in zip(xs, ys, days, strict=True):
            if s.points.get(d, 0) or n <= 10:
                body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{1.5 + width / 2:g}" fill="{color(i)}">'
                            f'<title>{escape(s.label)}, {d}: {s.points.get(d, 0)}</title></circle>')
        body.append("</g>")
    return _frame(title, desc, chart_id, body, top)


def _grouped_columns(series: Sequence[Series], days: Sequence[str], top: int, *, title: str, desc: str,
                     chart_id: str) -> Markup:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar = min(30.0, slot * 0.8 / max(len(series), 1))
    xs = [LEFT + slot * (i + 0.5) for i in range(len(days))]
    body = _x_labels(days, xs)
    for x, day in zip(xs, days, strict=True):
        left = x - bar * len(series) / 2
        for i, s in enumerate(series):
            h = plot_h * s.points.get(day, 0) / top
            body.append(f'<rect x="{left + i * bar + 1:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar - 2:.1f}" '
                        f'height="{h:.1f}" fill="{color(i)}"><title>{escape(s.label)}, {day}: '
                        f'{s.points.get(day, 0)}</title></rect>')
    return _frame(title, desc, chart_id, body, top)


def column_chart(points: Sequence[tuple[str, int]], *, title: str, desc: str, chart_id: str,
                 unit: str = "") -> Markup:
    """Vertical bars, one per day, with a tooltip each."""
    top = nice_max(max((v for _, v in points), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(points), 1)
    slot = plot_w / n
    bar = min(36.0, slot * 0.7)
    xs = [LEFT + slot * (i + 0.5) for i in range(len(points))]
    body = _x_labels([d for d, _ in points], xs)
    for x, (day, value) in zip(xs, points, strict=True):
        h = plot_h * value / top
        body.append(f'<rect x="{x - bar / 2:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                    f'fill="{PALETTE[0]}"><title>{day}: {value}{escape(unit)}</title></rect>')
    return _frame(title, desc, chart_id, body, top)


def bar(value: float, top: float) -> Markup:
    """A one-row horizontal bar (for lists whose labels stay HTML text, readable on a phone)."""
    share = 0.0 if top <= 0 else max(0.0, min(1.0, value / top))
    return Markup(f'<svg class="hbar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" '
                  f'focusable="false"><rect width="100" height="10" fill="{GRID}"/>'
                  f'<rect width="{100 * share:.1f}" height="10" fill="{PALETTE[0]}"/></svg>')


def draws_bars(days: Sequence[str]) -> bool:
    """Whether `line_chart` draws these days as grouped bars (too few days for lines)."""
    return len(days) < 3


def swatch(i: int, bars: bool = False) -> Markup:
    """The legend key of series `i` as the chart marks it: its colour and dash for a line, a filled square
    for a bar (a legend of lines over bars would describe marks the chart does not have)."""
    if bars:
        return Markup(f'<svg class="swatch swatch-bar" viewBox="0 0 28 10" aria-hidden="true" focusable="false">'
                      f'<rect x="9" y="0" width="10" height="10" fill="{color(i)}"/></svg>')
    dash_attr = f' stroke-dasharray="{dash(i)}"' if dash(i) else ""
    return Markup(f'<svg class="swatch" viewBox="0 0 28 10" aria-hidden="true" focusable="false">'
                  f'<line x1="1" x2="27" y1="5" y2="5" stroke="{color(i)}" stroke-width="3"{dash_attr}/></svg>')
