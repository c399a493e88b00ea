"""`python -m api ...`: ingest, search, serve, recompute and maintenance over the same engine as the API."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from graph.catalog import CatalogError
from graph.settings import SETTINGS, Settings, SettingsError, markdown_table

BUNDLED = Path(__file__).resolve().parent.parent / "data"
log = logging.getLogger("matchgraph")


def load_settings(args: argparse.Namespace, **defaults: object) -> Settings:
    """The one read of the settings for a command: the environment, then its flags (`--data-dir`)."""
    return Settings.load(defaults=defaults, data_dir=getattr(args, "data_dir", None))


def _engine(args: argparse.Namespace):
    from search.engine import Engine

    return Engine(load_settings(args))


def cmd_ingest(args: argparse.Namespace) -> int:
    engine = _engine(args)
    try:
        report = engine.ingest(args.paths, progress=not args.quiet)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was written; the previous catalog is intact", file=sys.stderr)
        return 2
    print(f"ingested {report.artifacts} artifacts ({report.capabilities} capabilities, "
          f"{report.embedded} newly embedded, {report.removed} removed) -> {report.generation}; "
          f"catalog now {len(engine.artifacts)} artifacts, {len(engine.capabilities)} capabilities "
          f"({engine.index_kind} index)")
    return 0


def result_json(result) -> dict:
    return {
        "query": result.query,
        "results": [
            {"rank": h.rank, "artifact_id": h.artifact.id, "name": h.artifact.name, "type": h.artifact.type,
             "score": round(h.score, 4),
             "matched_capabilities": [
                 {"capability_id": cid, "title": h.artifact_capability(cid), "score": round(s, 4)}
                 for cid, s in h.capabilities[:3]]}
            for h in result.hits
        ],
    }


def cmd_search(args: argparse.Namespace) -> int:
    engine = _engine(args)
    if not engine.artifacts:
        print("error: the data dir holds no catalog; run `python -m api ingest data` first", file=sys.stderr)
        return 1
    result = engine.search(args.query, k=args.k, types=args.type or (), pricing=args.pricing or (),
                           record=not args.no_record)
    if args.json:
        print(json.dumps(result_json(result), indent=2, ensure_ascii=False))
        return 0
    print(f"{len(result.hits)} results for {args.query!r} in {result.took_ms:.0f} ms"
          + (" (low confidence)" if result.low_confidence else ""))
    for said in result.understood.get("constraints", []):  # read from the words (search/constraints.py)
        print(f"  understood {said['text']!r}: {said['param']}={said['value']}")
    if result.suggestions:
        print("did you mean: " + ", ".join(result.suggestions))
    for h in result.hits:
        print(f"{h.rank:>3}. {h.artifact.name}  [{h.artifact.type}]  score {h.score:.3f}  ({h.artifact.id})")
        for cid, s in h.capabilities[:3]:
            print(f"       {s:.3f}  {h.artifact_capability(cid)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from api.app import create_app
    from api.server import run

    settings = load_settings(args, recompute_every=60.0, ranker_every=3600.0)  # one process: recomputes, learns
    run(lambda: create_app(config=settings, bootstrap=True), host=args.host, port=args.port,
        threads=args.threads, access_log=settings.access_log)
    return 0


def cmd_recompute(args: argparse.Namespace) -> int:
    import time

    engine = _engine(args)
    while True:
        scores = engine.recompute()
        print(f"match graph scores recomputed for {len(scores)} artifacts", flush=True)
        if not args.every:
            return 0
        time.sleep(args.every)


def cmd_rebuild(args: argparse.Namespace) -> int:
    events = _engine(args).rebuild()
    print(f"derived match state rebuilt from {events} logged events")
    return 0


def cmd_generations(args: argparse.Namespace) -> int:
    """List the generations with their verification; exit 1 when a server would fall back. With
    --accept-fallback, make the generation served the committed one (newer ones are set aside)."""
    from search.engine import servedgen  # verification without loading a model

    data_dir = load_settings(args).data_dir
    if args.accept_fallback:
        try:
            served, aside = servedgen.accept_fallback(Path(data_dir))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{served} is now the committed generation of {data_dir}; set aside: {', '.join(aside) or 'nothing'}")
        return 0
    choice, lines = servedgen.describe(Path(data_dir))
    print("\n".join(lines) or f"{data_dir} holds no generation")
    for problem in choice.problems:
        print(f"problem: {problem}")
    if choice.fallback:
        print(f"a server serves {choice.folder.name if choice.folder else 'nothing'} and refuses catalog writes: "
              "repair the generation, or run `python -m api generations --accept-fallback`")
    return 1 if choice.fallback else 0


CONFIGURATION_DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
CONFIGURATION_HEAD = """\
# Configuration

<!-- generated by `python -m api config --markdown --write` from the settings table (graph/settings.py);
tests/test_settings.py fails when this file differs from what it would write: edit the table, not this file -->

Every setting is one row of the table in [`graph/settings.py`](../graph/settings.py), read once at start (by
the CLI or `create_app`), checked (a bad value stops the start with an error naming the variable, exit
status 2) and passed down as one frozen object. `python -m api config` prints each setting's effective value
and where it came from (`default`, `environment` or `flag`), secrets masked; `--json` for machines. An empty
variable counts as unset. How to add a setting: the docstring of `graph/settings.py`.

"""


def configuration_doc() -> str:
    """docs/configuration.md as `python -m api config --markdown --write` writes it."""
    return CONFIGURATION_HEAD + markdown_table()


def cmd_config(args: argparse.Namespace) -> int:
    """Every setting with its effective value and where it came from; secrets masked."""
    if args.markdown:
        if args.write:
            CONFIGURATION_DOC.write_text(configuration_doc(), encoding="utf-8")
            print(f"wrote {CONFIGURATION_DOC}")
        else:
            print(markdown_table(), end="")
        return 0
    rows = load_settings(args).describe()
    if args.json:
        print(json.dumps({"settings": rows}, indent=2, ensure_ascii=False))
        return 0
    width = max(len(s.env[0]) for s in SETTINGS)
    for row in rows:
        value = "unset" if row["value"] is None else json.dumps(row["value"], ensure_ascii=False)
        print(f"{row['env']:<{width}}  {value}  ({row['source']})")
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    """Train the learned ranker on the logged evidence, for the committed generation (search/ranker.py)."""
    got = _engine(args).train_ranker()
    print(json.dumps(got, indent=2))
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    import time

    engine = _engine(args)
    while True:
        got = engine.compact(engine.config.log_retention_s if args.retain is None else args.retain)
        print(f"event log compacted: {got['archived']} events archived, {got['retained']} kept in the store",
              flush=True)
        if not args.every:
            return 0
        time.sleep(args.every)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_data_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-dir", default=None, help="data dir (default $MATCHGRAPH_DATA_DIR or ./var)")
        return p

    p = with_data_dir(sub.add_parser("ingest", help="validate and upsert .json/.jsonl catalog files"))
    p.add_argument("paths", nargs="+", help="files or folders")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ingest)

    p = with_data_dir(sub.add_parser("search", help="search the catalog by intent"))
    p.add_argument("query")
    p.add_argument("--k", type=int, default=10, choices=range(1, 101), metavar="K", help="results (1-100)")
    p.add_argument("--type", action="append", help="only this artifact type (repeatable)")
    p.add_argument("--pricing", action="append", help="only this pricing (repeatable)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--no-record", action="store_true", help="do not record match edges")
    p.set_defaults(func=cmd_search)

    p = with_data_dir(sub.add_parser("serve", help="serve the API and pages"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--threads", type=int, default=16,
                   help="request threads (default 16: a few slow clients cannot starve the server)")
    p.set_defaults(func=cmd_serve)

    p = with_data_dir(sub.add_parser("recompute", help="recompute Match Graph scores"))
    p.add_argument("--every", type=float, default=0, help="repeat every N seconds (worker mode)")
    p.set_defaults(func=cmd_recompute)

    p = with_data_dir(sub.add_parser("learn", help="train the learned ranker on the logged evidence"))
    p.set_defaults(func=cmd_learn)

    p = with_data_dir(sub.add_parser("config", help="print every setting, its value and where it came from"))
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--markdown", action="store_true", help="the configuration table (Markdown)")
    p.add_argument("--write", action="store_true", help="with --markdown: write docs/configuration.md")
    p.set_defaults(func=cmd_config)

    p = with_data_dir(sub.add_parser("compact", help="archive old events of the Redis log to files and trim it"))
    p.add_argument("--retain", type=float, default=None,
                   help="keep this many seconds of events in Redis (default: MATCHGRAPH_LOG_RETENTION_S)")
    p.add_argument("--every", type=float, default=0, help="repeat every N seconds (worker mode)")
    p.set_defaults(func=cmd_compact)

    p = with_data_dir(sub.add_parser("rebuild", help="rebuild derived match state from the event log"))
    p.set_defaults(func=cmd_rebuild)

    p = with_data_dir(sub.add_parser("generations", help="verify the catalog generations; accept a fallback"))
    p.add_argument("--accept-fallback", action="store_true",
                   help="make the newest generation that verifies the committed one (newer ones set aside)")
    p.set_defaults(func=cmd_generations)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except SettingsError as exc:  # a bad setting: say which variable, exit 2, start nothing
        print(f"error: bad setting: {exc}", file=sys.stderr)
        return 2
