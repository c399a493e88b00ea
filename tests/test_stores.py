"""Both match stores against one set of tests: exact counts, errors, rebuild == incremental, restarts
and many writer processes. Redis is required (db 13 of 127.0.0.1:6379): unreachable means failure."""

from __future__ import annotations

import math
import multiprocessing as mp
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import busy_thread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.events import EdgeStats, FeedbackEvent, SearchEvent, Served, examination
from graph.store import open_store
from graph.store.base import SUMMARY_COUNTERS, MatchStore, NotServed, UnknownSearch, day_of, with_stances
from graph.store.redis import RedisStore
from graph.store.sqlite import SQLiteStore

REDIS_URL = "redis://127.0.0.1:6379/13"
# One key prefix per test run: two suites on one machine (a soak beside a full run) never touch each other's keys.
RUN = f"mgtest-{uuid.uuid4().hex[:8]}"
DAY = 86_400.0
T0 = 1_699_920_000.0  # 2023-11-14 00:00:00 UTC
D0, D1, D2 = "2023-11-14", "2023-11-15", "2023-11-16"


@pytest.fixture(params=["sqlite", "redis", "redis-sharded"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MatchStore]:
    """Each backend, empty: a temp SQLite file, or a flushed Redis db 13 (never skipped), with one shard
    or with four (the layout a Cluster uses, on one server)."""
    if request.param == "sqlite":
        s: MatchStore = SQLiteStore(tmp_path / "matches.db")
        yield s
        s.close()
        return
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"the Redis store tests need a Redis server at {REDIS_URL}: {exc}")
    _drop_run_keys(client)
    s = RedisStore(REDIS_URL, prefix=RUN, shards=4 if request.param == "redis-sharded" else 1)
    yield s
    s.close()
    _drop_run_keys(client)
    client.close()


def _drop_run_keys(client: redis.Redis) -> None:
    """Delete this run's keys only: every prefix the tests use starts with RUN (tagged keys `{RUN...}:...`,
    and untagged ones such as the dedup claims `RUN...:c:...`)."""
    keys = list(client.scan_iter(match=f"*{RUN}*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i:i + 500])


def reopen(store: MatchStore) -> MatchStore:
    """A fresh store object on the same data, as after a process restart."""
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path)
    assert isinstance(store, RedisStore)
    return RedisStore(store.url, prefix=store.prefix, shards=store.n)


def single_log(store: MatchStore) -> bool:
    """True for a store with one log (SQLite, one-shard Redis): its sequence numbers are 1, 2, 3, ...
    A sharded store numbers each shard's log: numbers are unique and ordered per shard, not dense."""
    return getattr(store, "n", 1) == 1


def search(sid: str, artifacts: list[str], *, intent: str = "i1", query: str = "q", day: int = 0,
           caps: dict[str, list[tuple[str, float]]] | None = None, low: bool = False,
           second: float = 0.0) -> SearchEvent:
    caps = caps or {}
    served = tuple(Served(a, r, 1.0 / r, tuple(caps.get(a, ()))) for r, a in enumerate(artifacts, 1))
    return SearchEvent(sid, intent, query, T0 + day * DAY + 3600 + second, served, low_confidence=low)


def assert_close(a: Any, b: Any, path: str = "$") -> None:
    """Structural equality with floats compared to 1e-9 (exposure sums differ only in float noise)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), f"{path}: {a} != {b}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


# --- counts ----------------------------------------------------------------------------------
def test_times_matched_and_capabilities(store: MatchStore) -> None:
    caps = {"a": [("a#1", 0.9), ("a#2", 0.4)], "b": [("b#1", 0.7)]}
    store.record_search(search("s1", ["a", "b", "c"], caps=caps))
    store.record_search(search("s2", ["b", "a"], caps=caps))
    store.record_search(search("s3", [], query="nothing"))
    assert store.times_matched(["a", "b", "c", "unknown"]) == {"a": 2, "b": 2, "c": 1, "unknown": 0}
    assert store.times_matched([]) == {}
    assert store.capability_times_matched(["a#1", "a#2", "b#1", "x#9"]) == {
        "a#1": 2, "a#2": 2, "b#1": 2, "x#9": 0}
    assert store.summary() == {"searches": 3, "feedback": 0, "intents": 1, "matched_artifacts": 3,
                               "zero_result_searches": 1, "low_confidence_searches": 0, "clicks": 0,
                               "filtered_empty_searches": 0, "preview_searches": 0, "settled_searches": 3}
    got = store.get_search("s1")
    assert got == search("s1", ["a", "b", "c"], caps=caps)
    assert store.get_search("nope") is None
    seqs = [seq for seq, _ in store.events()]
    assert len(seqs) == 3 and seqs == sorted(set(seqs))
    assert [seq for seq, _ in store.events(after_seq=seqs[1])] == seqs[2:]
    if single_log(store):
        assert seqs == [1, 2, 3]
    assert store.last_seq() == seqs[-1]


def test_ranks_beyond_k_are_served_but_not_counted(store: MatchStore) -> None:
    served = tuple(Served(a, r, 1.0, ((f"{a}#1", 0.5),)) for r, a in enumerate(["a", "b", "c"], 1))
    store.record_search(SearchEvent("s1", "i1", "q", T0 + 3600, served, k=2))
    assert store.times_matched(["a", "b", "c"]) == {"a": 1, "b": 1, "c": 0}
    assert store.capability_times_matched(["c#1"]) == {"c#1": 0}
    assert store.timeline("c") == []
    assert store.intent_edges(["i1"])["i1"]["c"].impressions == 1, "rank 3 still has its match edge"
    store.record_feedback(FeedbackEvent("s1", "c", "click", T0 + 3700))
    assert store.intent_edges(["i1"])["i1"]["c"].clicks == 1
    snap = store.snapshot()
    store.rebuild()
    assert_close(store.snapshot(), snap)


def test_day_buckets_since_and_top_order(store: MatchStore) -> None:
    store.record_search(search("s1", ["a", "b"], day=0))
    store.record_search(search("s2", ["a", "c"], day=0))
    store.record_search(search("s3", ["b", "c"], day=1))
    store.record_search(search("s4", ["c", "d"], day=2))
    store.record_search(search("s5", [], day=2))
    assert store.timeline("a") == [(D0, 2)]
    assert store.timeline("c") == [(D0, 1), (D1, 1), (D2, 1)]
    assert store.timeline("c", since=D1) == [(D1, 1), (D2, 1)]
    assert store.timeline("zzz") == []
    assert store.searches_per_day() == [(D0, 2), (D1, 1), (D2, 2)]
    assert store.searches_per_day(since=D2) == [(D2, 2)]
    # all time: c 3, then a and b tie on 2 (ties by id ascending), then d
    assert store.top_artifacts() == [("c", 3), ("a", 2), ("b", 2), ("d", 1)]
    assert store.top_artifacts(limit=2) == [("c", 3), ("a", 2)]
    assert store.top_artifacts(limit=0) == []
    assert store.top_artifacts(since=D1) == [("c", 2), ("b", 1), ("d", 1)]
    assert store.top_artifacts(since=D2, limit=1) == [("c", 1)]
    assert store.top_artifacts(since="2030-01-01") == []
    assert day_of(T0 + 2 * DAY + 3600) == D2


def test_queries_by_kind(store: MatchStore) -> None:
    store.record_search(search("s1", ["a"], query="rag"))
    store.record_search(search("s2", ["a"], query="rag", low=True, second=5))
    store.record_search(search("s3", [], query="quantum yak"))
    store.record_search(search("s4", [], query="quantum yak", second=9))
    store.record_search(search("s5", [], query="ünïcode"))
    store.record_search(search("s6", ["b"], query="ocr", low=True))
    top = store.queries("top")
    assert [(q.query, q.searches) for q in top] == [
        ("quantum yak", 2), ("rag", 2), ("ocr", 1), ("ünïcode", 1)]
    zero = store.queries("zero_results")
    assert [(q.query, q.zero_results) for q in zero] == [("quantum yak", 2), ("ünïcode", 1)]
    assert zero[0].last_ts == T0 + 3600 + 9 and zero[0].low_confidence == 0
    low = store.queries("low_confidence", limit=1)
    assert [(q.query, q.searches, q.zero_results, q.low_confidence, q.last_ts) for q in low] == [
        ("ocr", 1, 0, 1, T0 + 3600)]
    assert [q.query for q in store.queries("top", limit=1)] == ["quantum yak"]
    with pytest.raises(ValueError):
        store.queries("nonsense")


# --- feedback and edges -------------------------------------------------------------------------
def test_feedback_fills_and_updates_edges(store: MatchStore) -> None:
    store.record_search(search("s1", ["a", "b", "c"], intent="i-rag"))
    store.record_search(search("s2", ["c", "a"], intent="i-rag"))
    seq = store.record_feedback(FeedbackEvent("s1", "b", "click", T0 + 4000))
    store.record_feedback(FeedbackEvent("s1", "b", "dwell", T0 + 4001, dwell_ms=1200))
    store.record_feedback(FeedbackEvent("s2", "a", "dwell", T0 + 4002, dwell_ms=300))
    store.record_feedback(FeedbackEvent("s2", "a", "upvote", T0 + 4003))
    store.record_feedback(FeedbackEvent("s2", "c", "downvote", T0 + 4004, extra={"why": "spam"}))
    assert seq == 3 or not single_log(store)
    logged = dict(store.events())[seq]
    assert logged == FeedbackEvent("s1", "b", "click", T0 + 4000, intent_id="i-rag", rank=2)
    edges = store.intent_edges(["i-rag", "unknown"])["i-rag"]
    assert edges["a"] == EdgeStats(impressions=2, exposure=examination(1) + examination(2), dwells=1,
                                   dwell_ms=300, upvotes=1)
    assert edges["b"] == EdgeStats(impressions=1, exposure=examination(2), clicks=1, dwells=1, dwell_ms=1200)
    assert_close(edges["c"].exposure, examination(3) + examination(1))
    assert (edges["c"].impressions, edges["c"].downvotes) == (2, 1)
    assert store.summary()["feedback"] == 5 and store.summary()["clicks"] == 1
    assert {(i, a) for i, a, _ in store.artifact_edges()} == {("i-rag", "a"), ("i-rag", "b"), ("i-rag", "c")}
    assert list(store.events())[-1][1].extra == {"why": "spam"}  # one intent: one shard, log order


def test_stance_edges_are_the_edges_of_artifacts_someone_took_a_stance_on(store: MatchStore) -> None:
    """What learning pools: every neighbour's edge to an artifact some person chose or rejected in any of
    them (its exposure counts there too), and nothing of the artifacts only served."""
    store.record_search(search("s1", ["a", "b", "c"], intent="i1"))
    store.record_search(search("s2", ["b", "a", "d"], intent="i2"))
    store.record_search(search("s3", ["e"], intent="i3"))
    store.record_feedback(FeedbackEvent("s1", "a", "click", T0 + 4000, user="u1"))
    store.record_feedback(FeedbackEvent("s2", "d", "downvote", T0 + 4001, user="u2"))
    assert store.stance_edges(["i3"]) == {}  # served only: the old read fetched its edge for nothing
    got = store.stance_edges(["i1", "i2", "i3", "unknown"])
    assert got == with_stances(store.intent_edges(["i1", "i2", "i3", "unknown"]))
    assert {i: sorted(by) for i, by in got.items()} == {"i1": ["a"], "i2": ["a", "d"]}
    assert got["i2"]["a"].users == {} and got["i2"]["a"].exposure == examination(2)  # exposure where unchosen
    assert got["i1"]["a"].users == {"u1": 1} and got["i2"]["d"].users == {"u2": -1}


def test_an_unvote_takes_back_the_vote_and_the_stance_and_a_rebuild_agrees(store: MatchStore) -> None:
    store.record_search(search("s1", ["a", "b"], intent="i-w"))
    store.record_feedback(FeedbackEvent("s1", "a", "upvote", T0 + 4000, user="u1"))
    store.record_feedback(FeedbackEvent("s1", "a", "upvote", T0 + 4001, user="u2"))
    store.record_feedback(FeedbackEvent("s1", "a", "unvote", T0 + 4002, user="u1", replaces="upvote"))
    edge = store.intent_edges(["i-w"])["i-w"]["a"]
    assert (edge.upvotes, edge.downvotes, edge.users) == (1, 0, {"u2": 1})  # u1's vote withdrawn, u2's stands
    with pytest.raises(ValueError):  # an unvote names the vote it withdraws, never a click
        store.record_feedback(FeedbackEvent("s1", "a", "unvote", T0 + 4003, user="u2", replaces="click"))
    live = store.snapshot()
    store.rebuild()  # durable: the log replays to the same state
    assert store.snapshot() == live
    assert reopen(store).intent_edges(["i-w"])["i-w"]["a"] == edge


def test_rejected_feedback_writes_nothing(store: MatchStore) -> None:
    store.record_search(search("s1", ["a", "b"]))
    before, seq = store.snapshot(), store.last_seq()
    with pytest.raises(UnknownSearch):
        store.record_feedback(FeedbackEvent("missing", "a", "click", T0))
    with pytest.raises(NotServed):
        store.record_feedback(FeedbackEvent("s1", "zzz", "click", T0))
    with pytest.raises(ValueError):
        store.record_feedback(FeedbackEvent("s1", "a", "stare", T0))
    assert store.last_seq() == seq and len(list(store.events())) == 1
    assert store.snapshot() == before


def test_record_many_equals_one_by_one(store: MatchStore, tmp_path: Path) -> None:
    """The batched write path (SQLite: one transaction, Redis: one pipeline) gives exactly the state and
    log of the same events recorded one at a time, refusals included, and refused events write nothing."""
    events: list[SearchEvent | FeedbackEvent] = [
        search("s1", ["a", "b", "c"], intent="i-rag"), FeedbackEvent("s1", "b", "click", T0 + 1),
        FeedbackEvent("s1", "b", "click", T0 + 2), FeedbackEvent("missing", "a", "click", T0 + 3),
        search("s2", ["c", "a"], intent="i-rag", second=1), FeedbackEvent("s2", "a", "dwell", T0 + 4, dwell_ms=300),
        FeedbackEvent("s2", "b", "upvote", T0 + 5), FeedbackEvent("s1", "a", "stare", T0 + 6),
        FeedbackEvent("s2", "c", "downvote", T0 + 7)]
    if isinstance(store, SQLiteStore):
        single: MatchStore = SQLiteStore(tmp_path / "single.db")
    else:
        single = RedisStore(REDIS_URL, prefix=f"{RUN}-single", shards=store.n)
    try:
        expected: list = []
        for ev in events:
            try:
                expected.append(single.record_search(ev) if isinstance(ev, SearchEvent) else single.record_feedback(ev))
            except (UnknownSearch, NotServed, ValueError) as exc:
                expected.append(type(exc))
        got = store.record_many(events)
        assert [r if isinstance(r, int) else type(r) for r in got] == expected
        assert [r if isinstance(r, int) else type(r) for r in got] == [
            1, 2, 3, UnknownSearch, 4, 5, NotServed, ValueError, 6] or not single_log(store)
        assert store.snapshot() == single.snapshot()
        assert list(store.events()) == list(single.events())
        assert store.record_many([]) == [] and store.last_seq() == max(r for r in got if isinstance(r, int))
        assert [type(r) for r in store.record_many([FeedbackEvent("s1", "a", "stare", T0)])] == [ValueError]
    finally:
        single.clear()
        single.close()


def test_intents_polling(store: MatchStore) -> None:
    s1 = store.record_search(search("s1", ["a"], intent="i1", query="first"))
    store.record_search(search("s2", ["a"], intent="i1", query="first again"))
    s3 = store.record_search(search("s3", [], intent="i2", query="second"))
    assert {i.intent_id: (i.text, i.searches, i.seq) for i in store.intents()} == {
        "i1": ("first", 2, s1), "i2": ("second", 1, s3)}
    assert [i.seq for i in store.intents()] == sorted([s1, s3])
    if single_log(store):
        assert [i.intent_id for i in store.intents(after_seq=1)] == ["i2"]
        assert store.intents(after_seq=3) == []
    seen, cursor = store.intents_since(None)
    assert sorted(i.intent_id for i in seen) == ["i1", "i2"]
    assert store.intents_since(cursor) == ([], cursor)
    s4 = store.record_search(search("s4", ["b"], intent="i3"))
    store.record_search(search("s5", ["b"], intent="i1"))
    new, cursor = store.intents_since(cursor)
    assert [(i.intent_id, i.seq) for i in new] == [("i3", s4)]
    assert store.intents_since(cursor)[0] == []


def test_capability_edges_and_exposure(store: MatchStore) -> None:
    caps = {"a": [("a#1", 0.5)], "b": [("b#1", 0.25), ("b#2", 0.75)]}
    for n in range(6):  # a alternates between rank 1 and 2, b the other way
        order = ["a", "b"] if n % 2 == 0 else ["b", "a"]
        store.record_search(search(f"s{n}", order, intent="i", caps=caps | {"a": [("a#1", 0.1 * n)]}))
    edges = store.intent_edges(["i"])["i"]
    assert edges["a"].impressions == 6
    assert_close(edges["a"].exposure, 3 * examination(1) + 3 * examination(2))
    assert sorted(store.capability_edges()) == [
        ("i", "a#1", 6, 0.5), ("i", "b#1", 6, 0.25), ("i", "b#2", 6, 0.75)]


def test_match_scores_replace_all(store: MatchStore) -> None:
    store.put_match_scores({"a": 0.5, "b": 1.0})
    store.put_match_scores({"c": 0.125})
    assert store.match_scores() == {"c": 0.125}
    store.record_search(search("s1", ["a"]))
    store.rebuild()  # scores come from the scorer, not the log: a rebuild keeps them
    assert store.match_scores() == {"c": 0.125}
    store.put_match_scores({})
    assert store.match_scores() == {}


# --- rebuild == incremental, against an independent model ----------------------------------------
ARTIFACTS = ["art-1", "art-2", "art-3", "art-é", "a|pipe", "a:colon", "b{x}", "zz"]
INTENTS = ["i-rag", "i-ocr", "i {brace}", "i|pipe", "i-ü", "i-6"]
QUERIES = ["rag", "ocr model", "ünïcode q", "x/y", "quantum yak", ""]
USERS = ["", "t-1", "a:2", "tü{3}"]


def reference(events: list[tuple[int, SearchEvent | FeedbackEvent]]) -> dict:
    """What every backend must derive from a log, computed the obvious way."""
    tm: dict[str, int] = {}
    ctm: dict[str, int] = {}
    days: dict[str, dict[str, int]] = {}
    spd: dict[str, int] = {}
    intents: dict[str, list] = {}
    ae: dict[str, dict[str, dict[str, Any]]] = {}
    ce: dict[str, dict[str, list]] = {}
    queries: dict[str, list] = {}
    summ = dict.fromkeys(SUMMARY_COUNTERS, 0)
    for seq, ev in events:
        if isinstance(ev, SearchEvent):
            day = day_of(ev.ts)
            summ["searches"] += 1
            summ["zero_result_searches"] += ev.zero_results
            summ["low_confidence_searches"] += ev.low_confidence
            summ["filtered_empty_searches"] += ev.filtered_empty
            summ["preview_searches"] += ev.preview
            summ["settled_searches"] += ev.evidence
            spd[day] = spd.get(day, 0) + 1
            intents.setdefault(ev.intent_id, [ev.query, 0, seq])[1] += ev.evidence
            q = queries.setdefault(ev.query, [0, 0, 0, 0.0, 0, 0])
            q[0] += 1
            q[1] += ev.zero_results
            q[2] += ev.low_confidence
            q[3] = max(q[3], ev.ts)
            q[4] += ev.filtered_empty
            q[5] += ev.new_user and ev.evidence
            if not ev.evidence:  # previews, repeats in the settle window, low confidence: logged only
                continue
            for s in ev.served:
                tm[s.artifact_id] = tm.get(s.artifact_id, 0) + 1
                bucket = days.setdefault(s.artifact_id, {})
                bucket[day] = bucket.get(day, 0) + 1
                e = ae.setdefault(ev.intent_id, {}).setdefault(s.artifact_id, vars(EdgeStats()).copy())
                e["impressions"] += 1
                e["exposure"] += examination(s.rank)
                for cid, sim in s.capabilities:
                    ctm[cid] = ctm.get(cid, 0) + 1
                    c = ce.setdefault(ev.intent_id, {}).setdefault(cid, [0, sim])
                    c[0] += 1
                    c[1] = max(c[1], sim)
        else:
            if not ev.counted:
                continue
            summ["feedback"] += 1
            e = ae.setdefault(ev.intent_id, {}).setdefault(ev.artifact_id, vars(EdgeStats()).copy())
            if ev.event == "click":
                summ["clicks"] += 1
                e["clicks"] += 1
            elif ev.event == "dwell":
                e["dwells"] += 1
                e["dwell_ms"] += ev.dwell_ms
            elif ev.event != "unvote":
                e[ev.event + "s"] += 1
            if ev.replaces:
                e[ev.replaces + "s"] -= 1
            if ev.user and ev.event == "unvote":
                e["users"].pop(ev.user, None)
            elif ev.user and ev.event in ("upvote", "downvote"):
                e["users"][ev.user] = 1 if ev.event == "upvote" else -1
            elif ev.user and (ev.event == "click" or (ev.event == "dwell" and ev.dwell_ms >= 10_000)):
                e["users"].setdefault(ev.user, 1)
    summ.update(intents=len(intents), matched_artifacts=len(tm))
    return {"times_matched": tm, "capability_times_matched": ctm, "artifact_days": days,
            "searches_per_day": spd, "intents": intents, "artifact_edges": ae, "capability_edges": ce,
            "queries": queries, "summary": summ}


def random_history(store: MatchStore, rng: random.Random, n: int) -> None:
    """Record n mixed events (some feedback invalid on purpose), with one rebuild half way. The evidence flags
    (user, settled, preview, counted, ...) come from their own generator, so `rng` draws the same history."""
    searches: list[SearchEvent] = []
    flags = random.Random(n)
    for step in range(n):
        if step == n // 2:
            store.rebuild()  # recording must carry on correctly from rebuilt state
        roll = rng.random()
        if roll < 0.6 or not searches:
            k = 0 if rng.random() < 0.1 else rng.randint(1, 5)
            served = tuple(
                Served(a, r, rng.random(),
                       tuple((f"{a}#{c}", rng.random()) for c in range(rng.randint(0, 2))))
                for r, a in enumerate(rng.sample(ARTIFACTS, k), 1))
            ev = SearchEvent(f"s{step}", rng.choice(INTENTS), rng.choice(QUERIES),
                             T0 + rng.randint(0, 4) * DAY + rng.random() * 1000, served,
                             low_confidence=rng.random() < 0.2, user=flags.choice(USERS),
                             settled=flags.random() < 0.7, preview=flags.random() < 0.1,
                             filtered=flags.random() < 0.2, new_user=flags.random() < 0.5)
            store.record_search(ev)
            searches.append(ev)
            continue
        target = rng.choice(searches)
        kind = rng.choice(["click", "dwell", "upvote", "downvote", "unvote"])
        if roll < 0.9 and target.served:
            replaces = {"upvote": "downvote", "downvote": "upvote", "unvote": flags.choice(["upvote", "downvote"])
                        }.get(kind, "") if flags.random() < 0.3 else ""
            store.record_feedback(FeedbackEvent(target.search_id, rng.choice(target.served).artifact_id, kind,
                                                target.ts + 5, dwell_ms=rng.randint(0, 5000) * 3,
                                                user=flags.choice(USERS), counted=flags.random() < 0.8,
                                                replaces=replaces))
        elif roll < 0.95:
            with pytest.raises(UnknownSearch):
                store.record_feedback(FeedbackEvent("no-such-search", ARTIFACTS[0], kind, T0))
        else:
            missing = next(a for a in ARTIFACTS if a not in {s.artifact_id for s in target.served})
            with pytest.raises(NotServed):
                store.record_feedback(FeedbackEvent(target.search_id, missing, kind, T0))


@settings(max_examples=3, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rng=st.randoms(use_true_random=False))
def test_rebuild_equals_incremental(store: MatchStore, rng: random.Random) -> None:
    store.clear()
    store.put_match_scores({"art-1": 0.5})
    random_history(store, rng, 200)
    incremental = store.snapshot()
    assert_close(incremental, reference(list(store.events())))
    store.rebuild()
    assert store.snapshot() == incremental
    assert store.match_scores() == {"art-1": 0.5}
    seqs = [seq for seq, _ in store.events()]
    assert store.last_seq() == max(seqs)
    if single_log(store):
        assert seqs == list(range(1, len(seqs) + 1))


# --- restart -------------------------------------------------------------------------------------
def test_counts_survive_restart(store: MatchStore) -> None:
    store.record_search(search("s1", ["a", "b"], caps={"a": [("a#1", 0.5)]}))
    store.record_feedback(FeedbackEvent("s1", "a", "click", T0 + 4000))
    before = store.snapshot()
    store.close()
    again = reopen(store)
    try:
        assert again.snapshot() == before
        assert again.times_matched(["a"]) == {"a": 1}
        s2 = again.record_search(search("s2", ["a"]))
        fb = again.record_feedback(FeedbackEvent("s1", "b", "click", T0 + 4001))
        logged = dict(again.events())
        assert logged[s2].search_id == "s2" and logged[fb] == FeedbackEvent(
            "s1", "b", "click", T0 + 4001, intent_id="i1", rank=2)
        assert len(logged) == 4 and ((s2, fb) == (3, 4) or not single_log(again))
        assert again.times_matched(["a", "b"]) == {"a": 2, "b": 1}
    finally:
        again.close()


# --- many writer processes -----------------------------------------------------------------------
WORKERS, PER_WORKER = 8, 500


def _write_searches(store: MatchStore, worker: int, count: int = PER_WORKER) -> None:
    """One writer process: the store object is inherited through fork and must reconnect on its own."""
    for j in range(count):
        served = (Served("shared-1", 1, 0.9, (("shared-1#c", 0.5),)), Served("shared-2", 2, 0.8),
                  Served(f"own-{worker}", 3, 0.7))
        store.record_search(SearchEvent(f"w{worker}-{j}", f"i{j % 20}", f"query {j % 20}",
                                        T0 + (j % 3) * DAY + worker, served))


def test_concurrent_writers_lose_nothing(store: MatchStore) -> None:
    store.record_search(search("warmup", ["warm"]))  # the parent's connection is open before the fork
    ctx = mp.get_context("fork")  # fork on purpose: the store must survive being inherited
    procs = [ctx.Process(target=_write_searches, args=(store, w)) for w in range(WORKERS)]
    start = time.perf_counter()
    with busy_thread(store.summary):  # another thread uses the store's lock while the parent forks
        for p in procs:
            p.start()
    for p in procs:
        p.join(120)
    elapsed = time.perf_counter() - start
    hung = [p for p in procs if p.is_alive()]
    for p in hung:  # a hung child must fail this test, not keep the whole run from exiting
        p.kill()
        p.join()
    assert not hung, f"{len(hung)} forked writer(s) hung (a lock copied in a held state?)"
    assert [p.exitcode for p in procs] == [0] * WORKERS
    total = WORKERS * PER_WORKER
    print(f"\n{type(store).__name__}: {total} searches from {WORKERS} processes in {elapsed:.2f}s "
          f"= {total / elapsed:.0f} events/s")
    assert store.times_matched(["shared-1", "shared-2", "warm"]) == {
        "shared-1": total, "shared-2": total, "warm": 1}
    assert store.times_matched([f"own-{w}" for w in range(WORKERS)]) == {f"own-{w}": PER_WORKER
                                                                         for w in range(WORKERS)}
    assert store.capability_times_matched(["shared-1#c"]) == {"shared-1#c": total}
    seqs = [seq for seq, _ in store.events()]
    assert len(set(seqs)) == total + 1 and store.last_seq() == max(seqs)
    if single_log(store):
        assert seqs == list(range(1, total + 2))
    assert store.summary()["searches"] == total + 1
    assert sum(n for _, n in store.searches_per_day()) == total + 1
    edges = store.intent_edges(["i0"])["i0"]
    assert edges["shared-2"].impressions == WORKERS * PER_WORKER // 20
    incremental = store.snapshot()
    store.rebuild()
    assert store.snapshot() == incremental


def _watch_counts(store: MatchStore, stop: Any) -> None:
    """A reader process: the search count must never go down, as it would if it saw a half rebuild."""
    seen = 0
    while not stop.is_set():
        searches = store.summary()["searches"]
        if searches < seen:
            raise SystemExit(f"reader saw searches drop from {seen} to {searches}")
        seen = searches


def test_rebuild_under_concurrent_writers(store: MatchStore) -> None:
    """Rebuilds while two processes write and one reads: no half state is visible, nothing is lost."""
    store.record_search(search("warmup", ["warm"]))
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    writers = [ctx.Process(target=_write_searches, args=(store, w, 150)) for w in range(2)]
    reader = ctx.Process(target=_watch_counts, args=(store, stop))
    with busy_thread(store.summary):
        for p in [*writers, reader]:
            p.start()
    rebuilds = 0
    while any(p.is_alive() for p in writers) or rebuilds < 2:
        store.rebuild()
        rebuilds += 1
        time.sleep(0.05)  # let writers in: SQLite's busy handler does not queue them fairly
    for p in writers:
        p.join(60)
    stop.set()
    reader.join(60)
    assert [p.exitcode for p in [*writers, reader]] == [0, 0, 0]
    assert store.times_matched(["shared-1", "own-0", "own-1"]) == {
        "shared-1": 300, "own-0": 150, "own-1": 150}
    incremental = store.snapshot()
    assert_close(incremental, reference(list(store.events())))
    store.rebuild()
    assert store.snapshot() == incremental


# --- opening by URL ------------------------------------------------------------------------------
def test_open_store(tmp_path: Path) -> None:
    default = open_store(None, tmp_path)  # SQLite, guarded: a full or damaged file degrades (graph/store/guard.py)
    assert isinstance(default.authoritative(), SQLiteStore) and default.path == tmp_path / "matches.db"
    default.close()
    named = open_store(f"sqlite:///{tmp_path / 'other.db'}", tmp_path)
    assert isinstance(named.authoritative(), SQLiteStore) and named.path == tmp_path / "other.db"
    named.close()
    remote = open_store(REDIS_URL + f"?prefix={RUN}-open", tmp_path)  # wrapped in the outage spool
    assert isinstance(remote.authoritative(), RedisStore) and remote.authoritative().prefix == f"{RUN}-open"
    assert remote.ping()
    remote.close()
    bare = open_store(REDIS_URL + f"?prefix={RUN}-open", tmp_path, spool=False)
    assert isinstance(bare, RedisStore)
    bare.close()
    with pytest.raises(ValueError):
        open_store("mysql://nope", tmp_path)


def test_workers_opening_a_fresh_data_dir_together_all_get_in(tmp_path: Path) -> None:
    """gunicorn starts every worker at once: each opens the vector cache and the store files while the
    others switch them to WAL. SQLite answers "database is locked" at once there (no busy wait); the open
    is retried, so no worker fails to load."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from graph.store.sqlite import SQLiteStore
        from search.vectorcache import VectorCache
        folder = Path(sys.argv[1])
        while not (folder / "go").exists():
            time.sleep(0.001)
        VectorCache(folder / "vectors.db")
        SQLiteStore(folder / "matches.db").summary()
        print("ok")
    """)
    root = Path(__file__).resolve().parents[1]
    for round_ in range(8):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        procs = [subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=root, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(8)]
        (folder / "go").touch()
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * 8, [err[-300:] for _, err in outs if err]


# --- bounded memory: compaction, expiring idempotency keys, intent vectors ---------------------------
def test_compaction_archives_trims_and_rebuild_replays_archive_plus_tail(store: MatchStore, tmp_path: Path) -> None:
    """Events older than the retention move to JSONL segments and leave Redis; `events` and `rebuild`
    read archive + tail and give exactly the state and log the untrimmed store had."""
    if isinstance(store, SQLiteStore):
        store.record_search(search("s1", ["a"]))
        assert store.compact(0.0) == {"archived": 0, "retained": 1}  # the log is on disk: nothing to do
        return
    assert isinstance(store, RedisStore)
    archived = RedisStore(store.url, prefix=f"{RUN}-arch", shards=store.n, archive_dir=tmp_path / "archive")
    archived.archive.segment_bytes = 2_000  # several rotated segments per shard
    try:
        random_history(archived, random.Random(7), 300)
        before, log = archived.snapshot(), list(archived.events())
        newest = max(ev.ts for _, ev in log)
        got = archived.compact(retain_s=DAY, now=newest)  # keep the last day of events
        kept = sum(1 for _, ev in log if ev.ts >= newest - DAY)
        assert got["archived"] > 0 and got["archived"] + got["retained"] == len(log)
        assert got["retained"] >= kept  # a shard stops at its first event inside the window
        assert sum(archived.r.xlen(sh.log) for sh in archived.shards) == got["retained"]
        assert len(list((tmp_path / "archive").rglob("seg-*.jsonl"))) > archived.n
        assert list(archived.events()) == log
        archived.rebuild()
        assert archived.snapshot() == before
        archived.record_search(search("after", ["z"]))  # recording carries on behind the checkpoint
        assert archived.times_matched(["z"]) == {"z": 1}
        again = archived.compact(retain_s=0.0, now=newest + 10 * DAY)
        assert again["retained"] == 0
        assert [(q, ev) for q, ev in archived.events() if ev.search_id != "after"] == log
        archived.rebuild()
        assert archived.times_matched(["z"]) == {"z": 1}
        without = RedisStore(store.url, prefix=f"{RUN}-arch", shards=store.n)  # a host without the files
        with pytest.raises(RuntimeError, match="archived"):
            without.rebuild()
        without.close()
    finally:
        archived.clear()
        archived.close()


def test_idempotency_keys_expire_after_the_window(store: MatchStore) -> None:
    """Search ids and feedback identities are remembered for the window, then forgotten (bounded memory):
    feedback on an older search is refused as unknown."""
    if isinstance(store, SQLiteStore):
        return
    assert isinstance(store, RedisStore)
    short = RedisStore(store.url, prefix=f"{RUN}-ttl", shards=store.n, idempotency_window_s=1)
    try:
        first = short.record_search(search("s1", ["a", "b"]))
        short.record_feedback(FeedbackEvent("s1", "a", "click", T0))
        ttls = [short.r.ttl(k) for sh in short.shards for k in short.r.scan_iter(match=f"{sh.tag}:[sf]id:*")]
        assert len(ttls) == 2 and all(0 < t <= 1 for t in ttls)
        assert short.record_search(search("s1", ["a", "b"])) == first  # a retry counts once
        time.sleep(1.6)
        with pytest.raises(UnknownSearch):
            short.record_feedback(FeedbackEvent("s1", "b", "click", T0))
        assert short.times_matched(["a"]) == {"a": 1} and short.summary()["clicks"] == 1
    finally:
        short.clear()
        short.close()


def test_intent_vectors_are_stored_once_as_float16(store: MatchStore) -> None:
    if isinstance(store, SQLiteStore):
        assert store.intent_vectors(["i1"]) == {}
        return
    import numpy as np

    v = np.linspace(-1, 1, 384, dtype=np.float32)
    store.put_intent_vectors({"i1": v})
    store.put_intent_vectors({"i1": -v})  # the first one stays
    got = store.intent_vectors(["i1", "i2"])
    assert list(got) == ["i1"] and got["i1"].dtype == np.float32
    assert np.allclose(got["i1"], v, atol=1e-3)


# --- dedup claims: exact across processes ---------------------------------------------------------
def _settle(store: MatchStore, worker: int, out) -> None:
    """One process: 20 searches by one user of one query, and 20 by a user of its own."""
    from graph.dedup import Dedup

    dedup = Dedup(store, settle_window_s=600)
    for j in range(20):
        for user in ("shared-user", f"own-{worker}"):
            ev = dedup.search(SearchEvent(f"d{worker}-{user}-{j}", "i-dedup", "dedup query", T0 + j,
                                          (Served("x", 1, 0.9),), user=user))
            store.record_search(ev)


def test_a_vote_claimed_again_gets_the_answer_it_got_the_first_time(store: MatchStore) -> None:
    """Before: a vote's claim stored only the vote's kind, so making the claim of one vote again (the spool
    replaying a vote whose claim a frozen Redis applied after the client gave up, or a replay batch retried
    after its write timed out) found its own kind there: "the same vote again", logged and counted nothing
    (load test with Redis frozen: sent 264 feedback, stored 263). After: the claim remembers which vote
    made it; the same vote asks again and gets its first answer, a new vote still sees the stance before it."""
    import dataclasses

    from graph.dedup import Dedup

    dedup = Dedup(store)
    sid = uuid.uuid4().hex
    down = FeedbackEvent(sid, "a1", "downvote", T0, user="person")
    up = FeedbackEvent(sid, "a1", "upvote", T0 + 1, user="person")
    flags = lambda ev: (ev.counted, ev.replaces)  # noqa: E731
    assert flags(dedup.feedback(down)) == (True, "")
    assert flags(dedup.feedback(down)) == (True, "")  # the same event again: the same answer
    assert flags(dedup.feedback(up)) == (True, "downvote")  # changes its mind
    assert flags(dedup.feedback(up)) == (True, "downvote")
    again = dataclasses.replace(up, ts=T0 + 2)  # a new upvote by the same person: nothing more
    assert flags(dedup.feedback(again)) == (False, "")
    assert flags(dedup.feedback(down)) == (True, "")  # a vote retried after a later one: still its first answer
    assert flags(dedup.feedback(up)) == (True, "downvote")
    assert flags(dedup.feedback(dataclasses.replace(down, ts=T0 + 3))) == (True, "upvote")  # the stance moved on
    other = FeedbackEvent(sid, "a1", "upvote", T0 + 1, user="someone else")  # one claim per person
    assert flags(dedup.feedback(other)) == (True, "")


def test_a_user_counts_toward_a_popular_query_even_when_two_requests_interleave(store: MatchStore) -> None:
    """Before: the settle claim and the popular-user claim were taken independently, so when one user's two
    concurrent requests interleaved, one request won the first and the other the second: neither event
    counted the user (seen under load: 8 users of 9 in the cross-process test below). After: only the
    settled request claims the user."""
    from graph.dedup import Dedup

    class Interleaved:  # the store, but the second request runs whole between the first one's two claims
        def __init__(self) -> None:
            self.second = None

        def exchange(self, key: str, value: str, ttl_s: float, only_if_absent: bool = False):
            if key.startswith("q:") and self.second is not None:
                run, self.second = self.second, None
                run()
            return store.exchange(key, value, ttl_s, only_if_absent)

    shim = Interleaved()
    dedup = Dedup(shim, settle_window_s=600)  # type: ignore[arg-type]
    events = {}

    def request(name: str, j: int) -> None:
        events[name] = dedup.search(SearchEvent(f"il-{name}", "i-il", "interleaved query", T0 + j,
                                                (Served("x", 1, 0.9),), user="u-il"))

    shim.second = lambda: request("second", 1)
    request("first", 0)
    for ev in events.values():
        store.record_search(ev)
    assert sorted((ev.settled, ev.new_user) for ev in events.values()) == [(False, False), (True, True)]
    q = next(q for q in store.queries("top", limit=10) if q.query == "interleaved query")
    assert (q.searches, q.users) == (2, 1)


def test_settled_searches_are_exact_across_processes(store: MatchStore) -> None:
    """8 processes, each repeating one shared user's query 20 times: Times Matched +1 for that user, +1 for each
    process's own user; the popular-search user count likewise; every search is still logged."""
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_settle, args=(store, w, None)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 8
    assert store.times_matched(["x"]) == {"x": 1 + 8}
    q = next(q for q in store.queries("top", limit=10) if q.query == "dedup query")
    assert (q.searches, q.users) == (8 * 40, 1 + 8)
    assert store.summary()["settled_searches"] == 9
