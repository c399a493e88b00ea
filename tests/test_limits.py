"""Size limits of the product code, checked on the source (ast): a module in api/, search/ or graph/ is at
most 600 lines (the store backends and the outage spool excepted), `search/engine.py` (the facade) at most
250, and no function or method is over 80 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "search", "graph")
MODULE_LINES = 600
FACADE_LINES = 250
FUNCTION_LINES = 80
EXEMPT = {"graph/store/sqlite.py", "graph/store/redis.py", "graph/store/spool.py"}


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_modules_are_at_most_600_lines() -> None:
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
            and p.relative_to(ROOT).as_posix() not in EXEMPT]
    assert not long, "\n".join(long)


def test_the_engine_is_a_thin_facade() -> None:
    n = len((ROOT / "search" / "engine.py").read_text(encoding="utf-8").splitlines())
    assert n <= FACADE_LINES, f"search/engine.py: {n} lines (at most {FACADE_LINES}: put logic in its parts)"


def test_functions_are_at_most_80_lines() -> None:
    long = []
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"), str(p))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - first + 1 > FUNCTION_LINES:
                    long.append(f"{p.relative_to(ROOT)}:{node.lineno}: {node.name} "
                                f"({node.end_lineno - first + 1} lines)")
    assert not long, "\n".join(long)
