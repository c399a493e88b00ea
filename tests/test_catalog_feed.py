"""One catalog across hosts: engines on separate data dirs sharing one Redis follow one versioned catalog
feed (publish, follow, snapshot for a new host). Needs Redis at 127.0.0.1:6379 (db 11, own prefix)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis
from conftest import small_records

from graph.catalog import Artifact
from graph.store.catalogfeed import CatalogFeed


@pytest.fixture
def shared_url() -> str:
    prefix = f"mgfeed-{uuid.uuid4().hex[:8]}"
    url = f"redis://127.0.0.1:6379/11?prefix={prefix}"
    yield url
    client = redis.Redis(db=11)
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.unlink(*keys)
    client.close()


@pytest.fixture
def host(embedder, tmp_path: Path, shared_url: str):
    """Factory of engines ("hosts"): each its own data dir, all on the shared Redis."""
    from graph.settings import Settings
    from search.engine import Engine

    made: list[Engine] = []

    def make() -> Engine:
        cfg = Settings.load(data_dir=tmp_path / f"host{len(made)}", store_url=shared_url, catalog_poll_s=0)
        made.append(Engine(cfg, embedder=embedder))
        return made[-1]

    yield make
    for engine in made:
        engine.close()


def _new(n: int) -> Artifact:
    return Artifact.from_record({
        "id": f"feed-test/quokka-{n}", "name": f"Quokka Translator {n}", "type": "model",
        "description": "Translates quokka calls into English text.",
        "capabilities": [{"title": "Translate quokka calls",
                          "description": "Translates the calls of a quokka into English text."}]})


def test_a_write_on_one_host_reaches_the_others_and_a_new_host_starts_from_the_snapshot(
        host, shared_url: str, tmp_path: Path) -> None:
    import json

    catalog = tmp_path / "small.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in small_records(extra=5)))
    a = host()
    b = host()
    assert a.feed is not None and a.catalog_version == 0
    a.ingest([catalog])  # publishes the change and a snapshot
    assert a.catalog_version == 1 and b.catalog_version == 0 and not b.artifacts
    assert b.join() and b.catalog_version == 1 and set(b.artifacts) == set(a.artifacts)
    assert json.loads((b.data_dir / b.generation / "manifest.json").read_text())["catalog_version"] == 1

    a.apply(upserts=[_new(1)])
    assert "feed-test/quokka-1" not in b.artifacts
    assert b.follow() == 1 and b.catalog_version == 2
    hits = b.search("translate quokka calls to english", k=3, record=False).hits
    assert hits[0].artifact.id == "feed-test/quokka-1"

    b.apply(upserts=[_new(2)], deletes=["feed-test/quokka-1"])  # written on the other host
    assert a.follow() == 1 and a.catalog_version == b.catalog_version == 3
    assert "feed-test/quokka-1" not in a.artifacts
    assert not any(i.startswith("feed-test/quokka-1") for i in a.index.ids())
    assert set(a.artifacts) == set(b.artifacts) and set(a.index.ids()) == set(b.index.ids())

    # a new host: the stream behind the snapshot is gone, it starts from the snapshot and the changes after
    feed = CatalogFeed(shared_url)
    assert a.publish_snapshot() and feed.snapshot_version() == 3
    feed.r.xtrim(feed.k_log, minid="4-0")
    a.apply(upserts=[_new(3)])
    c = host()
    assert c.join() and c.catalog_version == 4 and set(c.artifacts) == set(a.artifacts)
    # a host that fell behind the trimmed stream reloads from the snapshot too
    assert c.publish_snapshot() and feed.snapshot_version() == 4
    feed.r.xtrim(feed.k_log, minid="5-0")
    assert b.follow() == 1 and set(b.artifacts) == set(a.artifacts)
    feed.close()


def test_sqlite_default_has_no_feed(make_engine) -> None:
    engine = make_engine()
    assert engine.feed is None and engine.follow() == 0 and engine.catalog_version == 0


def test_a_feed_that_lost_its_history_is_republished_and_no_host_loses_a_write(host, shared_url: str,
                                                                                 tmp_path: Path) -> None:
    """Issue 25. Before: after the feed's keys vanished (Redis restarted empty) a write published as version 1
    while every host was at a higher version: apply read nothing after its own version, answered, and the
    write was in no catalog. After: the writer republishes its catalog as a new epoch first; a host whose
    position the new epoch includes adopts it; a host that had more merges and republishes again."""
    import json

    catalog = tmp_path / "small.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in small_records(extra=5)))
    a, b = host(), host()
    a.ingest([catalog])
    assert b.join() and a.view().catalog_epoch and b.view().catalog_epoch == a.view().catalog_epoch
    a.apply(upserts=[_new(1)])
    b.follow()
    feed = CatalogFeed(shared_url)
    feed.clear()  # Redis came back empty
    a.apply(upserts=[_new(2)])  # republishes a's catalog as a new epoch, then publishes the write
    assert feed.head().epoch and feed.head().epoch != b.view().catalog_epoch
    assert b.follow() and {"feed-test/quokka-1", "feed-test/quokka-2"} <= set(b.artifacts)
    assert b.view().catalog_epoch == a.view().catalog_epoch

    # b writes, then the feed is reset again before a followed: a's republish lacks b's write, so b merges
    b.apply(upserts=[_new(3)])
    feed.clear()
    a.apply(upserts=[_new(4)])  # a republishes without quokka-3
    assert "feed-test/quokka-3" not in a.artifacts
    b.follow()  # b's position is not included: b merges a's epoch's changes into its catalog, republishes
    a.follow()  # a's position is included in b's epoch: a adopts it
    for engine in (a, b):
        assert {f"feed-test/quokka-{i}" for i in range(1, 5)} <= set(engine.artifacts), engine.data_dir
    assert set(a.artifacts) == set(b.artifacts) and a.view().catalog_epoch == b.view().catalog_epoch
    feed.close()


def test_what_a_host_does_with_each_feed_head() -> None:
    """search/feedsync.decide: follow its own epoch, adopt an epoch that includes its position, republish
    when the feed lost its state (empty, behind it, or an epoch that does not include it)."""
    from graph.store.catalogfeed import Head
    from search.feedsync import decide

    e1 = Head("e1", 7, 0, {})
    assert decide(e1, "e1", 5, empty=False) == "follow"
    assert decide(e1, "e1", 9, empty=False) == "republish"  # the feed is behind this host: an older backup
    assert decide(Head("", 0, 0, {}), "e1", 9, empty=False) == "republish"  # Redis came back empty
    e2 = Head("e2", 12, 9, {"e1": 9})
    assert decide(e2, "e1", 9, empty=False) == "adopt" and decide(e2, "e1", 10, empty=False) == "republish"
    assert decide(e2, "", 0, empty=True) == "adopt"  # a new host joins
    assert decide(e2, "", 0, empty=False) == "republish"  # a catalog never published: merged in
    assert decide(Head("", 4, 0, {}), "", 2, empty=False) == "follow"  # a feed from before epochs: catch up
    assert decide(Head("", 4, 0, {}), "", 4, empty=False) == "republish"  # then give it an epoch
