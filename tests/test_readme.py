"""The README is what a newcomer reads first, so it is checked like code: every relative path and link it
names exists (and every anchor into docs/ is a real heading), every short command in it runs, every long
command answers `--help`, and its run command (`python -m api serve`) really serves the bundled catalog:
started on a private port and data dir, `/readyz` answers 200, and the search example and the curl it
shows give what the README says.

A command the README gains must be sorted into SHORT (run as written), LONG (only `--help`) or LIVE (run
against the started server) below, or `test_every_command_is_known` fails.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
# a first start ingests the bundled catalog: ~10 s on a quiet machine with a current vector snapshot; it embeds
# whatever capability data/vectors/ lacks (minutes on a loaded 2-core machine), so allow far more than 240 s
READY_TIMEOUT_S = 600

# heads of commands: run as written (fast, no side effects)
SHORT = ("python -m api config", "python -m api --help")
# heads of commands that run long, write files or need services: only `<head> --help` is run
LONG = ("python -m api serve", "python -m api ingest", "python -m api recompute", "python -m api rebuild",
        "python -m api compact", "python -m api search", "python -m pytest", "python -m bench.api_examples",
        "python data/convert_all.py", "python3 -m venv", "pip install", "scripts/lock",
        "python -m api config --markdown --write", "python -m data.audit")
# commands run against the server the serve test starts (the README's host and port are replaced)
LIVE = ('python -m api search "', "curl ")
# not commands (exact): the package's name, a placeholder, a shell built-in inside the set-up line
SKIP = {"python -m api", "python -m api COMMAND --help", ". .venv/bin/activate"}
# paths the README names that exist only at run time or beside the repository
RUNTIME_PATHS = {"./var", "../shared/data", "../shared"}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _fenced(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def _prose(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def readme_commands() -> list[str]:
    """Every command the README shows: the lines of ```sh blocks (split at `&&`), the `$ ` lines and the
    synopsis lines of ```text blocks, and inline code that starts like a command."""
    text = _text(README)
    out: list[str] = []
    for lang, body in _fenced(text):
        for line in body.splitlines():
            line = line.strip()
            if lang == "sh" and line:
                out += [part.strip() for part in line.split("&&")]
            elif lang == "text" and line.startswith("$ "):
                out.append(line[2:])
            elif lang == "text" and line.startswith("python -m "):  # a synopsis: its command's --help
                out.append(" ".join(line.split()[:4]) + " --help")
    for code in re.findall(r"`([^`\n]+)`", _prose(text)):
        if code.startswith(("python ", "python3 ", "curl ", "pip ", "scripts/")) or code == "python -m api":
            out.append(code)
    return out


def _kind(command: str) -> str | None:
    if command in SKIP:
        return "skip"
    for kind, heads in (("live", LIVE), ("long", LONG), ("short", SHORT)):
        if command.startswith(heads):
            return kind
    return None


def _run(argv: list[str], timeout: float = 240.0, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kwargs)


def _argv(command: str) -> list[str]:
    argv = shlex.split(command)
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    elif argv[0] == "pip":
        argv = [sys.executable, "-m", "pip", *argv[1:]]
    elif argv[0].startswith("scripts/"):
        argv[0] = str(ROOT / argv[0])
    return argv


# --- paths, links and anchors ---------------------------------------------------------------------------
def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file (lowercase, punctuation dropped, spaces to
    hyphens, repeats numbered)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", _prose(markdown), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _links(path: Path) -> list[str]:
    text = _prose(_text(path))
    return re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'<img src="([^"]+)"', text)


def _broken_links(path: Path) -> list[str]:
    bad = []
    for link in _links(path):
        if re.match(r"^[a-z]+:", link):  # http:, https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        file = (path.parent / unquote(target)).resolve() if target else path
        if not file.exists():
            bad.append(f"{path.name}: {link} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in github_anchors(_text(file)):
            bad.append(f"{path.name}: {link} (no heading with that anchor in {file.name})")
    return bad


def test_every_link_in_the_readme_and_docs_exists() -> None:
    bad = [b for p in [README, *DOCS] for b in _broken_links(p)]
    assert not bad, "\n".join(bad)


def test_every_path_the_readme_names_exists() -> None:
    """Inline code that looks like a repository path (`graph/settings.py`, `data/vectors/`) names a file or
    folder of the repository; in a row of the folders table, a path may be relative to the row's folder."""
    missing = []
    for line in _prose(_text(README)).splitlines():
        row = re.match(r"\| `([\w.-]+/)` \|", line)
        bases = [ROOT, ROOT / row.group(1)] if row else [ROOT]
        for code in re.findall(r"`([^`\n]+)`", line):
            looks_like_path = re.fullmatch(r"\.{0,2}/?[\w.-]+(/[\w.*-]*)*", code) and (
                "/" in code or re.search(r"\w\.(py|md|json|jsonl|txt|lock|toml|cfg)$", code))
            if not looks_like_path or code in RUNTIME_PATHS or code.startswith("/"):
                continue
            if not any(list(base.glob(code.rstrip("/"))) if "*" in code else (base / code).exists()
                       for base in bases):
                missing.append(code)
    assert not missing, f"the README names paths that do not exist: {missing}"


def test_github_anchors_follow_githubs_rules() -> None:
    assert github_anchors("## First start\n## The `serve` command\n## First start\n") == {
        "first-start", "the-serve-command", "first-start-1"}


def test_readme_is_at_most_300_lines() -> None:
    assert len(_text(README).splitlines()) <= 300


# --- commands ---------------------------------------------------------------------------------------------
def test_every_command_is_known() -> None:
    commands = readme_commands()
    assert any(c.startswith("python -m api serve") for c in commands) and len(commands) > 10, commands
    unknown = [c for c in commands if _kind(c) is None]
    assert not unknown, f"sort these README commands into SHORT, LONG or LIVE in tests/test_readme.py: {unknown}"


@pytest.mark.parametrize("command", sorted({c for c in readme_commands() if _kind(c) == "short"}))
def test_short_command_runs(command: str) -> None:
    out = _run(_argv(command))
    assert out.returncode == 0, (command, out.stderr[-2000:])
    assert out.stdout.strip(), command


@pytest.mark.parametrize("head", sorted({next(h for h in LONG if c.startswith(h))
                                         for c in readme_commands() if _kind(c) == "long"}))
def test_long_command_answers_help(head: str) -> None:
    out = _run([*_argv(head), "--help"])
    assert out.returncode == 0, (head, out.stderr[-2000:])
    assert "usage" in out.stdout.lower() or "options" in out.stdout.lower(), (head, out.stdout[:500])


# --- the run command, live ---------------------------------------------------------------------------------
def _masked(text: str) -> list[str]:
    """Output lines with every number masked: timings and scores vary by machine, ranks and names do not."""
    return [re.sub(r"\d+(\.\d+)?", "N", line.rstrip()) for line in text.strip().splitlines()]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_serve_runs_the_bundled_catalog_and_the_readme_examples_are_real(tmp_path: Path) -> None:
    """`python -m api serve` on a private port and an empty data dir bootstraps the bundled catalog and
    answers /readyz 200; then the README's search example prints what the README shows (numbers masked) and
    its curl answers 200."""
    from bench.servers import ApiServe, call

    data_dir = tmp_path / "var"
    with ApiServe(tmp_path / "serve.log", settings={"data_dir": data_dir, "recompute_every": 0}) as server:
        server.wait_ready(READY_TIMEOUT_S)
        status, body = call(server.port, "GET", "/readyz")
        bundled = sum(1 for f in [*ROOT.glob("data/*.jsonl"), *ROOT.glob("data/catalog/*.jsonl")]
                      for line in _text(f).splitlines() if line.strip())
        assert status == 200 and body["checks"]["artifacts"] == bundled, (bundled, body)

        live = [c for c in readme_commands() if _kind(c) == "live"]
        search = next(c for c in live if c.startswith("python -m api search"))
        out = _run([*_argv(search), "--data-dir", str(data_dir)], timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        shown = re.search(r"<!-- search-example:start -->\n```text\n\$ [^\n]*\n(.*?)```", _text(README), re.S)
        assert shown, "the README's search example lost its markers"
        assert _masked(out.stdout) == _masked(shown.group(1)), out.stdout

        for curl in (c for c in live if c.startswith("curl ")):
            url = re.search(r"'(http://127\.0\.0\.1:8000[^']*)'", curl).group(1)
            status, body = call(server.port, "GET", url.removeprefix("http://127.0.0.1:8000"))
            assert status == 200 and body["results"], (curl, status, body)


# --- endpoints the docs name --------------------------------------------------------------------------------
def _routes() -> set[str]:
    """Every route of the app, read from the blueprints' source (`url_prefix` + `@bp.get("...")`), with path
    parameters written `{}`."""
    out = set()
    for path in (ROOT / "api").glob("*.py"):
        text = _text(path)
        prefix = re.search(r'Blueprint\([^)]*url_prefix="([^"]*)"', text)
        for rule in re.findall(r'@bp\.(?:get|post|put|delete|route)\("([^"]*)"', text):
            out.add(re.sub(r"<[^>]*>", "{}", (prefix.group(1) if prefix else "") + rule))
    return out


def _is_route(path: str, routes: set[str]) -> bool:
    """`path` (its parameters written `{}`) is a route, a route's `{}` standing for one or more segments (the
    app's parameters are `<path:...>`), or the start of one (`/compare/`)."""
    for route in routes:
        pattern = "^" + ".+".join(re.escape(part) for part in route.split("{}")) + "$"
        if re.match(pattern, path) or (path.endswith("/") and route.startswith(path)):
            return True
    return False


def test_every_endpoint_the_readme_and_docs_name_is_a_real_route() -> None:
    """`GET /v1/analytics/timeline` stood in the README for a year and answered 404: every path the README
    and the hand-written docs name (in code spans, e.g. `GET /v1/search?q=`) is a route of the app."""
    routes = _routes()
    assert "/v1/analytics/artifacts/{}/timeline" in routes and "/v1/search" in routes, routes
    wrong = []
    for doc in [README, *(p for p in DOCS if p.name != "api.md")]:
        for code in re.findall(r"`([^`\n]+)`", _prose(_text(doc))):
            found = re.fullmatch(r"(?:(?:GET|POST|PUT|DELETE|HEAD) )?(/(?:v1/|healthz|readyz|metrics|openapi\.json"
                                 r"|docs\b|widget/|compare|analytics\b|artifacts/)[^\s?]*)(\?.*)?", code)
            if not found or "…" in code or "..." in code or "*" in code:
                continue
            path = re.sub(r"\{[^}]*\}|<[^>]*>", "{}", found.group(1))
            if not _is_route(path, routes):
                wrong.append(f"{doc.name}: {code}")
    assert not wrong, "these name no route of the app:\n" + "\n".join(wrong)
