"""The owner's dashboard, `/analytics`: over a chosen range of days, the most searched queries with their
click-through rate, the zero-result and low-confidence queries (the catalog's gaps), searches per day and the
Times Matched trend of the most matched artifacts; all-time totals above.

The range is `?days=7|30|90` (the last N days, today included) or `?since=&until=` (days, inclusive); the
default is the last 30 days. Every chart sits beside its data table.
"""

from __future__ import annotations

import datetime as dt
import re

from flask import render_template, request

from api import charts
from api.pages import bp
from api.state import engine

TOP_LINES = 5
PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 366
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if _DAY.match(text) else None
    except ValueError:
        return None


def date_range(args, today: dt.date | None = None) -> tuple[str, str, int | None]:
    """(since, until, preset days or None) of a dashboard URL; a bad or reversed range falls back to the
    default, and a range is at most MAX_DAYS long (the charts draw one mark per day)."""
    today = today or dt.datetime.now(dt.UTC).date()
    since, until = _day(args.get("since", "")), _day(args.get("until", ""))
    if since and (until or today) >= since:
        until = min(until or today, since + dt.timedelta(days=MAX_DAYS - 1))
        return since.isoformat(), until.isoformat(), None
    try:
        days = int(args.get("days", DEFAULT_DAYS))
    except ValueError:
        days = DEFAULT_DAYS
    days = min(MAX_DAYS, max(1, days))
    return (today - dt.timedelta(days=days - 1)).isoformat(), today.isoformat(), days


def _days(since: str, until: str) -> list[str]:
    start, end = dt.date.fromisoformat(since), dt.date.fromisoformat(until)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _active_days(points: list[str], since: str, until: str) -> list[str]:
    """The days of the range from the first with data (a long range of empty days draws nothing useful)."""
    inside = sorted(d for d in points if since <= d <= until)
    return _days(inside[0], until) if inside else []


@bp.get("/analytics")
def analytics():
    """Top searches with click-through rate, catalog gaps, searches per day and artifact trends, by range."""
    eng = engine()
    since, until, preset = date_range(request.args)
    summary = eng.summary()
    top = [{"artifact_id": a, "name": eng.artifacts[a].name if a in eng.artifacts else a, "times_matched": n}
           for a, n in eng.top_artifacts(limit=10, since=since)]
    series = [charts.Series(t["name"], {d: v for d, v in eng.timeline(t["artifact_id"], since=since) if d <= until})
              for t in top[:TOP_LINES]]
    for s, t in zip(series, top, strict=False):
        t["in_range"] = s.total
    days = _active_days([d for s in series for d in s.points], since, until)
    lines = charts.line_chart(series, days, chart_id="tm-over-time", title="Times Matched per day, top artifacts",
                              desc=f"The {len(series)} most matched artifacts, {since} to {until}: "
                                   + ("one bar per artifact and day." if charts.draws_bars(days) else
                                      "one line per artifact.")) if series and days else None
    per_day = {d: n for d, n in eng.searches_per_day(since=since) if d <= until}
    search_days = _active_days(list(per_day), since, until)
    searches = [(d, per_day.get(d, 0)) for d in search_days]
    columns = charts.column_chart(searches, chart_id="searches-per-day", title="Searches per day",
                                  desc=f"{sum(per_day.values())} searches from {since} to {until}; "
                                       f"one bar per day over {len(search_days)} days.",
                                  unit=" searches") if searches else None
    stats = eng.search_stats(since=since, until=until, limit=10)
    return render_template(
        "analytics.html", summary=summary, artifacts=len(eng.artifacts), top=top, series=series, days=days,
        lines=lines, bars=charts.draws_bars(days), columns=columns, searches=searches, stats=stats,
        emptied=eng.queries("filtered_empty", limit=10), since=since, until=until, preset=preset,
        presets=PRESETS, charts=charts, active="analytics")
