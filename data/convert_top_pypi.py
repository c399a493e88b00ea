#!/usr/bin/env python3
"""top-pypi-packages (facts; credit hugovk/top-pypi-packages): 30-day PyPI downloads by project name.

It makes no artifacts: a project name carries no description to decompose into capabilities. `convert_all`
joins these counts onto artifacts that name a PyPI project (best-of-ml-python libraries, MCP servers
published on PyPI) as `signals.downloads_30d`.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, count, pypi_name  # noqa: E402

NAME = "top-pypi"


def convert(src: Path, report: Report) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(src / "top-pypi-packages.csv", encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            report.rows += 1
            name, downloads = (row.get("project") or "").strip(), count(row.get("download_count"))
            if not name or downloads is None:
                report.skip(f"top-pypi-packages.csv:{line}", "no project name or download count")
                continue
            out[pypi_name(name)] = max(downloads, out.get(pypi_name(name), 0))
    return out
